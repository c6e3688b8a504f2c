"""Terminal-safe text: every control character a recorded string may carry (ESC, CSI, bidi
overrides, undecodable bytes...) shown as an escape. Recorded text may come from a model or from a
teammate's pushed session, so it is escaped before it reaches a terminal: by the renderers in
agitlog/cli as they print, and by the `log` cache (query/logcache.py) when it builds a row, so the
cached cells are printed as they are."""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    import re

_CONTROL = r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
_compiled: list[re.Pattern[str]] = []  # compiled on first use: most text is printable ASCII, and the
                                       # class (surrogates, bidi) takes milliseconds to compile


def control_characters() -> re.Pattern[str]:
    """What ``safe`` escapes: C0 and C1 controls but newline and tab, line and paragraph separators,
    bidi overrides and isolates, and lone surrogates (bytes of a file name that were not UTF-8, as
    surrogateescape keeps them, cannot be printed)."""
    if not _compiled:
        import re

        _compiled.append(re.compile(_CONTROL))
    return _compiled[0]


def safe(text: object, *, keep_newlines: bool = True) -> str:
    """Text with every terminal control character (ESC, CSI, bidi overrides...) shown as an escape."""
    text = str(text)
    if text.isascii() and text.isprintable():  # most cells: nothing to escape (and no newline or tab)
        return text
    escaped = control_characters().sub(lambda m: _escape_char(m.group()), text)
    return escaped if keep_newlines else escaped.replace("\n", "\\n").replace("\t", " ")


def _escape_char(ch: str) -> str:
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte, as surrogateescape keeps it: show the byte
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
