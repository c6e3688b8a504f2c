"""What every command shares: option types, the repository to open, and rendering modules loaded on
first use (every command pays at start-up for the app's definition, so each pays only for the
rendering it does)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from agitlog import git


class _OnFirstUse:
    """A module imported when a command first renders with it: every command pays at start-up for
    the app's definition, so each pays only for the rendering it does."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> object:
        import importlib

        return getattr(importlib.import_module(self._name), attribute)


views = _OnFirstUse("agitlog.cli.render_sessions")
team_views = _OnFirstUse("agitlog.cli.render_team")

NoPagerOption = Annotated[bool, typer.Option("--no-pager", help="Do not send the output through a pager.")]
PatchOption = Annotated[bool, typer.Option("--patch", "-p", help="Full diffs, not only the per-file counts.")]
RepoOption = Annotated[Optional[Path], typer.Option("--repo", help="Repository to use (default: the current one).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
SessionArg = Annotated[Optional[str], typer.Argument(help="Session id, unique prefix or name (default: the latest).")]
NameOption = Annotated[Optional[str], typer.Option("--name", help="The session with exactly this name (instead of an id).")]
NamesOption = Annotated[Optional[list[str]], typer.Option(
    "--name", help="The session with exactly this name (instead of an id); repeatable.")]
AtOption = Annotated[Optional[int], typer.Option("--at", min=0, help="Event number (the # column of `agitlog show`).")]
StepOption = Annotated[Optional[int], typer.Option("--step", min=0, help="Step number (0: the worktree before the run).")]
TargetsArg = Annotated[Optional[list[str]], typer.Argument(
    help="[REMOTE] [SESSION...]: a remote name, URL or path first (default: [share] remote, else origin), "
         "then session ids, prefixes or names (default: all).")]
RemoteArg = Annotated[Optional[str], typer.Argument(help="Remote name (default: [share] remote, else origin).")]


def open_repo(repo: Path | None) -> git.Repo:
    return git.find_repo((repo or Path(os.getcwd())).absolute())


def read_input_file(path: Path) -> bytes:
    """A file the user named on the command line; a clear usage error when it cannot be read."""
    from agitlog.errors import UsageError

    try:
        return path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
