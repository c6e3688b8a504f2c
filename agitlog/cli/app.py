"""The typer application: every command is registered here, each reads its options, calls one core
function and renders what comes back (agitlog.cli.views)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from agitlog import git
from agitlog.constants import STATUSES, VERSION


class _OnFirstUse:
    """A module imported when a command first renders with it: every command pays at start-up for
    the app's definition, so each pays only for the rendering it does."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> object:
        import importlib

        return getattr(importlib.import_module(self._name), attribute)


views = _OnFirstUse("agitlog.cli.views")
team_views = _OnFirstUse("agitlog.cli.team_views")

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


# --- teamwork (issue 6): push, fetch, remote, bundle, import, bisect, hooks, blame, search, rm, gc ---


remote_app = typer.Typer(no_args_is_help=True, help="Make plain `git fetch` / `git push` carry sessions.")
hooks_app = typer.Typer(no_args_is_help=True, help="Git hooks that link your commits to recorded sessions.")
app.add_typer(remote_app, name="remote")
app.add_typer(hooks_app, name="hooks")

TargetsArg = Annotated[Optional[list[str]], typer.Argument(
    help="[REMOTE] [SESSION...]: a remote name, URL or path first (default: [share] remote, else origin), "
         "then session ids or prefixes (default: all).")]


@app.command("push")
def push_cmd(targets: TargetsArg = None, json_out: JsonOption = False, repo: RepoOption = None) -> int:
    """Send sessions (refs/agent-sessions/*) to a remote; branches and tags are never pushed."""
    from agitlog.share import push_sessions, split_remote_and_sessions

    where = open_repo(repo)
    remote, sessions = split_remote_and_sessions(where, targets or [])
    result = push_sessions(where, remote=remote, sessions=sessions)
    team_views.render_push(result, json_out=json_out)
    return 1 if result.rejected else 0


@app.command("fetch")
def fetch_cmd(targets: TargetsArg = None, json_out: JsonOption = False, repo: RepoOption = None) -> int:
    """Get teammates' sessions from a remote (`git clone` alone does not bring them)."""
    from agitlog.share import fetch_sessions, split_remote_and_sessions

    where = open_repo(repo)
    remote, sessions = split_remote_and_sessions(where, targets or [])
    team_views.render_fetch(fetch_sessions(where, remote=remote, sessions=sessions), json_out=json_out)
    return 0


RemoteArg = Annotated[Optional[str], typer.Argument(help="Remote name (default: [share] remote, else origin).")]


@remote_app.command("setup")
def remote_setup_cmd(
    remote: RemoteArg = None,
    no_push: Annotated[bool, typer.Option("--no-push", help="Only fetch sessions; never push them along.")] = False,
    remove: Annotated[bool, typer.Option("--remove", help="Undo: stop carrying sessions.")] = False,
    json_out: JsonOption = False,
    repo: RepoOption = None,
) -> int:
    """Add the session refspec to the remote's config (idempotent) and enable pushing along."""
    from agitlog.share import setup_remote

    result = setup_remote(open_repo(repo), remote=remote, push=not no_push, remove=remove)
    team_views.render_remote_setup(result, json_out=json_out)
    return 0


@remote_app.command("remove")
def remote_remove_cmd(remote: RemoteArg = None, json_out: JsonOption = False, repo: RepoOption = None) -> int:
    """Undo `agitlog remote setup` (same as `remote setup --remove`)."""
    from agitlog.share import setup_remote

    team_views.render_remote_setup(setup_remote(open_repo(repo), remote=remote, remove=True), json_out=json_out)
    return 0


@app.command("bundle")
def bundle_cmd(
    sessions: Annotated[Optional[list[str]], typer.Argument(help="Session ids or prefixes (default: all).")] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="The bundle file to write.")] = Path("sessions.bundle"),
    full: Annotated[bool, typer.Option("--full", help="Include all history, even what the remote already has.")] = False,
    json_out: JsonOption = False,
    repo: RepoOption = None,
) -> int:
    """Write sessions to one file (a git bundle) to attach to a ticket; `agitlog import` reads it."""
    from agitlog.share import create_bundle

    result = create_bundle(open_repo(repo), output=output, sessions=sessions or [], full=full)
    team_views.render_bundle(result, json_out=json_out)
    return 0


@app.command("import")
def import_cmd(
    bundle: Annotated[Path, typer.Argument(help="A bundle written by `agitlog bundle`.")],
    json_out: JsonOption = False,
    repo: RepoOption = None,
) -> int:
    """Add the sessions of a bundle to this repository (only its refs/agent-sessions/*)."""
    from agitlog.share import import_bundle

    team_views.render_fetch(import_bundle(open_repo(repo), path=bundle), json_out=json_out)
    return 0


@app.command("bisect", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def bisect_cmd(
    ctx: typer.Context,
    keep: Annotated[bool, typer.Option("--keep-worktree", help="Leave the temporary worktree for inspection.")] = False,
    json_out: JsonOption = False,
    repo: RepoOption = None,
) -> int:
    """Which step of a session (default: the latest) broke CMD: agitlog bisect [SESSION] -- CMD [ARGS...]"""
    from agitlog.bisect import bisect_session

    session, command = _split_bisect_args(ctx.args)
    result = bisect_session(open_repo(repo), session=session, command=command, keep_worktree=keep)
    team_views.render_bisect(result, json_out=json_out)
    return 0 if result.outcome in ("found", "ambiguous") else 1


def _split_bisect_args(args: list[str]) -> tuple[str | None, list[str]]:
    """click drops `--`, so look at the command line as typed: SESSION is what comes before it."""
    import sys

    raw = sys.argv[1:]
    if "bisect" in raw and "--" in raw[raw.index("bisect"):]:
        before = raw[raw.index("bisect") + 1: raw.index("--", raw.index("bisect"))]
        words = [w for i, w in enumerate(before) if not w.startswith("-") and (i == 0 or before[i - 1] != "--repo")]
        return (words[0] if words else None), args[len(words[:1]):]
    return None, args


@hooks_app.command("install")
def hooks_install_cmd(json_out: JsonOption = False, repo: RepoOption = None) -> int:
    """Install prepare-commit-msg (adds `Agent-Session: <id>`) and pre-push; existing hooks keep running."""
    from agitlog.githooks import install_hooks

    team_views.render_hooks(install_hooks(open_repo(repo)), json_out=json_out)
    return 0


@hooks_app.command("uninstall")
def hooks_uninstall_cmd(json_out: JsonOption = False, repo: RepoOption = None) -> int:
    """Remove agitlog's hooks and restore the ones that were there before."""
    from agitlog.githooks import uninstall_hooks

    team_views.render_hooks(uninstall_hooks(open_repo(repo)), json_out=json_out)
    return 0


@hooks_app.command("status")
def hooks_status_cmd(json_out: JsonOption = False, repo: RepoOption = None) -> int:
    """Which agitlog hooks are installed."""
    from agitlog.githooks import hooks_status

    team_views.render_hooks_status(hooks_status(open_repo(repo)), json_out=json_out)
    return 0


@app.command("blame")
def blame_cmd(
    file: Annotated[Path, typer.Argument(help="The file to blame.")],
    rev: Annotated[Optional[str], typer.Option("--rev", help="Blame as of this commit (default: the worktree).")] = None,
    json_out: JsonOption = False,
    repo: RepoOption = None,
) -> int:
    """git blame, plus the session, step, agent and decision behind each line an agent wrote."""
    from agitlog.blame import blame_file

    team_views.render_blame(blame_file(open_repo(repo), path=file, rev=rev), json_out=json_out)
    return 0


@app.command("search")
def search_cmd(
    pattern: Annotated[str, typer.Argument(help="Text to find (case-insensitive), or a regex with -E.")],
    regex: Annotated[bool, typer.Option("--regex", "-E", help="PATTERN is a Python regular expression.")] = False,
    types: Annotated[Optional[list[str]], typer.Option("--type", "-t", help="Only these event types (llm matches llm.*).")] = None,
    agent: Annotated[Optional[str], typer.Option("--agent", help="Only events of this agent.")] = None,
    model: Annotated[Optional[str], typer.Option("--model", help="Only events naming this model.")] = None,
    tool: Annotated[Optional[str], typer.Option("--tool", help="Only tool events of this tool.")] = None,
    file: Annotated[Optional[str], typer.Option("--file", help="Only sessions whose steps wrote this path (or under it).")] = None,
    status: Annotated[Optional[list[str]], typer.Option("--status", help=f"Only sessions with this status: {', '.join(STATUSES)}.")] = None,
    session: Annotated[Optional[str], typer.Option("--session", "-s", help="Only this session (id or prefix).")] = None,
    since: Annotated[Optional[str], typer.Option("--since", help='Only events since, e.g. "7d", "2026-11-01".')] = None,
    until: Annotated[Optional[str], typer.Option("--until", help="Only events before this time.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=0, help="At most this many matches (0: all).")] = 100,
    context: Annotated[int, typer.Option("--context", "-C", min=0, help="Show N events around each match.")] = 0,
    reindex: Annotated[bool, typer.Option("--reindex", help="Rebuild the index from the refs first.")] = False,
    json_out: JsonOption = False,
    repo: RepoOption = None,
) -> int:
    """Find text in every session: prompts, responses, tool calls and results, decisions, state, errors."""
    from agitlog.query import parse_since
    from agitlog.search import SearchFilters, search_sessions

    filters = SearchFilters(types=types or (), agent=agent, model=model, tool=tool, file=file, status=status or (),
                            session=session, since=parse_since(since) if since else None,
                            until=parse_since(until) if until else None)
    result = search_sessions(open_repo(repo), pattern=pattern, regex=regex, filters=filters, limit=limit or None,
                             context=context, reindex=reindex)
    team_views.render_search(result, json_out=json_out)
    return 0 if result.hits else 1


@app.command("rm")
def rm_cmd(
    sessions: Annotated[list[str], typer.Argument(help="Session ids or unique prefixes.")],
    remote: Annotated[Optional[str], typer.Option("--remote", help="Also delete them on this remote.")] = None,
    json_out: JsonOption = False,
    repo: RepoOption = None,
) -> int:
    """Delete sessions (their refs); `git gc` later reclaims the space."""
    from agitlog.retention import rm_sessions

    team_views.render_rm(rm_sessions(open_repo(repo), sessions=sessions, remote=remote), json_out=json_out)
    return 0


@app.command("gc")
def gc_cmd(
    older_than: Annotated[Optional[str], typer.Option("--older-than", help='Remove sessions started before, e.g. "90d".')] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say what would be removed.")] = False,
    no_keep_adopted: Annotated[bool, typer.Option("--no-keep-adopted", help="Remove old sessions even if a branch adopted their steps.")] = False,
    json_out: JsonOption = False,
    repo: RepoOption = None,
) -> int:
    """Remove old sessions (keeping those a branch adopted) and pack session refs."""
    from agitlog.query import parse_since
    from agitlog.retention import gc_sessions

    result = gc_sessions(open_repo(repo), older_than=parse_since(older_than) if older_than else None,
                         dry_run=dry_run, keep_adopted=not no_keep_adopted)
    team_views.render_gc(result, json_out=json_out)
    return 0
