"""Commands that record: run, emit, recover, demo, version."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from agitlog.cli.options import JsonOption, RepoOption, open_repo, views
from agitlog.constants import VERSION


def run_cmd(
    ctx: typer.Context,
    name: Annotated[Optional[str], typer.Option("--name", "-n", help="A name for the session.")] = None,
    agent: Annotated[Optional[str], typer.Option("--agent", help="The agent's name (default: main).")] = None,
    capture_output: Annotated[bool, typer.Option("--capture-output", help="Also record stdout/stderr.")] = False,
    no_auto: Annotated[bool, typer.Option("--no-auto", help="Do not capture LLM calls automatically.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No summary line when the run ends.")] = False,
    adapter: Annotated[Optional[str], typer.Option(
        "--adapter", help="Agent adapter: claude, or none (default: chosen by the command's name).")] = None,
) -> int:
    """Run a command and record it as a session: agitlog run [OPTIONS] -- COMMAND [ARGS...]"""
    from agitlog.cli.hotpath import run_command

    flags = ["--capture-output"] * capture_output + ["--no-auto"] * no_auto + ["--quiet"] * quiet
    named = (["--name", name] if name else []) + (["--agent", agent] if agent else []) + (
        ["--adapter", adapter] if adapter else [])
    return run_command([*flags, *named, "--", *ctx.args])


def emit_cmd(
    ctx: typer.Context,
    event_type: Annotated[str, typer.Argument(metavar="TYPE", help="Event type: decision, tool.call, log, ...")],
    data: Annotated[Optional[str], typer.Option("--data", "-d", help="Event data as a JSON object.")] = None,
    snapshot: Annotated[bool, typer.Option("--snapshot", help="Snapshot the worktree first; prints the step commit.")] = False,
) -> int:
    """Record an event into the current session from a shell: agitlog emit TYPE [--data JSON] [key=value ...]"""
    from agitlog.cli.hotpath import emit_command

    return emit_command([event_type, *(["--data", data] if data else []), *(["--snapshot"] * snapshot), *ctx.args])


def recover_cmd(json_out: JsonOption = False, repo: RepoOption = None) -> int:
    """Finish sessions whose recorder was killed, as status `crashed` (other commands do this too)."""
    from agitlog.store.recovery import recover_sessions

    report = recover_sessions(open_repo(repo))
    views.render_recovered(report, json_out=json_out)
    return 1 if report.problems else 0


def demo_cmd(
    directory: Annotated[Optional[Path], typer.Argument(help="Where to create the demo repository.")] = None,
) -> int:
    """Record the bundled payment-reminder agent in a fresh demo repository (offline, no API key)."""
    from agitlog.demo import run_demo

    result = run_demo(directory=directory)
    views.render_demo(result)
    return 0


def hook_cmd(
    ctx: typer.Context,
    agent: Annotated[str, typer.Argument(help="claude, codex or gemini.")],
) -> int:
    """What a coding agent's hooks run under `agitlog run` (set up by its adapter; see docs/agents.md):
    reads the hook's JSON, records it, prints nothing, always exits 0."""
    from agitlog.capture.adapters.hook import run_hook

    return run_hook([agent, *ctx.args])


def import_agent(agent: str, *, since: str | None, json_out: bool, repo: Path | None) -> int:
    """`agitlog import AGENT`: the agent's transcripts of this repository become sessions."""
    from agitlog.capture.importers import import_agent as run_import
    from agitlog.query.listing import parse_since

    results = run_import(open_repo(repo), agent=agent, since=parse_since(since) if since else None)
    views.render_agent_import(agent, results, json_out=json_out)
    return 0


def version_cmd() -> int:
    """Print agitlog's version."""
    typer.echo(f"agitlog {VERSION}")
    return 0
