"""Commands that re-execute or compare runs: rerun, compare, bisect."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from agitlog.cli.options import (JsonOption, NameOption, NoPagerOption, PatchOption, RepoOption, SessionArg,
                                 open_repo, read_input_file, team_views, views)
from agitlog.cli.pager import paged


def rerun_cmd(
    session: SessionArg = None,
    on_divergence: Annotated[str, typer.Option("--on-divergence", help="fail | live | nearest")] = "fail",
    live_from: Annotated[Optional[int], typer.Option("--live-from", min=0, help="Replay up to step N, then call the real model.")] = None,
    replay_tools: Annotated[bool, typer.Option("--replay-tools", help="Tools wrapped by agitlog.tool return their recorded results.")] = False,
    keep: Annotated[bool, typer.Option("--keep", help="Keep the temporary worktree and print where it is.")] = False,
    patch: PatchOption = False,
    code: Annotated[Optional[str], typer.Option("--code", metavar="REV|.", help="Run your edited code (the worktree `.`, or a revision) against the recorded answers.")] = None,
    fork_at: Annotated[Optional[int], typer.Option("--fork-at", min=0, metavar="CALL", help="Recorded answers before model call CALL (from 0), the real model from there on.")] = None,
    answer: Annotated[Optional[Path], typer.Option("--answer", metavar="FILE", help="With --fork-at: serve this response body at CALL instead (JSON, or server-sent events).")] = None,
    request: Annotated[Optional[Path], typer.Option("--request", metavar="FILE", help="With --fork-at: send this request body (JSON) to the real model at CALL instead of the agent's.")] = None,
    edit: Annotated[Optional[list[str]], typer.Option("--edit", metavar="PATH=VALUE", help="With --fork-at: set a field of the agent's request at CALL before it goes to the real model (repeatable).")] = None,
    trust: Annotated[bool, typer.Option("--trust", help="Run a session recorded elsewhere (fetched, imported): its command runs as you.")] = False,
    name: NameOption = None,
    json_out: JsonOption = False,
    no_pager: NoPagerOption = False,
    repo: RepoOption = None,
) -> int:
    """Re-execute a session with the recorded model answers, in a sealed sandbox like its step 0."""
    from functools import partial

    from agitlog.rerun.reexecute import UntrustedSessionError, request_edit, rerun_session

    fork_request = request_edit(body=read_input_file(request) if request else None, edits=edit or [])
    rerun = partial(rerun_session, open_repo(repo), query=session, on_divergence=on_divergence, live_from=live_from,
                    replay_tools=replay_tools, keep_worktree=keep, agent_stdout_to_stderr=json_out, code=code,
                    fork_at=fork_at, fork_answer=read_input_file(answer) if answer else None,
                    fork_request=fork_request, name=name)
    try:
        result = rerun(trust=trust)
    except UntrustedSessionError as untrusted:
        if json_out or not _confirm_foreign(untrusted):
            raise
        result = rerun(trust=True)
    with paged(enabled=not no_pager):
        views.render_rerun(result, json_out=json_out, patch=patch)
    if fork_at is not None:  # a fork is meant to differ: it succeeded when the run did
        return 0 if result.status == "ok" else 1
    return 0 if result.reproduced else 1


def _confirm_foreign(untrusted: Exception) -> bool:
    """On a terminal, show the command a foreign session would run and ask; elsewhere, never run it."""
    import sys

    from agitlog.cli.output import is_tty, safe

    if not (is_tty(sys.stdin) and is_tty(sys.stderr)):
        return False
    sys.stderr.write(f"agitlog: {safe(untrusted)}\n")
    sys.stderr.write("Run this command? [y/N] ")
    sys.stderr.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def compare_cmd(
    session_a: Annotated[str, typer.Argument(metavar="A", help="Session id, prefix or name.")],
    session_b: Annotated[str, typer.Argument(metavar="B", help="Session id, prefix or name.")],
    patch: PatchOption = False,
    side_by_side: Annotated[bool, typer.Option("--side-by-side", "-y", help="Both runs' events from where they part, in two columns.")] = False,
    json_out: JsonOption = False,
    no_pager: NoPagerOption = False,
    repo: RepoOption = None,
) -> int:
    """Where two sessions diverge: the first differing event, what differs, and how their final trees differ."""
    from agitlog.query.compare import compare_named

    comparison = compare_named(open_repo(repo), session_a, session_b, with_patch=patch or json_out)
    with paged(enabled=not no_pager):
        views.render_compare(comparison, json_out=json_out, patch=patch, side_by_side=side_by_side)
    return 0 if comparison.identical else 1


def bisect_cmd(
    ctx: typer.Context,
    keep: Annotated[bool, typer.Option("--keep-worktree", help="Leave the temporary worktree for inspection.")] = False,
    patch: PatchOption = False,
    name: NameOption = None,
    json_out: JsonOption = False,
    no_pager: NoPagerOption = False,
    repo: RepoOption = None,
) -> int:
    """Which step of a session (default: the latest) broke CMD: agitlog bisect [SESSION] -- CMD [ARGS...]"""
    from agitlog.query.bisect import bisect_session

    session, command = _split_bisect_args(ctx.args)
    result = bisect_session(open_repo(repo), session=session, command=command, keep_worktree=keep, name=name)
    with paged(enabled=not no_pager):
        team_views.render_bisect(result, json_out=json_out, patch=patch)
    return 0 if result.outcome in ("found", "ambiguous") else 1


def _split_bisect_args(args: list[str]) -> tuple[str | None, list[str]]:
    """click drops `--`, so look at the command line as typed: SESSION is what comes before it."""
    import sys

    raw = sys.argv[1:]
    if "bisect" in raw and "--" in raw[raw.index("bisect"):]:
        before = raw[raw.index("bisect") + 1: raw.index("--", raw.index("bisect"))]
        words = [w for i, w in enumerate(before)
                 if not w.startswith("-") and (i == 0 or before[i - 1] not in ("--repo", "--name"))]
        return (words[0] if words else None), args[len(words[:1]):]
    return None, args
