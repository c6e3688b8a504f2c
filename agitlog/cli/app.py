"""The typer application: every command is registered here, each reads its options, calls one core
function and renders what comes back (agitlog.cli.views)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from agitlog import git
from agitlog.cli import views
from agitlog.constants import STATUSES, VERSION

app = typer.Typer(
    name="agitlog", no_args_is_help=True, add_completion=False, rich_markup_mode=None,
    help="A git-native flight recorder for AI agents: record, replay, search and share agent sessions.",
    context_settings={"help_option_names": ["-h", "--help"]},
)

RepoOption = Annotated[Optional[Path], typer.Option("--repo", help="Repository to use (default: the current one).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
SessionArg = Annotated[Optional[str], typer.Argument(help="Session id or unique prefix (default: the latest).")]


def open_repo(repo: Path | None) -> git.Repo:
    return git.find_repo((repo or Path(os.getcwd())).absolute())


@app.command("run", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def run_cmd(
    ctx: typer.Context,
    name: Annotated[Optional[str], typer.Option("--name", "-n", help="A name for the session.")] = None,
    agent: Annotated[Optional[str], typer.Option("--agent", help="The agent's name (default: main).")] = None,
    capture_output: Annotated[bool, typer.Option("--capture-output", help="Also record stdout/stderr.")] = False,
    no_auto: Annotated[bool, typer.Option("--no-auto", help="Do not capture LLM calls automatically.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No summary line when the run ends.")] = False,
) -> int:
    """Run a command and record it as a session: agitlog run [OPTIONS] -- COMMAND [ARGS...]"""
    from agitlog.cli.fast import run_command

    flags = ["--capture-output"] * capture_output + ["--no-auto"] * no_auto + ["--quiet"] * quiet
    named = (["--name", name] if name else []) + (["--agent", agent] if agent else [])
    return run_command([*flags, *named, "--", *ctx.args])


@app.command("emit", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def emit_cmd(
    ctx: typer.Context,
    event_type: Annotated[str, typer.Argument(metavar="TYPE", help="Event type: decision, tool.call, log, ...")],
    data: Annotated[Optional[str], typer.Option("--data", "-d", help="Event data as a JSON object.")] = None,
    snapshot: Annotated[bool, typer.Option("--snapshot", help="Snapshot the worktree first; prints the step commit.")] = False,
) -> int:
    """Record an event into the current session from a shell: agitlog emit TYPE [--data JSON] [key=value ...]"""
    from agitlog.cli.fast import emit_command

    return emit_command([event_type, *(["--data", data] if data else []), *(["--snapshot"] * snapshot), *ctx.args])


@app.command("log")
def log_cmd(
    limit: Annotated[Optional[int], typer.Option("--limit", "-n", min=1, help="At most this many sessions.")] = None,
    status: Annotated[Optional[list[str]], typer.Option("--status", help=f"Only these statuses: {', '.join(STATUSES)}.")] = None,
    since: Annotated[Optional[str], typer.Option("--since", help='Only sessions started since, e.g. "7d", "2026-11-01".')] = None,
    agent: Annotated[Optional[str], typer.Option("--agent", help="Only sessions of this agent.")] = None,
    json_out: JsonOption = False,
    repo: RepoOption = None,
) -> int:
    """One row per recorded session, newest first."""
    from agitlog.query import parse_since, session_rows

    rows = session_rows(open_repo(repo), limit=limit, status=status or (), agent=agent,
                        since=parse_since(since) if since else None)
    views.render_log(rows, json_out=json_out)
    return 0


@app.command("show")
def show_cmd(
    session: SessionArg = None,
    types: Annotated[Optional[list[str]], typer.Option("--type", "-t", help="Only events of this type (llm matches llm.*).")] = None,
    json_out: JsonOption = False,
    repo: RepoOption = None,
) -> int:
    """A session's metadata, then every event in order with the step commit it produced."""
    from agitlog.query import show_session

    view = show_session(open_repo(repo), session, types=types or ())
    views.render_show(view, json_out=json_out)
    return 0


@app.command("rerun")
def rerun_cmd(
    session: SessionArg = None,
    on_divergence: Annotated[str, typer.Option("--on-divergence", help="fail | live | nearest")] = "fail",
    live_from: Annotated[Optional[int], typer.Option("--live-from", min=0, help="Replay up to step N, then call the real model.")] = None,
    replay_tools: Annotated[bool, typer.Option("--replay-tools", help="Tools wrapped by agitlog.tool return their recorded results.")] = False,
    keep: Annotated[bool, typer.Option("--keep", help="Keep the temporary worktree and print where it is.")] = False,
    json_out: JsonOption = False,
    repo: RepoOption = None,
) -> int:
    """Re-execute a session with the recorded model answers, in a temporary worktree of its step 0."""
    from agitlog.rerun import rerun_session

    result = rerun_session(open_repo(repo), query=session, on_divergence=on_divergence, live_from=live_from,
                           replay_tools=replay_tools, keep_worktree=keep, agent_stdout_to_stderr=json_out)
    views.render_rerun(result, json_out=json_out)
    return 0 if result.reproduced else 1


@app.command("compare")
def compare_cmd(
    session_a: Annotated[str, typer.Argument(metavar="A", help="Session id or prefix.")],
    session_b: Annotated[str, typer.Argument(metavar="B", help="Session id or prefix.")],
    json_out: JsonOption = False,
    repo: RepoOption = None,
) -> int:
    """Where two sessions diverge: the first differing event, what differs, and the diff of their final trees."""
    from agitlog.compare import compare_sessions
    from agitlog.store import list_sessions, resolve_session

    repository = open_repo(repo)
    sessions = list_sessions(repository)
    comparison = compare_sessions(repository, resolve_session(repository, session_a, sessions),
                                  resolve_session(repository, session_b, sessions))
    views.render_compare(comparison, json_out=json_out)
    return 0 if comparison.identical else 1


@app.command("recover")
def recover_cmd(json_out: JsonOption = False, repo: RepoOption = None) -> int:
    """Finish sessions whose recorder was killed, as status `crashed` (other commands do this too)."""
    from agitlog.session import recover_sessions

    report = recover_sessions(open_repo(repo))
    views.render_recovered(report, json_out=json_out)
    return 1 if report.problems else 0


@app.command("demo")
def demo_cmd(
    directory: Annotated[Optional[Path], typer.Argument(help="Where to create the demo repository.")] = None,
) -> int:
    """Record the bundled payment-reminder agent in a fresh demo repository (offline, no API key)."""
    from agitlog.demo import run_demo

    result = run_demo(directory=directory)
    views.render_demo(result)
    return 0


@app.command("version")
def version_cmd() -> int:
    """Print agitlog's version."""
    typer.echo(f"agitlog {VERSION}")
    return 0


# --- replay (issue 5) -----------------------------------------------------------------------------

AtOption = Annotated[Optional[int], typer.Option("--at", min=0, help="Event number (the # column of `agitlog show`).")]
StepOption = Annotated[Optional[int], typer.Option("--step", min=0, help="Step number (0: the worktree before the run).")]


@app.command("replay")
def replay_cmd(
    session: SessionArg = None,
    at: AtOption = None,
    plain: Annotated[bool, typer.Option("--plain", help="A linear text document instead of the viewer.")] = False,
    diffs: Annotated[bool, typer.Option("--diffs", help="With --plain: include each step's diff.")] = False,
    json_out: JsonOption = False,
    repo: RepoOption = None,
) -> int:
    """Walk a session: a full-screen viewer on a terminal, a readable text document in pipes."""
    import sys

    from agitlog.cli import replay_views
    from agitlog.cli.output import is_tty
    from agitlog.replay import load_replay

    opened = open_repo(repo)
    replay = load_replay(opened, session=session, at=at)
    if json_out:
        replay_views.render_replay_json(replay, start=replay.start)
    elif plain or not (is_tty() and is_tty(sys.stdin)):
        from agitlog.diffs import replay_diffs

        step_diffs = replay_diffs(opened, replay=replay) if diffs else None
        replay_views.write_lines(replay_views.replay_document(replay, start=replay.start, diffs=step_diffs))
    else:
        from agitlog.cli.replay_app import run_viewer

        return run_viewer(opened, replay)
    return 0


@app.command("diff")
def diff_cmd(
    session: SessionArg = None,
    step: StepOption = None,
    step_range: Annotated[Optional[str], typer.Option("--range", help="Steps A..B (either end may be left out).")] = None,
    stat: Annotated[bool, typer.Option("--stat", help="Per-file counts only.")] = False,
    name_only: Annotated[bool, typer.Option("--name-only", help="Changed paths only.")] = False,
    json_out: JsonOption = False,
    repo: RepoOption = None,
) -> int:
    """The diff a step produced (--step), a range of steps produced (--range), or the whole session."""
    from agitlog.cli.replay_views import render_diff
    from agitlog.diffs import session_diff

    result = session_diff(open_repo(repo), session=session, step=step, step_range=step_range)
    render_diff(result, stat=stat, name_only=name_only, json_out=json_out)
    return 0


@app.command("checkout")
def checkout_cmd(
    args: Annotated[Optional[list[str]], typer.Argument(metavar="[SESSION] [DIR]", show_default=False,
                                                           help="With one argument: a session if it names one, else DIR.")] = None,
    step: Annotated[int, typer.Option("--step", min=0, help="Step number to materialise.")] = ...,  # type: ignore[assignment]
    export: Annotated[bool, typer.Option("--export", help="A plain copy of the files, not a git worktree.")] = False,
    here: Annotated[bool, typer.Option("--here", help="Into your own worktree (it must be clean); detaches HEAD.")] = False,
    json_out: JsonOption = False,
    repo: RepoOption = None,
) -> int:
    """The worktree as it was at a step, in a directory of its own (never your worktree without --here)."""
    from agitlog.checkout import checkout_step, split_checkout_args
    from agitlog.cli.replay_views import render_checkout

    opened = open_repo(repo)
    session, directory = split_checkout_args(opened, list(args or []), here=here)
    mode = "here" if here else "export" if export else "worktree"
    result = checkout_step(opened, session=session, step=step, directory=directory, mode=mode)
    render_checkout(result, json_out=json_out)
    return 0


@app.command("state")
def state_cmd(
    session: SessionArg = None,
    at: AtOption = None,
    json_out: JsonOption = False,
    repo: RepoOption = None,
) -> int:
    """What the agent knew at event N: conversation, merged state, last decision, open spans, files changed."""
    from agitlog.cli.replay_views import render_state
    from agitlog.timetravel import session_state

    render_state(session_state(open_repo(repo), session=session, at=at), json_out=json_out)
    return 0
