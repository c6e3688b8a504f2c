"""Terminal-safe text: every control character a recorded string may carry (ESC, CSI, bidi
overrides, undecodable bytes...) shown as an escape. Recorded text may come from a model or from a
teammate's pushed session, so it is escaped before it reaches a terminal: by the renderers in
agitlog/cli as they print, and by the `log` cache (query/logcache.py) when it builds a row, so the
cached cells are printed as they are."""
from __future__ import annotations

import re

# Also lone surrogates: bytes of a file name that were not UTF-8 (surrogateescape) cannot be printed.
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def safe(text: object, *, keep_newlines: bool = True) -> str:
    """Text with every terminal control character (ESC, CSI, bidi overrides...) shown as an escape."""
    text = str(text)
    if text.isascii() and text.isprintable():  # most cells: nothing to escape (and no newline or tab)
        return text
    escaped = CONTROL.sub(lambda m: _escape_char(m.group()), text)
    return escaped if keep_newlines else escaped.replace("\n", "\\n").replace("\t", " ")


def _escape_char(ch: str) -> str:
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte, as surrogateescape keeps it: show the byte
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
