"""The pager, as git does it: long output on a terminal goes through ``$GIT_PAGER``, else ``$PAGER``,
else ``less``, with ``LESS=FRX`` (quit if one screen, keep colours, leave the screen as it is) unless
the user set ``LESS``. Output that is not a terminal (a pipe, a file) is never paged, nor is any with
``--no-pager``; a pager set to ``cat`` or to nothing means no pager, as in git.

While the pager runs, file descriptor 1 is its input, so everything the command writes (print,
rich, write_lines) goes through it; ``active()`` tells renderers that the reader is still a
terminal, so they keep the terminal layout and colours."""
from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing costs start-up; only checkers need it
if TYPE_CHECKING:
    import subprocess
    from types import TracebackType
    from typing import Mapping

_state: dict[str, int] = {}   # "tty": a duplicate of the terminal's fd while a pager runs


def pager_command(env: Mapping[str, str]) -> str | None:
    """The pager to run (a shell command), or None for no pager."""
    for key in ("GIT_PAGER", "PAGER"):
        if key in env:
            command = env[key].strip()
            return None if command in ("", "cat") else command
    return "less"


def active() -> bool:
    """True while output goes through a pager to a terminal."""
    return "tty" in _state


def reader_quit() -> None:
    """What a write to a pager that has gone raises: ``paged`` ends the output quietly on it."""
    raise BrokenPipeError("the pager was closed")


def terminal_width() -> int | None:
    """The width of the terminal the pager shows on (None when no pager runs)."""
    if "tty" not in _state:
        return None
    try:
        columns = os.get_terminal_size(_state["tty"]).columns
    except OSError:
        return None
    return columns or None  # a terminal that reports no size: rich's default


class paged:  # noqa: N801 - used as `with paged(...)`, like the function it was
    """Everything written to stdout inside the block goes through the pager, when stdout is a
    terminal and paging is ``enabled``; otherwise the block runs unchanged. A reader who quits the
    pager early ends the output quietly. (A class, not @contextmanager: every read command enters
    it, and contextlib costs start-up; subprocess loads only when a pager starts.)"""

    def __init__(self, *, enabled: bool = True) -> None:
        self._enabled = enabled
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> None:
        command = pager_command(os.environ) if self._enabled and not active() else None
        if command is None or not _stdout_is_terminal():
            return
        process = _start(command)
        if process is None:
            return
        sys.stdout.flush()
        _state["tty"] = os.dup(1)
        os.dup2(process.stdin.fileno(), 1)  # type: ignore[union-attr]
        process.stdin.close()  # type: ignore[union-attr] # the pager sees end of input once fd 1 is closed
        self._process = process

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> bool:
        if self._process is None:
            return False
        _finish(self._process)
        return kind is not None and issubclass(kind, BrokenPipeError)  # the reader quit: nothing more to show


def _stdout_is_terminal() -> bool:
    try:
        return os.isatty(sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):  # replaced by a test runner, or closed
        return False


def _start(command: str) -> subprocess.Popen[bytes] | None:
    env = dict(os.environ)
    env.setdefault("LESS", "FRX")
    env.setdefault("LV", "-c")  # lv, git's other default-configured pager: keep colours
    import subprocess

    try:
        return subprocess.Popen(command, shell=True, stdin=subprocess.PIPE, env=env)
    except OSError:  # no shell, or no such pager: write to the terminal directly
        return None


def _finish(process: subprocess.Popen[bytes]) -> None:
    """Give the terminal back and wait for the reader to quit the pager (Ctrl-C is the pager's)."""
    try:
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):
        _discard_stdout()
    tty = _state.pop("tty")
    os.dup2(tty, 1)
    os.close(tty)
    while True:
        try:
            process.wait()
            return
        except KeyboardInterrupt:
            continue


def _discard_stdout() -> None:
    """Drop what is still buffered for a pager that has gone, rather than show it on the terminal."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        pass
