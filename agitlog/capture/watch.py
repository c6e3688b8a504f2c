"""Knowing cheaply that the worktree did NOT change: inotify on Linux, so the recorder can skip
`git status` (tens of milliseconds on a large repository) before every model call and tool call.

The watcher only ever answers "nothing happened since you last asked" or "something may have":
any event, a queue overflow, a directory it could not watch, or not being ready yet all mean "may
have", and the caller then runs the real check. Directories are watched from a background thread
so nobody waits for the walk, and it is started lazily, at the first snapshot after step 0: changes
made before a directory was watched are caught because the first question after the walk is always
answered "may have"."""
from __future__ import annotations

import os
import struct
import threading
from pathlib import Path

TYPE_CHECKING = False  # typing costs `agitlog run` milliseconds to import
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

_IN_MODIFY, _IN_ATTRIB, _IN_CLOSE_WRITE = 0x2, 0x4, 0x8
_IN_MOVED_FROM, _IN_MOVED_TO, _IN_CREATE, _IN_DELETE = 0x40, 0x80, 0x100, 0x200
_IN_DELETE_SELF, _IN_MOVE_SELF = 0x400, 0x800
_IN_Q_OVERFLOW, _IN_ISDIR, _IN_ONLYDIR = 0x4000, 0x40000000, 0x01000000
_MASK = (_IN_MODIFY | _IN_ATTRIB | _IN_CLOSE_WRITE | _IN_MOVED_FROM | _IN_MOVED_TO | _IN_CREATE | _IN_DELETE
         | _IN_DELETE_SELF | _IN_MOVE_SELF | _IN_ONLYDIR)
_NONBLOCK, _CLOEXEC = os.O_NONBLOCK, 0o2000000
_HEADER = struct.Struct("iIII")


def _libc() -> Any:
    """libc through ctypes (imported here: only sessions that take snapshots mid-run pay for it)."""
    if not hasattr(os, "uname") or os.uname().sysname != "Linux":
        return None
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.inotify_init1  # noqa: B018 - probe
        return libc
    except (OSError, AttributeError):
        return None


class WorktreeWatcher:
    """Watches every directory of a worktree except ``.git`` and the ones git ignores."""

    def __init__(self, root: Path, ignored_dirs: Callable[[], frozenset[str]] | None = None) -> None:
        self.root = root
        self._ignored_dirs = ignored_dirs
        self._ignored: frozenset[str] = frozenset()
        self._libc: Any = None
        self._fd = -1
        self._usable = False
        self._ready = threading.Event()
        self._first_answer_given = False
        self._lock = threading.Lock()
        self._paths: dict[int, bytes] = {}
        self._started = False

    def start(self) -> None:
        """Begin watching (in the background); calling it again does nothing."""
        if self._started:
            return
        self._started = True
        self._libc = _libc()
        if self._libc is None:
            return
        fd = self._libc.inotify_init1(_NONBLOCK | _CLOEXEC)
        if fd < 0:
            return
        self._fd = fd
        self._usable = True
        threading.Thread(target=self._watch_all, name="agitlog-watch", daemon=True).start()

    def may_have_changed(self) -> bool:
        """False only when the worktree certainly did not change since the last call."""
        if not self._usable or not self._ready.is_set():
            return True
        with self._lock:
            events = self._drain()
            if not self._first_answer_given:
                self._first_answer_given = True
                return True
            return events

    def close(self) -> None:
        self._usable = False
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _watch_all(self) -> None:
        try:
            self._ignored = self._ignored_dirs() if self._ignored_dirs else frozenset()
        except Exception:  # noqa: BLE001 - watching more than needed is only slower, never wrong
            self._ignored = frozenset()
        for dirpath, dirnames, _ in os.walk(os.fsencode(self.root)):
            rel = os.path.relpath(os.fsdecode(dirpath), self.root)
            dirnames[:] = [d for d in dirnames
                           if d != b".git" and _join(rel, os.fsdecode(d)) not in self._ignored]
            if not self._add(dirpath):
                self._usable = False
                break
        self._ready.set()

    def _add(self, path: bytes) -> bool:
        if self._fd < 0 or self._libc is None:
            return False
        wd = self._libc.inotify_add_watch(self._fd, path, _MASK)
        if wd >= 0:
            self._paths[wd] = path
            return True
        import ctypes

        return ctypes.get_errno() == 2  # a directory that vanished meanwhile is fine

    def _drain(self) -> bool:
        """Read all queued events; True if there were any. New directories get watched too."""
        seen = False
        while True:
            try:
                data = os.read(self._fd, 1 << 16)
            except BlockingIOError:
                return seen
            except OSError:
                self._usable = False
                return True
            seen = True
            self._handle(data)

    def _handle(self, data: bytes) -> None:
        pos = 0
        while pos + _HEADER.size <= len(data):
            wd, mask, _cookie, length = _HEADER.unpack_from(data, pos)
            name = data[pos + _HEADER.size: pos + _HEADER.size + length].rstrip(b"\0")
            pos += _HEADER.size + length
            if mask & _IN_Q_OVERFLOW:
                self._usable = False  # events were lost: from now on, always ask git
            elif mask & _IN_ISDIR and mask & (_IN_CREATE | _IN_MOVED_TO) and wd in self._paths:
                # its files so far are covered by the `git status` the caller runs now; later ones are watched
                self._add_tree(os.path.join(self._paths[wd], name))

    def _add_tree(self, top: bytes) -> None:
        for dirpath, dirnames, _ in os.walk(top):
            dirnames[:] = [d for d in dirnames if d != b".git"]
            if not self._add(dirpath):
                self._usable = False
                return


def _join(rel: str, name: str) -> str:
    return name if rel == "." else f"{rel}/{name}"
