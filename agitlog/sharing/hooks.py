"""Installing and removing agitlog's git hooks, the way pre-commit does it.

The hook scripts live in the top-level ``hooks/`` folder and ship inside the package
(``agitlog/hooks/``). Installing one renders it with this Python interpreter and the directory of
the agitlog package (the hook runs agitlog.sharing.commit_hook from there), and writes it to the
repository's hooks directory. A hook that is already there
(and is not ours) is renamed ``<hook>.agitlog-legacy`` and still runs first; uninstalling puts it
back. ``core.hooksPath`` is respected when the repository itself sets it, and refused when it comes
from global or system config (installing there would change every repository on the machine).
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from agitlog import git
from agitlog.constants import HOOK_MARKER as MARKER
from agitlog.errors import AgitlogError

HOOK_NAMES = ("prepare-commit-msg", "pre-push")
LEGACY_SUFFIX = ".agitlog-legacy"
TEMPLATES = Path(__file__).resolve().parent.parent / "hooks"


class HooksPathError(AgitlogError):
    code = "hooks_path"


@dataclass(frozen=True)
class HooksResult:
    directory: Path
    installed: list[str] = field(default_factory=list)     # written (new or updated)
    kept: list[str] = field(default_factory=list)          # an existing hook kept as <hook>.agitlog-legacy
    restored: list[str] = field(default_factory=list)      # uninstall: the previous hook put back
    removed: list[str] = field(default_factory=list)
    untouched: list[str] = field(default_factory=list)     # uninstall: not ours, left alone


def hooks_directory(repo: git.Repo) -> Path:
    """Where to install: git's hooks dir, after checking where ``core.hooksPath`` comes from."""
    scope = git.config_scope(repo, "core.hooksPath")
    if scope not in (None, "local", "worktree"):
        value = git.config_get(repo, "core.hooksPath")
        raise HooksPathError(
            f"core.hooksPath is set in your {scope} git config ({value}); installing there would affect "
            "every repository that uses it",
            hint="set a repository hooks path instead (`git config --local core.hooksPath .githooks`), or add "
                 "agitlog to the hooks in that folder yourself (see docs/commands/hooks.md), or use pre-commit",
            exit_code=2)
    return git.hooks_dir(repo)


def render_hook(name: str) -> str:
    """The hook script for this installation: our interpreter and our commit_hook module."""
    template = (TEMPLATES / name).read_text(encoding="utf-8")
    package = Path(__file__).resolve().parent.parent
    return (template.replace("@AGITLOG_PYTHON@", _quote(sys.executable))
            .replace("@AGITLOG_PACKAGE@", _quote(str(package))))


def _quote(text: str) -> str:
    return text.replace("'", "'\"'\"'")


def is_ours(path: Path) -> bool:
    try:
        return MARKER in path.read_text(encoding="utf-8", errors="replace")[:400]
    except OSError:
        return False


def install_hooks(repo: git.Repo, *, hooks: Sequence[str] = HOOK_NAMES) -> HooksResult:
    """Install (or update) the hooks; idempotent."""
    directory = hooks_directory(repo)
    directory.mkdir(parents=True, exist_ok=True)
    result = HooksResult(directory=directory)
    for name in hooks:
        target = directory / name
        legacy = directory / (name + LEGACY_SUFFIX)
        if (target.exists() or target.is_symlink()) and not is_ours(target):
            if legacy.exists():
                raise AgitlogError(f"both {target} and {legacy} exist", hint="merge them by hand, then retry")
            os.replace(target, legacy)
            result.kept.append(name)
        _write_executable(target, render_hook(name))
        result.installed.append(name)
    return result


def _write_executable(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.agitlog-tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.chmod(0o755)
    os.replace(tmp, path)


def uninstall_hooks(repo: git.Repo, *, hooks: Sequence[str] = HOOK_NAMES) -> HooksResult:
    """Remove our hooks and restore what was there before."""
    directory = hooks_directory(repo)
    result = HooksResult(directory=directory)
    for name in hooks:
        target = directory / name
        legacy = directory / (name + LEGACY_SUFFIX)
        if target.exists() and not is_ours(target):
            result.untouched.append(name)
            continue
        if target.exists():
            target.unlink()
            result.removed.append(name)
        if legacy.exists() or legacy.is_symlink():
            os.replace(legacy, target)
            result.restored.append(name)
    return result


def hooks_status(repo: git.Repo) -> dict[str, str]:
    """hook name -> "installed", "installed (runs previous hook first)", "other hook" or "absent"."""
    directory = hooks_directory(repo)
    status = {}
    for name in HOOK_NAMES:
        target = directory / name
        if is_ours(target):
            legacy = (directory / (name + LEGACY_SUFFIX)).exists()
            status[name] = "installed (runs previous hook first)" if legacy else "installed"
        else:
            status[name] = "other hook" if target.exists() else "absent"
    return status
