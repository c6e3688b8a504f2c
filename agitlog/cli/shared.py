"""What the command bodies share, without typer (the read commands run without it, see
cli/fastread.py): the repository to open, files named on the command line, and rendering modules
loaded on first use (each command pays only for the rendering it does)."""
from __future__ import annotations

import os
from pathlib import Path

from agitlog import git


class _OnFirstUse:
    """A module imported when a command first renders with it."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> object:
        # __import__ with a fromlist returns the module itself; importlib would be one more import.
        return getattr(__import__(self._name, fromlist=[attribute]), attribute)


views = _OnFirstUse("agitlog.cli.render_sessions")
team_views = _OnFirstUse("agitlog.cli.render_team")


def open_repo(repo: Path | None) -> git.Repo:
    return git.find_repo((repo or Path(os.getcwd())).absolute())


def read_input_file(path: Path) -> bytes:
    """A file the user named on the command line; a clear usage error when it cannot be read."""
    from agitlog.errors import UsageError

    try:
        return path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
