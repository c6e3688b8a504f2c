"""The private index agitlog snapshots through: status, update-index, write-tree."""
from __future__ import annotations

import os
from collections.abc import Iterable  # not typing: hooks import this module, typing costs ms

from agitlog.git.process import Pending, git, start

TYPE_CHECKING = False  # pathlib and repo (datatypes): `agitlog run` starts its first status before they load
if TYPE_CHECKING:
    from pathlib import Path

    from agitlog.git.repo import Repo


def _index_env(index_file: Path) -> dict[str, str]:
    return {"GIT_INDEX_FILE": str(index_file)}


_STATUS = ("-c", "core.untrackedCache=true", "-c", "status.relativePaths=false", "status", "--porcelain=v2", "-z",
           "--untracked-files=all", "--no-renames", "--ignore-submodules=dirty")


def status_z(repo: Repo, *, index_file: Path) -> bytes:
    """``git status --porcelain=v2 -z`` of the worktree against a private index (untracked cache on)."""
    return git(repo.root, *_STATUS, env=_index_env(index_file))


def start_status_z(repo: Repo, *, index_file: Path) -> Pending:
    """``status_z``, started in the background."""
    return start(repo.root, *_STATUS, env=_index_env(index_file))


def start_worktree_status(cwd: Path | str) -> Pending:
    """``status_z`` against the user's own index, read-only (``--no-optional-locks``: git neither
    refreshes nor writes it), started before agitlog knows the repository: step 0 of `agitlog run`
    scans the worktree while Python is still loading. Its output equals that of a private copy of
    the index, which is what the session's snapshots use from then on."""
    return start(cwd, "--no-optional-locks", *_STATUS)


def update_index(repo: Repo, *, index_file: Path, paths: Iterable[str]) -> None:
    """Add, refresh or remove ``paths`` in a private index; one git process for all of them."""
    data = b"".join(os.fsencode(path) + b"\0" for path in paths)
    if data:
        git(repo.root, "update-index", "--add", "--remove", "-z", "--stdin",
            input=data, env=_index_env(index_file))


def ignored_directories(repo: Repo) -> frozenset[str]:
    """Directories git ignores as a whole (no tracked file inside), relative to the root."""
    out = git(repo.root, "ls-files", "-z", "--others", "--ignored", "--exclude-standard", "--directory")
    return frozenset(os.fsdecode(p).rstrip("/") for p in out.split(b"\0") if p.endswith(b"/"))


def write_tree(repo: Repo, *, index_file: Path) -> str:
    return git(repo.root, "write-tree", env=_index_env(index_file)).decode().strip()


def cached_blobs(repo: Repo, *, index_file: Path | None = None) -> list[tuple[str, str]]:
    """(path, blob id) of every file the index adds or modifies against HEAD (what a commit would
    write; an unborn HEAD counts as empty). Inside a commit hook pass git's ``GIT_INDEX_FILE``:
    `commit -a` and `commit PATH` stage into a temporary index."""
    args = ["diff", "--cached", "--raw", "-z", "--no-renames", "--no-ext-diff", "--no-textconv", "--no-abbrev"]
    out = git(repo.root, *args, env=_index_env(index_file) if index_file else None)
    rows = []
    fields = out.split(b"\0")
    for i in range(0, len(fields) - 1, 2):
        meta = fields[i][1:].split()
        if len(meta) >= 5 and meta[4][:1] in (b"A", b"M", b"T") and meta[1] != b"160000":
            rows.append((fields[i + 1].decode("utf-8", "surrogateescape"), meta[3].decode()))
    return rows


def hash_worktree_file(repo: Repo, path: str) -> str | None:
    """The blob id the file would get if added (filters applied, nothing written)."""
    out = git(repo.root, "hash-object", "--", path, check=False).decode().strip()
    return out or None


def read_tree_into_index(repo: Repo, *, index_file: Path, tree: str) -> None:
    """Make a private index hold exactly ``tree`` (the start of a reconstructed worktree)."""
    git(repo.root, "read-tree", tree, env=_index_env(index_file))


def add_blobs_to_index(repo: Repo, *, index_file: Path, entries: Iterable[tuple[str, str | None]]) -> None:
    """Set (path, blob id) entries in a private index as regular files; a None blob removes the path."""
    lines = b"".join(
        (f"100644 {blob}\t" if blob else "0 0000000000000000000000000000000000000000\t").encode()
        + os.fsencode(path) + b"\0" for path, blob in entries)
    if lines:
        git(repo.root, "update-index", "--add", "--remove", "-z", "--index-info", input=lines,
            env=_index_env(index_file))
