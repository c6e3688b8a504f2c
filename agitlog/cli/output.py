"""Rendering helpers shared by the commands: safe text, consoles, errors, JSON.

Recorded text may come from a model or from a teammate's pushed session: control characters are
always shown escaped, and rich markup in it is never interpreted (text goes in as ``Text``)."""
from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

from agitlog.cli import pager
from agitlog.errors import AgitlogError
from agitlog.escaping import control_characters, safe  # noqa: F401  (the renderers import safe from here)

TYPE_CHECKING = False  # typing costs start-up; only checkers need it
if TYPE_CHECKING:
    from typing import Any, Iterable


def plural(count: int, word: str, words: str | None = None) -> str:
    """"1 step", "2 steps" ("1 match", "2 matches" with ``words``)."""
    return f"{count} {word}" if count == 1 else f"{count} {words or word + 's'}"


def is_tty(stream: Any = None) -> bool:
    """Whether ``stream`` (default stdout) reaches a terminal, directly or through the pager."""
    stream = stream or sys.stdout
    if stream is sys.stdout and pager.active():
        return True
    return hasattr(stream, "isatty") and stream.isatty()


def console(stderr: bool = False):  # -> rich.console.Console
    """A rich console that is plain (no colour, no wrapping) when not writing to a terminal, and has no
    colour under NO_COLOR. Whatever it prints goes through ``safe`` first (strings and rich Text
    alike): renderers escape fields as they format them, and this is the net under the fields one of
    them forgets."""
    stream = sys.stderr if stderr else sys.stdout
    if not stderr and pager.active():  # a pipe to the pager, shown on the terminal
        from rich.console import Console

        paged = Console(file=stream, highlight=False, markup=False, emoji=False, force_terminal=True,
                        width=pager.terminal_width(), no_color=bool(os.environ.get("NO_COLOR")))
        paged.on_broken_pipe = pager.reader_quit  # type: ignore[method-assign] # not rich's exit 1
        return paged
    if is_tty(stream):  # NO_COLOR takes the colour away, not the terminal's width
        return _safe_console(file=stream, highlight=False, markup=False, emoji=False,
                             no_color=bool(os.environ.get("NO_COLOR")))
    return _PlainConsole(stream, lambda: _safe_console(file=stream, highlight=False, markup=False, emoji=False,
                                                       no_color=True, width=100_000, soft_wrap=True,
                                                       color_system=None))


def _safe_console(**options: Any):  # -> rich.console.Console
    from rich.console import Console

    class SafeConsole(Console):
        def print(self, *objects: Any, **kwargs: Any) -> None:
            super().print(*(_safe_renderable(o) for o in objects), **kwargs)

    return SafeConsole(**options)


class _PlainConsole:
    """The console for output that is not a terminal: lines of text are written as rich would write
    them there (escaped, joined by ``sep``, nothing wrapped or coloured) without importing rich, which
    costs a read command most of its start-up. Anything else goes to rich: its renderables, and
    text with tabs, which rich expands by cell width."""

    width = 100_000

    def __init__(self, stream: Any, make_rich: Any) -> None:
        self._stream = stream
        self._make_rich = make_rich

    def print(self, *objects: Any, sep: str = " ", end: str = "\n", **kwargs: Any) -> None:
        if kwargs.keys() - {"style"} or not all(type(o) is str and "\t" not in o for o in objects):
            self._make_rich().print(*objects, sep=sep, end=end, **kwargs)
            return
        try:
            self._stream.write(sep.join(safe(o) for o in objects) + end)
            self._stream.flush()
        except BrokenPipeError:  # as rich does: the reader left; exit 1, quietly
            _silence_stdout()
            raise SystemExit(1) from None


def _safe_renderable(value: Any) -> Any:
    if isinstance(value, str):
        return safe(value)
    plain = getattr(value, "plain", None)  # rich.text.Text: keep its styles when it is already clean
    if isinstance(plain, str) and control_characters().search(plain):
        from rich.text import Text

        return Text(safe(plain))
    return value


def echo(text: str = "", *, stderr: bool = False) -> None:
    """One line of plain text, escaped (the print() of the renderers)."""
    (sys.stderr if stderr else sys.stdout).write(safe(text) + "\n")


def write_text(text: str) -> None:
    """Text whose every recorded field was escaped when it was built (the `log` table), as it is."""
    sys.stdout.write(text)


def write_lines(lines: Iterable[str]) -> None:
    """Plain text out, one line at a time (a closed pipe ends the walk quietly). Every line goes
    through ``safe`` once more here, so nothing recorded reaches the terminal raw, even a field a
    renderer forgot (``safe`` leaves already-escaped text as it is)."""
    try:
        for line in lines:
            sys.stdout.write(safe(line) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()


def print_json(data: Any) -> None:
    """JSON out, with C1 controls and bidi overrides written as \\uXXXX escapes too (json.dumps
    leaves them raw when ensure_ascii is off): the same data once parsed, inert on a terminal."""
    text = json.dumps(data, ensure_ascii=False, indent=2, default=str)
    if _printable(text) != text:  # undecodable file names: as \\xNN inside the strings, still valid JSON
        text = json.dumps(_printable_data(data), ensure_ascii=False, indent=2, default=str)
    try:
        sys.stdout.write(_UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()


_UNSAFE_IN_JSON = re.compile(r"[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _printable(text: str) -> str:
    """``text`` with the undecodable bytes of file names (lone surrogates) shown as \\xNN, so that
    writing it can never fail, whatever the terminal's encoding."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        try:
            return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        except UnicodeEncodeError:
            return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _printable_data(value: Any) -> Any:
    if isinstance(value, str):
        return _printable(value)
    if isinstance(value, dict):
        return {_printable(str(k)): _printable_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_printable_data(v) for v in value]
    return value


def _silence_stdout() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


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
    try:
        import traceback

        path = _write_crash_log("".join(traceback.format_exception(exc)))
        where = f"details in {path}"
    except OSError:
        where = "no crash log could be written"
    sys.stderr.write(f"agitlog: internal error: {type(exc).__name__}: {safe(exc)}\n"
                     f"{safe(where)}; please report it. Nothing already recorded was lost.\n")
    return 3


def crash_dir() -> Path:
    """``$XDG_STATE_HOME/agitlog/crash`` (default ``~/.local/state/agitlog/crash``): private to the user.
    Not /tmp: there another user can plant a symlink where the log will be written."""
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(state) / "agitlog" / "crash"


def _write_crash_log(text: str) -> Path:
    """Write a traceback into a new file of the private crash directory; never follows a symlink and
    never writes into a file that already exists (O_EXCL), or into a directory others can write."""
    directory = crash_dir()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = os.lstat(directory)
    if not os.path.isdir(directory) or os.path.islink(directory) or info.st_uid != os.getuid():
        raise OSError(f"{directory} is not a directory of this user")
    if info.st_mode & 0o077:
        os.chmod(directory, 0o700)
    path = directory / f"agitlog-crash-{int(time.time())}-{os.getpid()}.log"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as handle:
        handle.write(text)
    return path
