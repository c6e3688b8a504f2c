"""Commands that read sessions: log, show, replay, diff, checkout, state, search, blame."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional, Sequence

import typer

from agitlog.cli.options import (
    AtOption, JsonOption, NameOption, NoPagerOption, RepoOption, SessionArg, StepOption, open_repo, team_views, views,
)
from agitlog.cli.pager import paged
from agitlog.constants import STATUSES

if TYPE_CHECKING:
    from agitlog import git
    from agitlog.sharing.remotes import RemoteSessions


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
    from agitlog.query.listing import check_statuses, parse_since, session_rows

    opened = open_repo(repo)
    rows = session_rows(opened, limit=limit, status=check_statuses(status or ()), agent=agent,
                        since=parse_since(since) if since else None)
    asked = _filters_text(status=status or (), agent=agent, since=since)
    remote = _remote_sessions(opened) if not rows and not asked and not json_out else None
    with paged(enabled=not no_pager):
        views.render_log(rows, json_out=json_out, filters=asked, remote=remote)
    return 0


def _filters_text(*, status: Sequence[str], agent: str | None, since: str | None) -> str:
    """The filters as typed, to say what matched nothing."""
    import shlex

    words = [w for s in status for w in ("--status", s)] + (["--agent", agent] if agent else [])
    return shlex.join(words + (["--since", since] if since else []))


def _remote_sessions(repo: git.Repo) -> RemoteSessions | None:
    """Sessions on the default remote, for a clone that has none yet (one `git ls-remote`)."""
    from agitlog.sharing.remotes import unfetched_sessions

    return unfetched_sessions(repo)


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
    from agitlog.query.listing import show_session

    view = show_session(open_repo(repo), session, types=types or (), name=name, agents=agents or ())
    with paged(enabled=not no_pager):
        views.render_show(view, json_out=json_out)
    return 0


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
    import sys

    from agitlog.cli import render_replay as replay_views
    from agitlog.cli.output import is_tty
    from agitlog.query.timeline import load_replay

    opened = open_repo(repo)
    replay = load_replay(opened, session=session, at=at, name=name, agents=agents or ())
    if json_out:
        replay_views.render_replay_json(replay, start=replay.start)
    elif plain or not (is_tty() and is_tty(sys.stdin)):
        from agitlog.query.diffs import replay_diffs

        step_diffs = replay_diffs(opened, replay=replay) if diffs else None
        with paged(enabled=not no_pager):
            replay_views.write_lines(replay_views.replay_document(replay, start=replay.start, diffs=step_diffs))
    else:
        from agitlog.cli.replay_tui import run_viewer

        return run_viewer(opened, replay)
    return 0


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
    from agitlog.cli.render_replay import render_diff
    from agitlog.query.diffs import session_diff

    result = session_diff(open_repo(repo), session=session, step=step, step_range=step_range, name=name)
    with paged(enabled=not no_pager):
        render_diff(result, stat=stat, name_only=name_only, json_out=json_out)
    return 0


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
    from agitlog.cli.render_replay import render_state
    from agitlog.query.state import session_state

    render_state(session_state(open_repo(repo), session=session, at=at, name=name), json_out=json_out)


def blame_cmd(
    file: Annotated[Path, typer.Argument(help="The file to blame.")],
    rev: Annotated[Optional[str], typer.Option("--rev", help="Blame as of this commit (default: the worktree).")] = None,
    json_out: JsonOption = False,
    repo: RepoOption = None,
) -> int:
    """git blame, plus the session, step, agent and decision behind each line an agent wrote."""
    from agitlog.query.blame import blame_file

    team_views.render_blame(blame_file(open_repo(repo), path=file, rev=rev), json_out=json_out)
    return 0


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
    from agitlog.query.listing import check_statuses, parse_since
    from agitlog.query.search import SearchFilters, search_sessions

    filters = SearchFilters(types=types or (), agent=agent, model=model, tool=tool, file=file,
                            status=check_statuses(status or ()),
                            session=session, since=parse_since(since) if since else None,
                            until=parse_since(until) if until else None)
    result = search_sessions(open_repo(repo), pattern=pattern, regex=regex, filters=filters, limit=limit or None,
                             context=context, reindex=reindex)
    team_views.render_search(result, json_out=json_out)
    return 0 if result.hits else 1
