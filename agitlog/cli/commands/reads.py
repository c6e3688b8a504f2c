"""The bodies of the commands that read sessions (log, show, replay, diff, state, blame, search),
free of typer. Their options are declared once, for typer, in cli/commands/inspect.py, whose
functions call these with the same keywords; cli/fastread.py parses the same options without typer
(start-up) and calls these too."""
from __future__ import annotations

from pathlib import Path

from agitlog.cli.pager import paged
from agitlog.cli.shared import open_repo, team_views, views

TYPE_CHECKING = False  # typing costs start-up; only checkers need it
if TYPE_CHECKING:
    from datetime import datetime
    from typing import Sequence

    from agitlog import git
    from agitlog.sharing.remote_names import RemoteSessions


def log(*, limit: int | None, status: list[str] | None, since: str | None, agent: str | None, json_out: bool,
        no_pager: bool, repo: Path | None) -> int:
    opened = open_repo(repo)
    statuses, since_at = _checked_filters(status or [], since)
    asked = _filters_text(status=status or (), agent=agent, since=since)
    if json_out or (limit is not None and limit < 1 << 62):  # whole metadata; or only the newest sessions read
        from agitlog.query.listing import session_rows

        rows = session_rows(opened, limit=limit, status=statuses, agent=agent, since=since_at)
        remote = _remote_sessions(opened) if not rows and not asked and not json_out else None
        with paged(enabled=not no_pager):
            views.render_log(rows, json_out=json_out, filters=asked, remote=remote)
        return 0
    from agitlog.cli.render_log import render_log_table
    from agitlog.query.logcache import log_table

    table = log_table(opened, status=statuses, agent=agent, since=since_at)  # every session: the cached rows
    remote = _remote_sessions(opened) if not table.count and not asked else None
    with paged(enabled=not no_pager):
        render_log_table(table, filters=asked, remote=remote)
    return 0


def _checked_filters(status: list[str], since: str | None) -> tuple[tuple[str, ...], datetime | None]:
    """--status and --since, checked (the listing's parsers load only when one is given)."""
    if not status and not since:
        return (), None
    from agitlog.query.listing import check_statuses, parse_since

    return check_statuses(status), parse_since(since) if since else None


def _filters_text(*, status: Sequence[str], agent: str | None, since: str | None) -> str:
    """The filters as typed, to say what matched nothing."""
    import shlex

    words = [w for s in status for w in ("--status", s)] + (["--agent", agent] if agent else [])
    return shlex.join(words + (["--since", since] if since else []))


def _remote_sessions(repo: git.Repo) -> RemoteSessions | None:
    """Sessions on the default remote, for a clone that has none yet (one `git ls-remote`)."""
    from agitlog.sharing.remote_names import unfetched_sessions

    return unfetched_sessions(repo)


def show(*, session: str | None, types: list[str] | None, agents: list[str] | None, name: str | None,
         json_out: bool, no_pager: bool, repo: Path | None) -> int:
    from agitlog.query.listing import show_session

    view = show_session(open_repo(repo), session, types=types or (), name=name, agents=agents or ())
    with paged(enabled=not no_pager):
        views.render_show(view, json_out=json_out)
    return 0


def replay(*, session: str | None, at: int | None, plain: bool, diffs: bool, agents: list[str] | None,
           name: str | None, json_out: bool, no_pager: bool, repo: Path | None) -> int:
    import sys

    from agitlog.cli import render_replay as replay_views
    from agitlog.cli.output import is_tty
    from agitlog.query.timeline import load_replay

    opened = open_repo(repo)
    replay = load_replay(opened, session=session, at=at, name=name, agents=agents or ())
    if json_out:
        replay_views.render_replay_json(replay, start=replay.start)
    elif plain or not (is_tty() and is_tty(sys.stdin)):
        step_diffs = None
        if diffs:  # the diff machinery loads only for --diffs
            from agitlog.query.diffs import replay_diffs

            step_diffs = replay_diffs(opened, replay=replay)
        with paged(enabled=not no_pager):
            replay_views.write_lines(replay_views.replay_document(replay, start=replay.start, diffs=step_diffs))
    else:
        from agitlog.cli.replay_tui import run_viewer

        return run_viewer(opened, replay)
    return 0


def diff(*, session: str | None, step: int | None, step_range: str | None, stat: bool, name_only: bool,
         name: str | None, json_out: bool, no_pager: bool, repo: Path | None) -> int:
    from agitlog.cli.render_replay import render_diff
    from agitlog.query.diffs import session_diff

    result = session_diff(open_repo(repo), session=session, step=step, step_range=step_range, name=name)
    with paged(enabled=not no_pager):
        render_diff(result, stat=stat, name_only=name_only, json_out=json_out)
    return 0


def state(*, session: str | None, at: int | None, name: str | None, json_out: bool, repo: Path | None) -> int:
    from agitlog.cli.render_replay import render_state
    from agitlog.query.state import session_state

    render_state(session_state(open_repo(repo), session=session, at=at, name=name), json_out=json_out)
    return 0


def blame(*, file: Path, rev: str | None, json_out: bool, repo: Path | None) -> int:
    from agitlog.query.blame import blame_file

    team_views.render_blame(blame_file(open_repo(repo), path=file, rev=rev), json_out=json_out)
    return 0


def search(*, pattern: str, regex: bool, types: list[str] | None, agent: str | None, model: str | None,
           tool: str | None, file: str | None, status: list[str] | None, session: str | None, since: str | None,
           until: str | None, limit: int, context: int, reindex: bool, json_out: bool, repo: Path | None) -> int:
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
