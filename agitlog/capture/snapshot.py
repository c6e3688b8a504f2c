"""Worktree snapshots through a private index, so the user's index is never read-modify-written.

The private index is seeded once from the real one (an empty index would silently drop tracked
files that match .gitignore), kept for the whole session with git's untracked cache on, and each
snapshot adds only what ``git status`` reports changed before ``write-tree``.
"""
from __future__ import annotations

import os
from fnmatch import fnmatchcase
from pathlib import Path

from agitlog import git
from agitlog.config import Config
from agitlog.private import make_private, make_private_dir
from agitlog.capture.watch import WorktreeWatcher
from agitlog.datatypes import datatype


@datatype(frozen=True)
class Skip:
    """A file left out of a snapshot, and why: "size", "secret" or "excluded"."""

    path: str
    reason: str
    size: int | None = None


@datatype(frozen=True)
class Snapshot:
    tree: str
    changed: bool            # the tree differs from the previous snapshot's
    new_skips: tuple[Skip, ...]


@datatype(frozen=True)
class _Change:
    path: str
    untracked: bool


class Snapshotter:
    """Takes successive snapshots of one worktree for one session."""

    def __init__(self, repo: git.Repo, *, index_file: Path, config: Config, watcher: WorktreeWatcher | None = None
                 ) -> None:
        self.repo = repo
        self.index_file = index_file
        self.config = config
        self.watcher = watcher
        self.tree: str | None = None
        self._reported: set[tuple[str, str]] = set()
        self._prefetched: git.Pending | None = None

    def seed(self) -> None:
        """Start the private index as a copy of the user's index (or empty on a fresh repo)."""
        make_private_dir(self.index_file.parent)
        if self.repo.index_file.is_file():
            tmp = self.index_file.with_suffix(".seed")
            _copy_file(self.repo.index_file, tmp)
            make_private(tmp)
            os.replace(tmp, self.index_file)

    def prefetch(self, pending: git.Pending | None = None) -> None:
        """Start the next snapshot's `git status` now (or adopt one already started); ``take``
        collects it. Session start uses this so git scans the worktree on one core while Python
        sets up the session on the other."""
        self._prefetched = pending or git.start_status_z(self.repo, index_file=self.index_file)

    def take(self, *, force: bool = False) -> Snapshot:
        """Snapshot the worktree now; cheap (one git status, or nothing at all when the watcher is sure
        no file changed) when nothing changed."""
        if not force and self.tree is not None and self.watcher is not None:
            # Started lazily: a run that never asks for a snapshot between start and end pays nothing.
            # Its first answer is always "may have changed", so starting late misses nothing.
            self.watcher.start()
            if not self.watcher.may_have_changed():
                return Snapshot(tree=self.tree, changed=False, new_skips=())
        pending, self._prefetched = self._prefetched, None
        status = pending.result() if pending else git.status_z(self.repo, index_file=self.index_file)
        changes = _parse_status(status)
        paths, skips = self._select(changes)
        if not paths and self.tree is not None:
            return Snapshot(tree=self.tree, changed=False, new_skips=skips)
        git.update_index(self.repo, index_file=self.index_file, paths=paths)
        tree = git.write_tree(self.repo, index_file=self.index_file)
        make_private(self.index_file)  # git rewrites it with the umask's mode
        changed = tree != self.tree
        self.tree = tree
        return Snapshot(tree=tree, changed=changed, new_skips=skips)

    def _select(self, changes: list[_Change]) -> tuple[list[str], tuple[Skip, ...]]:
        paths: list[str] = []
        new_skips: list[Skip] = []
        for change in changes:
            skip = self._skip_reason(change)
            if skip is None:
                paths.append(change.path)
            elif (skip.path, skip.reason) not in self._reported:
                self._reported.add((skip.path, skip.reason))
                new_skips.append(skip)
        return paths, tuple(new_skips)

    def _skip_reason(self, change: _Change) -> Skip | None:
        path = change.path
        if any(matches_pattern(pattern, path) for pattern in self.config.exclude):
            return Skip(path, "excluded")
        if change.untracked and any(_name_matches(_basename(path), p) for p in self.config.secret_files):
            return Skip(path, "secret")
        try:
            size = os.lstat(self.repo.root / path).st_size
        except OSError:
            return None  # deleted: the snapshot records the deletion
        if size > self.config.max_file_size:
            return Skip(path, "size", size)
        return None


def _copy_file(source: Path, target: Path) -> None:
    """``shutil.copyfile`` without importing shutil (it loads bz2 and lzma on `agitlog run`'s path);
    an index is a few megabytes at most, read at once."""
    data = source.read_bytes()
    with open(target, "wb") as out:
        out.write(data)


def _name_matches(name: str, pattern: str) -> bool:
    """``fnmatchcase(name, pattern)``, answered without compiling a regex for the shapes the default
    secret-file patterns have (".env", "*.pem", "id_rsa*", ".env.*"): each compile costs a fraction
    of a millisecond on `agitlog run`'s start-up, for every pattern."""
    body = pattern.strip("*")
    if not any(c in body for c in "*?[") and pattern.count("*") == len(pattern) - len(body):
        if pattern == body:
            return name == pattern
        if pattern == "*" + body:
            return name.endswith(body)
        if pattern == body + "*":
            return name.startswith(body)
        if pattern == "*" + body + "*":
            return body in name
    return fnmatchcase(name, pattern)


def _basename(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def matches_pattern(pattern: str, path: str) -> bool:
    """gitignore-style matching: "dir/" matches a directory anywhere, "a/b*" is anchored, "*.log" matches a name."""
    directory_only = pattern.endswith("/")
    pattern = pattern.strip("/") if directory_only else pattern.lstrip("/")
    parts = path.split("/")
    if "/" in pattern:
        candidates = ["/".join(parts[:i]) for i in range(1, len(parts) + (0 if directory_only else 1))]
        return any(fnmatchcase(c, pattern) for c in candidates)
    names = parts[:-1] if directory_only else parts
    return any(fnmatchcase(name, pattern) for name in names)


def _parse_status(out: bytes) -> list[_Change]:
    """Paths whose worktree state differs from the private index, from ``status --porcelain=v2 -z``."""
    changes = []
    for record in out.split(b"\0"):
        if not record:
            continue
        kind = record[:1]
        if kind == b"?":
            changes.append(_Change(os.fsdecode(record[2:]), untracked=True))
        elif kind == b"1":
            fields = record.split(b" ", 8)
            if fields[1][1:2] != b".":
                changes.append(_Change(os.fsdecode(fields[8]), untracked=False))
        elif kind == b"u":
            changes.append(_Change(os.fsdecode(record.split(b" ", 10)[10]), untracked=False))
    return changes
