"""Materialise the worktree of a step into a directory of its own.

Three ways: a linked git worktree on a detached head (default), a plain export of the files
(``export``, written by agitlog from ``ls-tree`` and ``cat-file --batch``), or the user's own
worktree (``here``, only when it is clean). Recorded trees may come from someone else's pushed
session, so every path is checked before anything is written: absolute paths, ``..``, ``.git``
components and anything that would land outside the directory are refused, and nothing is ever
written through a symlink.
"""
from __future__ import annotations

import os
from pathlib import Path

from agitlog import git
from agitlog.datatypes import datatype, field
from agitlog.errors import AgitlogError, UsageError
from agitlog.private import make_private_dir, write_private
from agitlog.store.sessions import SessionStore

TYPE_CHECKING = False  # typing costs start-up; only checkers need it
if TYPE_CHECKING:
    from typing import Literal

    Mode = Literal["worktree", "export", "here"]

_FORBIDDEN_NAMES = {".git", "..", "."}


class UnsafePathError(AgitlogError):
    code = "unsafe_path"

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message, hint, exit_code=4)


class DirectoryNotEmptyError(AgitlogError):
    code = "directory_not_empty"

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message, hint, exit_code=5)


@datatype
class CheckoutResult:
    session_id: str
    step: int
    commit: str
    mode: Mode
    path: Path
    files: int
    skipped: list[str] = field(default_factory=list)   # submodules, which have no content here


def checkout_step(repo: git.Repo, *, session: str | None, step: int, directory: Path | None,
                  mode: Mode = "worktree", name: str | None = None) -> CheckoutResult:
    """Materialise step ``step`` of a session into ``directory`` (or, for ``here``, the user's worktree)."""
    if mode == "here" and directory is not None:
        raise UsageError("--here checks out into your own worktree; give no DIR with it")
    store = SessionStore.open(repo)
    info = store.resolve(session, name=name)
    steps = store.steps(info)
    if not 0 <= step < len(steps):
        raise UsageError(f"no step {step}: session {info.id} has steps 0..{len(steps) - 1}")
    commit = steps[step]
    entries = git.ls_tree(repo, commit)
    check_paths(entries)
    result = CheckoutResult(session_id=info.id, step=step, commit=commit, mode=mode, path=repo.root,
                            files=sum(e.kind == "blob" for e in entries),
                            skipped=[os.fsdecode(e.path) for e in entries if e.kind != "blob"])
    if mode == "here":
        _checkout_here(repo, commit)
        return result
    if directory is None:
        raise UsageError("say where to put the worktree", hint=f"agitlog checkout --step {step} ../at-step-{step}")
    _check_outside_worktree(repo, directory, step)
    result.path = prepare_directory(directory)
    if mode == "export":
        export_tree(repo, entries, result.path)
    else:
        git.add_worktree(repo, result.path, commit)
    return result


def _check_outside_worktree(repo: git.Repo, directory: Path, step: int) -> None:
    """DIR may not be the user's worktree or inside it (that is what --here is for)."""
    target = Path(os.path.realpath(directory.expanduser()))
    root = Path(os.path.realpath(repo.root))
    if target == root or target.is_relative_to(root):
        raise UsageError(f"{directory} is inside your worktree {repo.root}",
                         hint=f"choose a directory outside it, e.g. ../at-step-{step}, or use --here")


def split_checkout_args(repo: git.Repo, args: list[str], *, here: bool,
                        named: bool = False) -> tuple[str | None, Path | None]:
    """``[SESSION] [DIR]`` -> (session, directory). One argument is a session when it names one
    (and, without --here, looks like an id), otherwise the directory; with ``named`` (--name gave
    the session) the only argument is the directory."""
    if len(args) > 2 or (named and len(args) > 1):
        raise UsageError("too many arguments", hint="agitlog checkout [SESSION | --name NAME] --step N [DIR]")
    if named:
        return None, Path(args[0]) if args else None
    if len(args) == 2:
        return args[0], Path(args[1])
    if not args:
        return None, None
    word = args[0]
    names_session = set(word) <= set("0123456789abcdefghijklmnopqrstuvwxyz-") and any(
        session_id.startswith(word) for session_id in SessionStore(repo).ids())
    return (word, None) if names_session or here else (None, Path(word))


def step_workdir(repo: git.Repo, *, session_id: str, step: int, commit: str) -> Path:
    """A plain export of a step kept under agitlog's state dir (made once, reused): what the viewer
    opens a shell in. Never a linked worktree, so the user's repository gains nothing."""
    path = repo.state_dir / "checkouts" / f"{session_id}-step-{step}"
    done = path.with_name(path.name + ".complete")
    if path.exists() and not done.exists():
        import shutil

        shutil.rmtree(path)
    if not path.exists():
        entries = git.ls_tree(repo, commit)
        check_paths(entries)
        make_private_dir(path)  # under .git/agitlog/: 0700, like everything there
        export_tree(repo, entries, path)
        write_private(done, (commit + "\n").encode())
    return path


def check_paths(entries: list[git.TreeEntry]) -> None:
    """Refuse a tree any of whose paths could escape the directory it is written into."""
    for entry in entries:
        problem = path_problem(entry.path)
        if problem:
            shown = entry.path.decode("utf-8", "backslashreplace")
            raise UnsafePathError(f"refusing to check out: recorded path {shown!r} {problem}",
                                  hint="the session's tree was crafted or corrupted; inspect it with `git ls-tree -r`")


def path_problem(path: bytes) -> str | None:
    """Why ``path`` (as recorded) is unsafe to write, or None."""
    if not path:
        return "is empty"
    if path.startswith(b"/") or path.startswith(b"\\") or (len(path) > 1 and path[1:2] == b":"):
        return "is absolute"
    if b"\0" in path:
        return "contains a NUL byte"
    for part in path.replace(b"\\", b"/").split(b"/"):
        name = part.decode("utf-8", "replace").rstrip(". ").lower()
        if not part:
            return "has an empty component"
        if part in (b".", b"..") or name in _FORBIDDEN_NAMES or name.startswith(".git~") or name == "git~1":
            return f"has a {part.decode('utf-8', 'backslashreplace')!r} component"
    return None


def prepare_directory(directory: Path) -> Path:
    """``directory`` made absolute and created; refuses one that exists and is not empty."""
    path = Path(os.path.abspath(directory.expanduser()))
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        raise DirectoryNotEmptyError(f"{path} exists and is not a directory", hint="choose a new directory")
    if path.is_dir() and any(path.iterdir()):
        raise DirectoryNotEmptyError(f"{path} is not empty", hint="choose a new or empty directory")
    path.mkdir(parents=True, exist_ok=True)
    return path


def export_tree(repo: git.Repo, entries: list[git.TreeEntry], root: Path) -> None:
    """Write every blob of a checked tree under ``root``: files with their modes, symlinks as links."""
    blobs = [e for e in entries if e.kind == "blob"]
    contents = git.cat_files(repo, [e.sha for e in blobs])
    real_root = root.resolve()
    for entry, data in zip(blobs, contents):
        *dirs, name = os.fsdecode(entry.path).split("/")
        parent = _make_parents(real_root, dirs)
        if not parent.resolve().is_relative_to(real_root):
            raise UnsafePathError(f"refusing to write outside {root}: {os.fsdecode(entry.path)}")
        _write_entry(parent / name, entry.mode, data or b"")


def _make_parents(root: Path, names: list[str]) -> Path:
    """Create root/names... one level at a time, never passing through a symlink or a file."""
    current = root
    for name in names:
        current = current / name
        if current.is_symlink() or (current.exists() and not current.is_dir()):
            raise UnsafePathError(f"refusing to write through {current}: it is not a directory")
        if not current.exists():
            current.mkdir()
    return current


def _write_entry(target: Path, mode: str, data: bytes) -> None:
    if target.is_symlink() or target.exists():
        raise UnsafePathError(f"refusing to overwrite {target}: the tree names it twice")
    if mode == "120000":
        os.symlink(os.fsdecode(data), target)
        return
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(target, flags, 0o777 if mode == "100755" else 0o666)  # the umask applies, as for git
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _checkout_here(repo: git.Repo, commit: str) -> None:
    if not git.is_worktree_clean(repo):
        raise AgitlogError("your worktree has changes; --here would overwrite them",
                           hint="commit or stash them first, or check out into a new directory", exit_code=5)
    git.checkout_detached(repo, commit)
