"""Writing loose objects from Python: blobs, trees and commits exactly as git writes them.

`agitlog run` writes a handful of objects per session (step commits, the record's blobs, tree and
commit). A git process for each costs more than the object itself; hashing and deflating here
costs a fraction of a millisecond. Used only where the result is byte-for-byte what git would
write: SHA-1 repositories whose config asks for nothing special about object files (a shared
repository's permissions, fsync of object files). Everything else goes through git as before.

Objects are written like git's own: deflated into ``objects/xx/<rest>`` through a temporary file in
the same directory and a rename, read-only, never rewritten once present.
"""
from __future__ import annotations

import os
import time
import zlib
from functools import lru_cache
from pathlib import Path
from collections.abc import Iterable, Sequence  # not typing: hooks import this package, typing costs ms

from agitlog.constants import COMMIT_EMAIL, COMMIT_NAME

# Config keys (lower case) under which git would write object files differently from plain loose
# SHA-1 objects; any of them in the repository's config means "let git do it".
_GIT_ONLY_KEYS = ("objectformat", "sharedrepository", "fsyncobjectfiles", "fsync", "compatobjectformat")


@lru_cache(maxsize=8)
def supported(common_dir: Path) -> bool:
    """True when objects written here are exactly what git would write (see the module docstring)."""
    try:
        text = (common_dir / "config").read_text(encoding="utf-8", errors="replace").lower()
    except OSError:
        return False
    if any(key in text for key in _GIT_ONLY_KEYS):
        return False
    return (common_dir / "objects").is_dir()


def write_object(common_dir: Path, kind: str, data: bytes) -> str:
    """Store ``data`` as an object of ``kind`` (blob, tree, commit); returns its id."""
    raw = f"{kind} {len(data)}\0".encode() + data
    sha = _sha1()(raw).hexdigest()
    directory = common_dir / "objects" / sha[:2]
    target = directory / sha[2:]
    if target.exists():
        return sha
    directory.mkdir(exist_ok=True)
    tmp = directory / f"tmp_obj_agitlog_{os.getpid()}_{os.urandom(4).hex()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(zlib.compress(raw, 1))  # core.looseCompression's default
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return sha


def _sha1():  # -> the sha1 constructor
    """CPython's built-in SHA-1 (0.3 ms to import) rather than hashlib's OpenSSL one (about 3 ms, on
    `agitlog run`'s start-up path); hashlib where the built-in one is missing."""
    try:
        from _sha1 import sha1
    except ImportError:
        from hashlib import sha1
    return sha1


def tree_bytes(entries: Iterable[tuple[str, str, str, str]]) -> bytes:
    """A tree object's body from (mode, type, sha, name) entries, in git's order (a tree sorts as
    if its name ended with "/")."""
    rows = sorted(entries, key=lambda e: os.fsencode(e[3]) + (b"/" if e[1] == "tree" else b""))
    return b"".join(f"{int(mode, 8):o} ".encode() + os.fsencode(name) + b"\0" + bytes.fromhex(sha)
                    for mode, _kind, sha, name in rows)


def commit_bytes(*, tree: str, parents: Sequence[str], message: str, now: float | None = None) -> bytes:
    """A commit object's body with agitlog's identity as author and committer, dated now in the local
    time zone, as `git commit-tree` writes it (the message verbatim)."""
    stamp = int(time.time() if now is None else now)
    offset = time.localtime(stamp).tm_gmtoff // 60
    zone = f"{'-' if offset < 0 else '+'}{abs(offset) // 60:02d}{abs(offset) % 60:02d}"
    ident = f"{COMMIT_NAME} <{COMMIT_EMAIL}> {stamp} {zone}"
    lines = [f"tree {tree}", *(f"parent {p}" for p in parents), f"author {ident}", f"committer {ident}"]
    return ("\n".join(lines) + "\n\n" + message).encode("utf-8")
