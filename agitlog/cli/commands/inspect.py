"""Commands that read sessions: log, show, replay, diff, checkout, state, search, blame. Here their
options are declared, once, for typer (help, checks); the bodies are in cli/commands/reads.py, which
cli/fastread.py also calls after parsing these same options without typer."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from agitlog.cli.commands import reads
from agitlog.cli.options import (
    AtOption, JsonOption, NameOption, NoPagerOption, RepoOption, SessionArg, StepOption, open_repo,
)
from agitlog.constants import STATUSES


def log_cmd(
    limit: Annotated[Optional[int], typer.Option("--limit", "-n", min=1, help="At most this many sessions.")] = None,
    status: Annotated[Optional[list[str]], typer.Option("--status", help=f"Only these statuses: {', '.join(STATUSES)}.")] = None,
    since: Annotated[Optional[str], typer.Option("--since", help='Only sessions started since, e.g. "7d", "2026-11-01".')] = None,
    agent: Annotated[Optional[str], typer.Option("--agent", help="Only sessions of this agent.")] = None,
    json_out: JsonOption = False,
    no_pager: NoPagerOption = False,
    repo: RepoOption = None,
) -> int:
    """One row per recorded session, newest first."""
    return reads.log(**locals())  # the parameters, by the same names


def show_cmd(
    session: SessionArg = None,
    types: Annotated[Optional[list[str]], typer.Option("--type", "-t", help="Only events of this type (llm matches llm.*).")] = None,
    agents: Annotated[Optional[list[str]], typer.Option("--agent", help="Only events of this agent (framework agents own their model calls).")] = None,
    name: NameOption = None,
    json_out: JsonOption = False,
    no_pager: NoPagerOption = False,
    repo: RepoOption = None,
) -> int:
    """A session's metadata, then every event in order with the step commit it produced."""
    return reads.show(**locals())  # the parameters, by the same names


def replay_cmd(
    session: SessionArg = None,
    at: AtOption = None,
    plain: Annotated[bool, typer.Option("--plain", help="A linear text document instead of the viewer.")] = False,
    diffs: Annotated[bool, typer.Option("--diffs", help="With --plain: include each step's diff.")] = False,
    agents: Annotated[Optional[list[str]], typer.Option("--agent", help="Only events of this agent (framework agents own their model calls).")] = None,
    name: NameOption = None,
    json_out: JsonOption = False,
    no_pager: NoPagerOption = False,
    repo: RepoOption = None,
) -> int:
    """Walk a session: a full-screen viewer on a terminal, a readable text document in pipes."""
    return reads.replay(**locals())  # the parameters, by the same names


def diff_cmd(
    session: SessionArg = None,
    step: StepOption = None,
    step_range: Annotated[Optional[str], typer.Option("--range", help="Steps A..B (either end may be left out).")] = None,
    stat: Annotated[bool, typer.Option("--stat", help="Per-file counts only.")] = False,
    name_only: Annotated[bool, typer.Option("--name-only", help="Changed paths only.")] = False,
    name: NameOption = None,
    json_out: JsonOption = False,
    no_pager: NoPagerOption = False,
    repo: RepoOption = None,
) -> int:
    """The diff a step produced (--step), a range of steps produced (--range), or the whole session."""
    return reads.diff(**locals())  # the parameters, by the same names


def checkout_cmd(
    args: Annotated[Optional[list[str]], typer.Argument(metavar="[SESSION] [DIR]", show_default=False,
                                                           help="With one argument: a session if it names one, else DIR.")] = None,
    step: Annotated[int, typer.Option("--step", min=0, help="Step number to materialise.")] = ...,  # type: ignore[assignment]
    export: Annotated[bool, typer.Option("--export", help="A plain copy of the files, not a git worktree.")] = False,
    here: Annotated[bool, typer.Option("--here", help="Into your own worktree (it must be clean); detaches HEAD.")] = False,
    name: NameOption = None,
    json_out: JsonOption = False,
    repo: RepoOption = None,
) -> int:
    """The worktree as it was at a step, in a directory of its own (never your worktree without --here)."""
    from agitlog.query.checkout import checkout_step, split_checkout_args
    from agitlog.cli.render_replay import render_checkout

    opened = open_repo(repo)
    session, directory = split_checkout_args(opened, list(args or []), here=here, named=name is not None)
    mode = "here" if here else "export" if export else "worktree"
    result = checkout_step(opened, session=session, step=step, directory=directory, mode=mode, name=name)
    render_checkout(result, json_out=json_out)
    return 0


def state_cmd(
    session: SessionArg = None,
    at: AtOption = None,
    name: NameOption = None,
    json_out: JsonOption = False,
    repo: RepoOption = None,
) -> int:
    """What the agent knew at event N: conversation, merged state, last decision, open spans, files changed."""
    return reads.state(**locals())  # the parameters, by the same names


def blame_cmd(
    file: Annotated[Path, typer.Argument(help="The file to blame.")],
    rev: Annotated[Optional[str], typer.Option("--rev", help="Blame as of this commit (default: the worktree).")] = None,
    json_out: JsonOption = False,
    repo: RepoOption = None,
) -> int:
    """git blame, plus the session, step, agent and decision behind each line an agent wrote."""
    return reads.blame(**locals())  # the parameters, by the same names


def search_cmd(
    pattern: Annotated[str, typer.Argument(help="Text to find (case-insensitive), or a regex with -E.")],
    regex: Annotated[bool, typer.Option("--regex", "-E", help="PATTERN is a Python regular expression.")] = False,
    types: Annotated[Optional[list[str]], typer.Option("--type", "-t", help="Only these event types (llm matches llm.*).")] = None,
    agent: Annotated[Optional[str], typer.Option("--agent", help="Only events of this agent (framework agents own their model calls).")] = None,
    model: Annotated[Optional[str], typer.Option("--model", help="Only events naming this model.")] = None,
    tool: Annotated[Optional[str], typer.Option("--tool", help="Only tool events of this tool.")] = None,
    file: Annotated[Optional[str], typer.Option("--file", help="Only sessions whose steps wrote this path (or under it).")] = None,
    status: Annotated[Optional[list[str]], typer.Option("--status", help=f"Only sessions with this status: {', '.join(STATUSES)}.")] = None,
    session: Annotated[Optional[str], typer.Option("--session", "-s", help="Only this session (id, prefix or name).")] = None,
    since: Annotated[Optional[str], typer.Option("--since", help='Only events since, e.g. "7d", "2026-11-01".')] = None,
    until: Annotated[Optional[str], typer.Option("--until", help="Only events before this time.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=0, help="At most this many matches (0: all).")] = 100,
    context: Annotated[int, typer.Option("--context", "-C", min=0, help="Show N events around each match.")] = 0,
    reindex: Annotated[bool, typer.Option("--reindex", help="Rebuild the index from the refs first.")] = False,
    json_out: JsonOption = False,
    repo: RepoOption = None,
) -> int:
    """Find text in every session: prompts, responses, tool calls and results, decisions, state, errors."""
    return reads.search(**locals())  # the parameters, by the same names
