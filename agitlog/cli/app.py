"""The typer application: every command is registered here, in one place. Each command function
(agitlog.cli.commands.*) reads its options, calls one core function and renders what comes back."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Callable

import typer
import typer.core

from agitlog.cli.commands import export, inspect, reexecute, record, team

# Help is rendered by click, plainly (rich_markup_mode=None). typer still escapes "[default: ...]" and
# "[required]" for rich markup whenever rich is installed, which shows up as "\\[required]": tell it
# rich is absent, so the brackets stay as click writes them (tests/test_cli.py checks every help screen).
typer.core.HAS_RICH = False

_EXTRA_ARGS = {"allow_extra_args": True, "ignore_unknown_options": True}

# name -> (function, context settings), in the order help lists them; "group sub" is a subcommand.
COMMANDS: dict[str, tuple[Callable[..., Any], dict[str, Any] | None]] = {
    # commands that record
    "run": (record.run_cmd, _EXTRA_ARGS), "emit": (record.emit_cmd, _EXTRA_ARGS),
    "recover": (record.recover_cmd, None), "demo": (record.demo_cmd, None), "version": (record.version_cmd, None),
    "hook": (record.hook_cmd, _EXTRA_ARGS),
    # commands that read sessions
    "log": (inspect.log_cmd, None), "show": (inspect.show_cmd, None), "replay": (inspect.replay_cmd, None),
    "diff": (inspect.diff_cmd, None), "checkout": (inspect.checkout_cmd, None), "state": (inspect.state_cmd, None),
    "blame": (inspect.blame_cmd, None), "search": (inspect.search_cmd, None),
    # commands that re-execute or compare runs
    "rerun": (reexecute.rerun_cmd, None), "compare": (reexecute.compare_cmd, None),
    "bisect": (reexecute.bisect_cmd, _EXTRA_ARGS),
    # commands that move or manage sessions
    "push": (team.push_cmd, None), "fetch": (team.fetch_cmd, None),
    "remote setup": (team.remote_setup_cmd, None), "remote remove": (team.remote_remove_cmd, None),
    "bundle": (team.bundle_cmd, None), "import": (team.import_cmd, None), "scan": (team.scan_cmd, None),
    "hooks install": (team.hooks_install_cmd, None), "hooks uninstall": (team.hooks_uninstall_cmd, None),
    "hooks status": (team.hooks_status_cmd, None),
    "rm": (team.rm_cmd, None), "gc": (team.gc_cmd, None),
    # commands that take sessions out of agitlog
    "export": (export.export_cmd, None),
}
HIDDEN = frozenset({"hook"})  # agents' hooks call it; not for people
GROUPS = {
    "remote": "Make plain `git fetch` / `git push` carry sessions.",
    "hooks": "Git hooks that link your commits to recorded sessions.",
}


def _print_version(value: bool) -> None:
    if value:
        record.version_cmd()
        raise typer.Exit()


def _options(
    version: Annotated[bool, typer.Option("--version", is_eager=True, callback=_print_version,
                                          help="Print agitlog's version and exit.")] = False,
) -> None:
    """A git-native flight recorder for AI agents: record, replay, search and share agent sessions."""


def build_app(only: str | None = None) -> typer.Typer:
    """The application with every command, or (``only``) with just the command or group a command
    line names: typer inspects the signature of every command it registers, which costs every
    command tens of milliseconds of start-up; `agitlog log` needs only `log` to be inspected."""
    root = typer.Typer(
        name="agitlog", no_args_is_help=True, add_completion=False, rich_markup_mode=None,
        help="A git-native flight recorder for AI agents: record, replay, search and share agent sessions.",
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    root.callback()(_options)
    groups: dict[str, typer.Typer] = {}
    for name, (function, settings) in COMMANDS.items():
        group, _, sub = name.rpartition(" ")
        if only is not None and (group or sub) != only:
            continue
        if group and group not in groups:
            groups[group] = typer.Typer(no_args_is_help=True, help=GROUPS[group])
            root.add_typer(groups[group], name=group)
        (groups[group] if group else root).command(sub, context_settings=settings, hidden=name in HIDDEN)(function)
    return root


def app_for(args: Sequence[str]) -> typer.Typer:
    """The application to parse ``args`` with: only the named command's when it names one."""
    name = args[0] if args else ""
    known = {command.split(" ")[0] for command in COMMANDS}
    return build_app(name) if name in known else build_app()


app = build_app()  # every command: what help lists and what tests walk
