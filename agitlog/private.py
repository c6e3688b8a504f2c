"""Files only their owner can read: everything agitlog keeps under ``.git/agitlog/`` (journals,
attachments, caches, the search index, checkouts) is created 0600 in 0700 directories, whatever the
umask (issue 11: a session's prompts and model answers are not for every local user).

The modes are set explicitly (``fchmod``/``chmod`` after creation) rather than by changing the
process umask: the umask is process-wide, and the recorded child and the git processes agitlog
starts must keep the user's.
"""
from __future__ import annotations

import os
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def make_private_dir(path: Path) -> Path:
    """``mkdir -p path``; every directory this creates is 0700."""
    missing: list[Path] = []
    current = path
    while not current.is_dir():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, DIR_MODE)
        except FileExistsError:
            continue  # made by a concurrent agitlog process: it set the mode too
        os.chmod(directory, DIR_MODE)  # the umask may have taken bits away
    return path


def secure_dir(path: Path) -> None:
    """Make an existing directory (the state directory of a repository recorded by an older
    agitlog) 0700; a stat when it already is."""
    try:
        if path.stat().st_mode & 0o777 != DIR_MODE:
            os.chmod(path, DIR_MODE)
    except FileNotFoundError:
        make_private_dir(path)


def open_private(path: Path, flags: int) -> int:
    """``os.open`` that creates the file 0600 (flags must hold O_CREAT to create it)."""
    fd = os.open(path, flags, FILE_MODE)
    try:
        if os.fstat(fd).st_mode & 0o777 != FILE_MODE:
            os.fchmod(fd, FILE_MODE)
    except OSError:
        os.close(fd)
        raise
    return fd


def write_private(path: Path, data: bytes, *, durable: bool = False) -> None:
    """Replace ``path`` atomically with ``data``, as a 0600 file."""
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    fd = open_private(tmp, os.O_CREAT | os.O_TRUNC | os.O_WRONLY)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def make_private(path: Path) -> None:
    """chmod 0600 a file another program (git, sqlite) created."""
    try:
        os.chmod(path, FILE_MODE)
    except FileNotFoundError:
        pass
