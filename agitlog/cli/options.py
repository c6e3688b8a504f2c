"""What every command shares: option types for typer; the repository to open and the rendering
modules loaded on first use come from cli/shared.py (typer-free, for the read commands' fast path)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from agitlog.cli.shared import open_repo, read_input_file, team_views, views  # noqa: F401 - re-exported

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
