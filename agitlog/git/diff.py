"""Diffs between trees and commits, and blame."""
from __future__ import annotations

import os
from collections.abc import Sequence  # not typing: hooks import this module, typing costs ms

from agitlog.datatypes import datatype
from agitlog.git.process import EMPTY_TREE, git
from agitlog.git.repo import Repo


def diff_tree_numstat(repo: Repo, old: str | None, new: str) -> list[tuple[int | None, int | None, str]]:
    """(added, deleted, path) per file changed between two commits; None counts for binary files."""
    return diff_tree_numstat_many(repo, [(old or EMPTY_TREE, new)])[0]


def diff_tree_numstat_many(repo: Repo, pairs: Sequence[tuple[str, str]]
                           ) -> list[list[tuple[int | None, int | None, str]]]:
    """``diff_tree_numstat`` for many (old, new) pairs through one ``git diff-tree --stdin``."""
    if not pairs:
        return []
    request = "".join(f"{new} {old}\n" for old, new in pairs).encode()
    out = git(repo.root, "diff-tree", "--stdin", "--always", "-r", "--numstat", "-z", "--no-renames", input=request)
    results: list[list[tuple[int | None, int | None, str]]] = []
    for item in out.split(b"\0"):
        parts = item.split(b"\t", 2)
        if len(parts) != 3:
            if item:
                results.append([])  # the header git prints before each pair's files
            continue
        added, deleted, path = parts
        results[-1].append((_count(added), _count(deleted), path.decode("utf-8", "surrogateescape")))
    return results


def _count(text: bytes) -> int | None:
    return None if text == b"-" else int(text)


def diff_patch(repo: Repo, old: str, new: str, *, exclude: Sequence[str] = ()) -> bytes:
    """The unified diff between two trees or commits, with renames found and paths unquoted where
    git allows; binary files appear as "Binary files ... differ". ``exclude`` paths are left out."""
    # Only negative pathspecs: git then matches everything else (a positive "." would not, in diff-tree).
    pathspecs = ["--"] + [f":(top,exclude,literal){path}" for path in exclude] if exclude else []
    return git(repo.root, "-c", "core.quotePath=false", "diff-tree", "-r", "-p", "-M", "--no-color",
               "--no-ext-diff", "--no-textconv", "--full-index", old, new, *pathspecs)


@datatype(frozen=True)
class RawChange:
    """One file of ``git diff-tree --raw -M``: status letter (A, D, M, R, T...) and both paths."""

    status: str
    old_mode: str
    new_mode: str
    old_path: str
    new_path: str
    added: int | None = None     # from --numstat; None for binary files
    deleted: int | None = None


def diff_changes(repo: Repo, old: str, new: str) -> list[RawChange]:
    """Every file changed between two trees with its status, modes and line counts (renames found)."""
    # One process for both: git writes every --raw record (each starts with ':'), then the --numstat ones.
    raw = git(repo.root, "diff-tree", "-r", "-z", "-M", "--raw", "--numstat", old, new).split(b"\0")
    found = []
    i = 0
    while i < len(raw) - 1 and raw[i].startswith(b":"):
        info = raw[i].decode().lstrip(":").split()
        if len(info) < 5:
            i += 1
            continue
        status = info[4][0]
        paths = [os.fsdecode(raw[i + 1])] + ([os.fsdecode(raw[i + 2])] if status in "RC" else [])
        i += 1 + len(paths)
        found.append((status, info, paths))
    counts = _numstat_renames(b"\0".join(raw[i:]))
    changes = []
    for status, info, paths in found:
        added, deleted = counts.get(paths[-1], (None, None))
        changes.append(RawChange(status=status, old_mode=info[0], new_mode=info[1], old_path=paths[0],
                                 new_path=paths[-1], added=added, deleted=deleted))
    return changes


def _numstat_renames(out: bytes) -> dict[str, tuple[int | None, int | None]]:
    """new path -> (added, deleted) from ``--numstat -z -M`` output (renames take two extra fields)."""
    fields = out.split(b"\0")
    counts = {}
    i = 0
    while i < len(fields):
        parts = fields[i].split(b"\t")
        if len(parts) != 3:
            i += 1
            continue
        if parts[2]:
            path, i = parts[2], i + 1
        else:  # a rename: "added\tdeleted\t" NUL old NUL new
            path, i = fields[i + 2], i + 3
        counts[os.fsdecode(path)] = (_count(parts[0]), _count(parts[1]))
    return counts


def changed_paths(repo: Repo, old: str, new: str) -> tuple[list[str], list[str]]:
    """(paths ``new`` adds or changes, paths it deletes) between two trees, renames as delete+add."""
    out = git(repo.root, "diff-tree", "-r", "-z", "--no-renames", "--name-status", old, new)
    fields = out.split(b"\0")
    written: list[str] = []
    deleted: list[str] = []
    for status, path in zip(fields[0::2], fields[1::2]):
        if status:
            (deleted if status == b"D" else written).append(path.decode("utf-8", "surrogateescape"))
    return written, deleted


def diff_text(repo: Repo, old: str | None, new: str, *, max_bytes: int = 200_000) -> str:
    """The patch between two commits as text (from the empty tree when ``old`` is None), cut at ``max_bytes``."""
    text = diff_patch(repo, old or EMPTY_TREE, new).decode("utf-8", "replace")
    return text if len(text) <= max_bytes else text[:max_bytes] + "\n[... diff truncated ...]\n"


def blame_porcelain(repo: Repo, path: str, rev: str | None) -> bytes:
    args = ["blame", "--line-porcelain", *([rev] if rev else []), "--", path]
    return git(repo.root, *args)
