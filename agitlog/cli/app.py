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


@app.command("recover")
def recover_cmd(json_out: JsonOption = False, repo: RepoOption = None) -> int:
    """Finish sessions whose recorder was killed, as status `crashed` (other commands do this too)."""
    from agitlog.session import recover_sessions

    recovered = recover_sessions(open_repo(repo))
    views.render_recovered(recovered, json_out=json_out)
    return 0


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


# --- teamwork (issue 6): push, fetch, remote, bundle, import, bisect, hooks, blame, search, rm, gc ---

from agitlog.cli import team_views  # noqa: E402

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
