"""`agitlog rerun --code`: replay the recorded answers against edited code.

The rerun's worktree starts, as always, from the session's step 0 (the files the agent saw). Then
every file that the code to test (the worktree as it is now, or a revision) has differently from
the session's *final* state is written over it: that is what the user changed after the session
ended — the fix to the agent — and not what the agent itself changed during the run, which the
final state already holds. Those files are left out when the rerun's final tree is compared with
the original's, so a change that does not alter the agent's behaviour still "reproduces".
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from agitlog import git
from agitlog.errors import UsageError

WORKTREE = "."


@dataclass(frozen=True)
class CodeOverlay:
    """The files a rerun takes from the code under test instead of from step 0."""

    source: str                  # "." or the revision the user named
    tree: str
    written: tuple[str, ...]
    deleted: tuple[str, ...]

    @property
    def paths(self) -> frozenset[str]:
        return frozenset(self.written) | frozenset(self.deleted)


def code_overlay(repo: git.Repo, *, code: str, final_step: str) -> CodeOverlay:
    """What ``--code CODE`` changes relative to the session's final state."""
    tree = _worktree_tree(repo) if code == WORKTREE else git.resolve_tree(repo, code)
    if tree is None:
        raise UsageError(f"--code {code!r} names no revision", hint="use `.` (the worktree) or a commit, e.g. HEAD")
    written, deleted = git.changed_paths(repo, git.tree_of(repo, final_step), tree)
    return CodeOverlay(source=code, tree=tree, written=tuple(written), deleted=tuple(deleted))


def apply_overlay(overlay: CodeOverlay, worktree: Path) -> None:
    """Write the overlay's files into a rerun worktree (never the user's)."""
    git.checkout_paths(worktree, overlay.tree, overlay.written)
    for path in overlay.deleted:
        target = worktree / path
        if target.is_file() or target.is_symlink():
            target.unlink()


def _worktree_tree(repo: git.Repo) -> str:
    """The user's worktree as a tree, uncommitted and untracked files included, through a throwaway
    private index (the user's index is only read, as when recording)."""
    from agitlog.capture.snapshot import Snapshotter
    from agitlog.config import load_config

    with tempfile.TemporaryDirectory(prefix="code-", dir=_scratch(repo)) as scratch:
        snapshotter = Snapshotter(repo, index_file=Path(scratch) / "index", config=load_config(repo.root))
        snapshotter.seed()
        return snapshotter.take(force=True).tree


def _scratch(repo: git.Repo) -> Path:
    path = repo.state_dir / "tmp"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path
