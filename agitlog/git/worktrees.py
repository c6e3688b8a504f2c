"""Temporary and checkout worktrees, and bisect inside one."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path
from collections.abc import Sequence  # not typing: hooks import this module, typing costs ms

from agitlog.git.process import _env, git
from agitlog.git.repo import Repo


def add_worktree(repo: Repo, path: Path, commit: str) -> None:
    """A detached worktree of ``commit`` at ``path`` (new or empty); the user's hooks are not run for it.
    ``--force`` lets git reuse the path of an earlier worktree the user deleted with ``rm -rf`` (git
    still lists it, "missing but already registered"); callers have made sure ``path`` holds nothing."""
    git(repo.root, "-c", "core.hooksPath=/dev/null", "worktree", "add", "--force", "--detach", "--quiet", str(path),
        commit)


def remove_worktree(repo: Repo, path: Path) -> None:
    """Remove a worktree ``add_worktree`` made, and git's record of it."""
    git(repo.root, "worktree", "remove", "--force", str(path), check=False)
    git(repo.root, "worktree", "prune", check=False)


def is_worktree_clean(repo: Repo) -> bool:
    """True when the user's worktree and index match HEAD and there are no untracked files."""
    out = git(repo.root, "status", "--porcelain=v1", "-z", "--untracked-files=normal", "--ignore-submodules=none")
    return not out.strip(b"\0")


def checkout_detached(repo: Repo, commit: str) -> None:
    """Move the user's own worktree, index and HEAD to ``commit`` (detached); only for --here."""
    git(repo.root, "checkout", "--quiet", "--detach", commit)


def checkout_worktree_at(worktree: Path, commit: str) -> None:
    """Check ``commit`` out in a temporary worktree agitlog owns (user hooks are not run)."""
    git(worktree, "-c", "core.hooksPath=/dev/null", "checkout", "--quiet", "--detach", "--force", commit)


def checkout_paths(worktree: Path, tree: str, paths: Sequence[str]) -> None:
    """Write ``paths`` as ``tree`` has them into a worktree agitlog owns (one git process)."""
    if paths:
        git(worktree, "-c", "core.hooksPath=/dev/null", "checkout", "--quiet", tree,
            "--pathspec-from-file=-", "--pathspec-file-nul", input=b"\0".join(p.encode("utf-8", "surrogateescape")
                                                                              for p in paths))


def clone_local(repo: Repo, path: Path) -> None:
    """A private clone of ``repo`` at ``path``: objects hard-linked, no checkout, no hooks run."""
    git(repo.root, "-c", "core.hooksPath=/dev/null", "clone", "--local", "--no-checkout", "--quiet",
        str(repo.root), str(path))


def copy_identity(repo: Repo, worktree: Path) -> None:
    """The repository's own commit identity (``user.*``, ``author.*``, ``committer.*`` from its local
    config) into the clone at ``worktree``: an agent that ignores the global config (Gemini CLI
    points GIT_CONFIG_GLOBAL at /dev/null) commits there as it did in the repository."""
    out = git(repo.root, "config", "--local", "-z", "--get-regexp", r"^(user|author|committer)\.", check=False)
    for entry in out.split(b"\0"):
        key, _, value = entry.partition(b"\n")
        if key:
            git(worktree, "config", "--local", os.fsdecode(key), os.fsdecode(value))


def checkout_branch_at(worktree: Path, *, branch: str | None, commit: str | None) -> None:
    """In a clone agitlog owns: HEAD on ``branch`` (or detached) at ``commit`` (or unborn)."""
    config = ["-c", "core.hooksPath=/dev/null", "-c", "advice.detachedHead=false"]
    if commit is None:
        git(worktree, "symbolic-ref", "HEAD", f"refs/heads/{branch or 'main'}")
        git(worktree, "read-tree", "--empty")
    elif branch:
        git(worktree, *config, "checkout", "--quiet", "--force", "-B", branch, commit)
    else:
        git(worktree, *config, "checkout", "--quiet", "--force", "--detach", commit)


def restore_worktree_from(worktree: Path, tree: str) -> None:
    """Make the files of a worktree agitlog owns exactly ``tree``'s, leaving its index and HEAD alone:
    what differs shows as uncommitted changes."""
    git(worktree, "-c", "core.hooksPath=/dev/null", "restore", "--quiet", f"--source={tree}", "--worktree",
        "--", ":/")


def bisect_run(worktree: Path, *, bad: str, good: str, command: Sequence[str]) -> tuple[int, str]:
    """``git bisect start bad good`` then ``git bisect run command`` inside ``worktree``; (code, output)."""
    git(worktree, "-c", "core.hooksPath=/dev/null", "bisect", "start", bad, good)
    proc = subprocess.run(["git", "-c", "core.hooksPath=/dev/null", "bisect", "run", *command], cwd=worktree,
                          env=_env(None), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return proc.returncode, proc.stdout.decode("utf-8", "replace")
