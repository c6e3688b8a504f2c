"""Rendering helpers shared by the commands: safe text, consoles, errors, JSON.

Recorded text may come from a model or from a teammate's pushed session: control characters are
always shown escaped, and rich markup in it is never interpreted (text goes in as ``Text``)."""
from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

from agitlog.errors import AgitlogError

# Also lone surrogates: bytes of a file name that were not UTF-8 (surrogateescape) cannot be printed.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def safe(text: Any, *, keep_newlines: bool = True) -> str:
    """Text with every terminal control character (ESC, CSI, bidi overrides...) shown as an escape."""
    text = str(text)
    escaped = _CONTROL.sub(lambda m: _escape_char(m.group()), text)
    return escaped if keep_newlines else escaped.replace("\n", "\\n").replace("\t", " ")


def _escape_char(ch: str) -> str:
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte, as surrogateescape keeps it: show the byte
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def is_tty(stream: Any = None) -> bool:
    stream = stream or sys.stdout
    return hasattr(stream, "isatty") and stream.isatty()


def console(stderr: bool = False):  # -> rich.console.Console
    """A rich console that is plain (no colour, no wrapping) when not writing to a terminal."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    if is_tty(stream) and not os.environ.get("NO_COLOR"):
        return Console(file=stream, highlight=False, markup=False, emoji=False)
    return Console(file=stream, highlight=False, markup=False, emoji=False, no_color=True,
                   width=100_000, soft_wrap=True, color_system=None)


def print_json(data: Any) -> None:
    """JSON with every terminal control character (C1, bidi overrides, DEL) \\u-escaped: still valid
    JSON, never interpreted by the terminal it is printed to."""
    text = json.dumps(data, ensure_ascii=False, indent=2, default=str)
    sys.stdout.write(_CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n")


def print_error(error: AgitlogError, *, json_mode: bool) -> int:
    if json_mode:
        print_json({"error": {"code": error.code, "message": error.message, "hint": error.hint}})
        return error.exit_code
    red = "\x1b[31m" if is_tty(sys.stderr) and not os.environ.get("NO_COLOR") else ""
    reset = "\x1b[0m" if red else ""
    sys.stderr.write(f"{red}agitlog: error: {safe(error.message)}{reset}\n")
    if error.hint:
        sys.stderr.write(f"hint: {safe(error.hint)}\n")
    return error.exit_code


def print_crash(exc: BaseException) -> int:
    path = Path(tempfile.gettempdir()) / f"agitlog-crash-{os.getpid()}.log"
    try:
        path.write_text("".join(traceback.format_exception(exc)), encoding="utf-8")
        where = f"details in {path}"
    except OSError:
        where = "no crash log could be written"
    sys.stderr.write(f"agitlog: internal error: {type(exc).__name__}: {safe(exc)}\n"
                     f"{where}; please report it. Nothing already recorded was lost.\n")
    return 3
