"""The live side of a session: a directory under the git dir that makes every event durable at once.

``<git-common-dir>/agitlog/journal/<session-id>/`` holds:

    lock          flock()ed by the recording process for as long as it lives
    start.json    session metadata known at start
    events.jsonl  every event, redacted, one line each, appended as it is recorded
    end.json      how the run ended, written before the session is finalised
    index         the session's private git index
    attachments/  large payloads (raw model request/response bodies), named by their git blob id

When the recorder is gone (its lock is free) but the directory is still there, the session was cut
short; ``recover`` turns what the journal holds into a finished session with status ``crashed``.

A finished journal is first renamed to ``.removed-<id>-<pid>`` (one atomic step: it stops being a
journal) and then deleted, so a kill half-way through the deletion never leaves half a journal that
looks live. ``clean_stale_journals`` deletes what such kills leave behind.
"""
from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from pathlib import Path

from agitlog.constants import JOURNAL_DIRNAME
from agitlog.datatypes import datatype, field
from agitlog.private import make_private_dir, open_private, secure_dir, write_private
from agitlog.errors import AgitlogError, CorruptRecordError

TYPE_CHECKING = False  # typing costs start-up; only checkers need it
if TYPE_CHECKING:
    from typing import Any, Callable, Iterator


@datatype
class Journal:
    path: Path
    _start_sync: _StartSync | None = field(default=None, repr=False, compare=False)

    @property
    def session_id(self) -> str:
        return self.path.name

    @property
    def events_file(self) -> Path:
        return self.path / "events.jsonl"

    @property
    def index_file(self) -> Path:
        return self.path / "index"

    @property
    def attachments_dir(self) -> Path:
        return self.path / "attachments"

    def write_attachment(self, data: bytes) -> str:
        """Keep a large payload (already redacted) as a file named by its git blob id."""
        name = blob_id(data)
        make_private_dir(self.attachments_dir)
        path = self.attachments_dir / name
        if not path.exists():
            write_private(path, data)
        return name

    def attachment_files(self) -> list[Path]:
        if not self.attachments_dir.is_dir():
            return []
        return sorted(p for p in self.attachments_dir.iterdir() if ".tmp" not in p.name)

    def read_start(self) -> dict[str, Any]:
        return _read_json(self.path / "start.json")

    def read_end(self) -> dict[str, Any] | None:
        path = self.path / "end.json"
        return _read_json(path) if path.exists() else None

    def describe_problem(self, exc: Exception) -> str:
        return f"journal {self.path} is unreadable ({exc}); move it aside to silence this"

    def write_start(self, meta: dict[str, Any]) -> None:
        """start.json, durable (without it a power cut loses the session) and atomic. The fsync and
        the rename that follows it run on a thread, so the caller can go on meanwhile; call
        ``wait_durable`` before relying on it (the event log does, before its first fsync)."""
        path = self.path / "start.json"
        tmp = path.with_name(f"start.json.tmp{os.getpid()}")
        fd = open_private(tmp, os.O_CREAT | os.O_TRUNC | os.O_WRONLY)
        try:
            view = memoryview(json.dumps(meta, ensure_ascii=False).encode("utf-8"))
            while view:
                view = view[os.write(fd, view):]
        except BaseException:
            os.close(fd)
            raise
        self._start_sync = _StartSync(fd, tmp, path)
        self._start_sync.start()

    def wait_durable(self) -> None:
        """Return once start.json is on disk, under its name."""
        if self._start_sync is not None:
            sync, self._start_sync = self._start_sync, None
            sync.join()
            if sync.error is not None:
                raise AgitlogError(f"cannot write {sync.path}: {sync.error}",
                                   hint="agitlog records into the repository's .git directory: check its "
                                        "permissions and free disk space")

    def write_end(self, end: dict[str, Any]) -> None:
        _write_json(self.path / "end.json", end, durable=False)  # the record commit follows at once


def journal_root(state_dir: Path) -> Path:
    return state_dir / JOURNAL_DIRNAME


def create_journal(state_dir: Path, session_id: str) -> tuple[Journal, int]:
    """A new journal directory and the fd of its held lock (keep it open for the session's life)."""
    path = journal_root(state_dir) / session_id
    try:
        secure_dir(state_dir)
        make_private_dir(path.parent)
        os.mkdir(path, 0o700)
        os.chmod(path, 0o700)
    except FileExistsError:
        raise
    except OSError as exc:
        raise AgitlogError(f"cannot write to {state_dir}: {exc.strerror}",
                           hint="agitlog records into the repository's .git directory: check its permissions "
                                "and free disk space") from None
    fd = open_private(path / "lock", os.O_CREAT | os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.write(fd, str(os.getpid()).encode())
    return Journal(path), fd


def iter_journals(state_dir: Path) -> Iterator[Journal]:
    root = journal_root(state_dir)
    try:
        names = sorted(os.listdir(root))
    except (FileNotFoundError, NotADirectoryError):
        return
    for name in names:
        if not name.startswith(".") and (root / name / "start.json").exists():
            yield Journal(root / name)


STALE_AFTER_S = 600  # a journal directory this old without start.json was never going to be a session


def clean_stale_journals(state_dir: Path) -> list[str]:
    """Delete what interrupted removals and failed starts left in the journal directory: renamed
    journals (``.removed-*``) and, after STALE_AFTER_S, directories that never got a start.json and
    whose lock nobody holds. Returns the names removed."""
    root = journal_root(state_dir)
    try:
        entries = list(os.scandir(root))
    except (FileNotFoundError, NotADirectoryError):
        return []
    removed = []
    for entry in entries:
        path = Path(entry.path)
        if entry.name.startswith(".removed-") or _abandoned_start(path):
            _delete_tree(path)
            removed.append(entry.name)
    return removed


def _abandoned_start(path: Path) -> bool:
    try:
        if not path.is_dir() or (path / "start.json").exists() or time.time() - path.stat().st_mtime < STALE_AFTER_S:
            return False
    except OSError:
        return False
    fd = try_lock_abandoned(Journal(path)) if (path / "lock").exists() else None
    if fd is not None:
        os.close(fd)
    return fd is not None or not (path / "lock").exists()


def try_lock_abandoned(journal: Journal) -> int | None:
    """The fd of the journal's lock if no live process holds it (the session was cut short), else None."""
    try:
        fd = os.open(journal.path / "lock", os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    if not journal.path.exists():  # finalised by its owner between our listing and the lock
        os.close(fd)
        return None
    return fd


def read_events_tolerant(journal: Journal) -> tuple[bytes, bytes]:
    """(complete lines, the partial last line a crash may have left behind)."""
    try:
        data = journal.events_file.read_bytes()
    except FileNotFoundError:
        return b"", b""
    cut = data.rfind(b"\n") + 1
    return data[:cut], data[cut:]


def remove_journal(journal: Journal) -> None:
    """Delete a journal whose session is on its ref: rename it out of the way (atomic), then delete."""
    from agitlog.store.faults import crash_point

    trash = journal.path.with_name(f".removed-{journal.session_id}-{os.getpid()}")
    try:
        os.rename(journal.path, trash)
    except FileNotFoundError:
        return  # another process finished removing it
    crash_point("finalize.journal-moved")
    _delete_tree(trash)


def _delete_tree(path: Path | str) -> None:
    """``shutil.rmtree(path, ignore_errors=True)`` without importing shutil, which loads bz2 and lzma
    on `agitlog run`'s path. Symlinks are removed, never followed."""
    try:
        entries = list(os.scandir(path))
    except OSError:
        entries = []
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                _delete_tree(entry.path)
            else:
                os.unlink(entry.path)
        except OSError:
            pass
    try:
        os.rmdir(path)
    except OSError:
        pass


def blob_id(data: bytes) -> str:
    """The id git gives ``data`` as a blob, so an attachment's name is the object that stores it."""
    import hashlib  # only sessions with attachments pay for it

    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # noqa: S324 - git's object id


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptRecordError(f"{path} is not valid JSON: {exc}",
                                 hint=f"move {path.parent} aside; nothing else is affected") from None
    if not isinstance(data, dict):
        raise CorruptRecordError(f"{path} does not hold an object", hint=f"move {path.parent} aside")
    return data


class _StartSync(threading.Thread):
    """fsync a written temporary file, then rename it into place; ``error`` says what failed."""

    def __init__(self, fd: int, tmp: Path, path: Path) -> None:
        super().__init__(name="agitlog-start-sync", daemon=True)
        self.fd, self.tmp, self.path = fd, tmp, path
        self.error: OSError | None = None

    def run(self) -> None:
        try:
            try:
                os.fsync(self.fd)
            finally:
                os.close(self.fd)
            os.replace(self.tmp, self.path)
        except OSError as exc:
            self.error = exc


def _write_json(path: Path, data: dict[str, Any], *, durable: bool) -> None:
    write_private(path, json.dumps(data, ensure_ascii=False).encode("utf-8"), durable=durable)


class EventLog:
    """Append-only writer of encoded events; fsyncs at most once a second unless asked to."""

    def __init__(self, path: Path, *, before_sync: Callable[[], None] | None = None) -> None:
        """``before_sync`` runs before the first fsync (Journal.wait_durable: an event is never
        durable before the session's start.json is)."""
        self._fd = open_private(path, os.O_CREAT | os.O_WRONLY | os.O_APPEND)
        self._last_sync = time.monotonic()
        self._before_sync = before_sync

    def append(self, data: bytes, *, durable: bool = False) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        now = time.monotonic()
        if durable or now - self._last_sync > 1.0:
            if self._before_sync is not None:
                self._before_sync()
                self._before_sync = None
            os.fsync(self._fd)
            self._last_sync = now

    def close(self) -> None:
        # No fsync: the record commit is written right after, and git does not fsync its objects either.
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
