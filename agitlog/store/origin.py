"""Which sessions were recorded in this clone: the trust boundary for running a session's command.

A session's metadata names the command it ran, and `agitlog rerun` runs that command again. A session
fetched from a teammate (or from anyone who can push to a shared remote) could name any command, so
rerun executes without asking only what this clone recorded itself. Recording appends one line to
``<git-common-dir>/agitlog/recorded``: the session id and a SHA-256 of its command as recorded. Neither
travels with the session (it is outside the refs), and a fetched session can match a line only by
carrying the very command this clone recorded under that id.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

TYPE_CHECKING = False  # typing costs start-up; only checkers need it
if TYPE_CHECKING:
    from typing import Sequence

RECORDED_FILE = "recorded"


def command_digest(command: Sequence[str]) -> str:
    text = json.dumps(list(command), ensure_ascii=False)
    return _sha256()(text.encode("utf-8", "surrogatepass")).hexdigest()


def _sha256():  # -> the sha256 constructor
    """CPython's built-in SHA-256 (a fraction of a millisecond to import) rather than hashlib, which
    loads OpenSSL (several milliseconds on `agitlog run`'s start-up path); hashlib where it is missing."""
    try:
        from _sha256 import sha256  # Python 3.11
    except ImportError:
        try:
            from _sha2 import sha256  # Python 3.12 and later
        except ImportError:
            from hashlib import sha256
    return sha256


def mark_recorded(state_dir: Path, session_id: str, command: Sequence[str]) -> None:
    """Note that this clone is recording ``session_id`` with ``command`` (one O_APPEND write)."""
    line = f"{session_id} {command_digest(command)}\n".encode()
    fd = os.open(state_dir / RECORDED_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def recorded_here(state_dir: Path, session_id: str, command: Sequence[str]) -> bool:
    """True when this clone recorded ``session_id`` running exactly ``command``."""
    try:
        data = (state_dir / RECORDED_FILE).read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return False
    wanted = f"{session_id} {command_digest(command)}".encode()
    return wanted in data.splitlines()


def recorded_ids(state_dir: Path) -> set[str]:
    """Every session id this clone recorded (whatever their commands)."""
    try:
        data = (state_dir / RECORDED_FILE).read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return set()
    return {line.split(b" ", 1)[0].decode("utf-8", "replace") for line in data.splitlines() if line}
