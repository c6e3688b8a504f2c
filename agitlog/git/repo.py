"""Finding the repository: worktree root, git dirs, HEAD, hooks directory."""
from __future__ import annotations

from collections.abc import Sequence  # not typing: hooks import this module, typing costs ms

from agitlog.constants import STATE_DIRNAME
from agitlog.datatypes import datatype
from agitlog.errors import GitError, GitNotInstalledError, NotARepositoryError
from agitlog.git.process import Pending, git, start as start_git

TYPE_CHECKING = False  # pathlib loads when a Repo is made: `agitlog run` starts its rev-parse before that
if TYPE_CHECKING:
    from pathlib import Path


@datatype(frozen=True)
class Repo:
    """Where a repository lives: its worktree root, its own git dir and the shared (common) one."""

    root: Path
    git_dir: Path
    common_dir: Path
    index_file: Path

    @property
    def state_dir(self) -> Path:
        return self.common_dir / STATE_DIRNAME


_LOCATE = ("rev-parse", "--is-bare-repository", "--show-toplevel", "--absolute-git-dir", "--git-common-dir",
           "--git-path", "index")


def find_repo(start: Path) -> Repo:
    """The repository containing ``start``; NotARepositoryError if there is none or it is bare."""
    return _repo_from(start, _locate(start, _LOCATE))


_LOCATE_HEAD = (*_LOCATE, "HEAD", "--symbolic-full-name", "HEAD")


def start_find_repo_and_head(start: Path | str) -> Pending:
    """``find_repo_and_head``'s git call, started in the background (`agitlog run` starts it with
    step 0's scan, before its own modules load)."""
    return start_git(start, *_LOCATE_HEAD)


def find_repo_and_head(start: Path, *, pending: Pending | None = None) -> tuple[Repo, str | None, str | None]:
    """The repository, the commit HEAD points at and the branch name, in one git call when HEAD is born
    (``pending``: that call, already started)."""
    if not start.is_dir():
        raise NotARepositoryError(f"no such directory: {start}")
    proc = pending.result(check=False) if pending else git(start, *_LOCATE_HEAD, check=False)
    lines = proc.decode("utf-8", "surrogateescape").splitlines()
    if len(lines) != 7:  # unborn branch (HEAD names no commit yet), or not a repository at all
        repo = find_repo(start)
        return (repo, *head_state(repo))
    repo = _repo_from(start, lines[:5])
    branch = lines[6].removeprefix("refs/heads/") if lines[6].startswith("refs/heads/") else None
    return repo, lines[5], branch


def _locate(start: Path, args: Sequence[str]) -> list[str]:
    if not start.is_dir():
        raise NotARepositoryError(f"no such directory: {start}")
    try:
        out = git(start, *args)
    except GitNotInstalledError:
        raise  # no git at all says so, not "not a git repository"
    except GitError as exc:
        raise NotARepositoryError(
            f"not a git repository: {start}", hint="run `git init` first, or pass --repo PATH",
        ) from exc
    return out.decode("utf-8", "surrogateescape").splitlines()


def _repo_from(start: Path, lines: Sequence[str]) -> Repo:
    from pathlib import Path

    if len(lines) < 5 or lines[0] == "true":
        raise NotARepositoryError(f"{start} is a bare repository", hint="run agitlog inside a worktree")
    return Repo(root=Path(lines[1]), git_dir=Path(lines[2]), common_dir=_absolute(start, lines[3]),
                index_file=_absolute(start, lines[4]))


def _absolute(base: Path, text: str) -> Path:
    from pathlib import Path

    path = Path(text)
    return path if path.is_absolute() else (base / path).resolve()


def head_state(repo: Repo) -> tuple[str | None, str | None]:
    """(commit HEAD points at or None on an unborn branch, branch name or None when detached)."""
    out = git(repo.root, "symbolic-ref", "-q", "HEAD", check=False).decode("utf-8", "surrogateescape").strip()
    branch = out.removeprefix("refs/heads/") if out else None
    sha = git(repo.root, "rev-parse", "-q", "--verify", "HEAD^{commit}", check=False).decode().strip()
    return (sha or None), branch


def resolve_commit(repo: Repo, spec: str) -> str | None:
    out = git(repo.root, "rev-parse", "-q", "--verify", f"{spec}^{{commit}}", check=False)
    return out.decode().strip() or None


def resolve_tree(repo: Repo, spec: str) -> str | None:
    """The tree a revision (or a tree id) names, or None."""
    out = git(repo.root, "rev-parse", "-q", "--verify", f"{spec}^{{tree}}", check=False)
    return out.decode().strip() or None


def hooks_dir(repo: Repo) -> Path:
    """Where git looks for hooks (``core.hooksPath`` when set, else the common git dir's hooks/)."""
    out = git(repo.root, "rev-parse", "--git-path", "hooks").decode("utf-8", "surrogateescape").strip()
    return _absolute(repo.root, out)
