"""The typer application: every command is registered here, in one place. Each command function
(agitlog.cli.commands.*) reads its options, calls one core function and renders what comes back."""
from __future__ import annotations

from typing import Annotated

import typer
import typer.core

from agitlog.cli.commands import inspect, reexecute, record, team

# Help is rendered by click, plainly (rich_markup_mode=None). typer still escapes "[default: ...]" and
# "[required]" for rich markup whenever rich is installed, which shows up as "\\[required]": tell it
# rich is absent, so the brackets stay as click writes them (tests/test_cli.py checks every help screen).
typer.core.HAS_RICH = False

app = typer.Typer(
    name="agitlog", no_args_is_help=True, add_completion=False, rich_markup_mode=None,
    help="A git-native flight recorder for AI agents: record, replay, search and share agent sessions.",
    context_settings={"help_option_names": ["-h", "--help"]},
)
remote_app = typer.Typer(no_args_is_help=True, help="Make plain `git fetch` / `git push` carry sessions.")
hooks_app = typer.Typer(no_args_is_help=True, help="Git hooks that link your commits to recorded sessions.")
app.add_typer(remote_app, name="remote")
app.add_typer(hooks_app, name="hooks")


def _print_version(value: bool) -> None:
    if value:
        record.version_cmd()
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[bool, typer.Option("--version", is_eager=True, callback=_print_version,
                                          help="Print agitlog's version and exit.")] = False,
) -> None:
    """A git-native flight recorder for AI agents: record, replay, search and share agent sessions."""


# commands that record
app.command("run", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(record.run_cmd)
app.command("emit", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(record.emit_cmd)
app.command("recover")(record.recover_cmd)
app.command("demo")(record.demo_cmd)
app.command("version")(record.version_cmd)

# commands that read sessions
app.command("log")(inspect.log_cmd)
app.command("show")(inspect.show_cmd)
app.command("replay")(inspect.replay_cmd)
app.command("diff")(inspect.diff_cmd)
app.command("checkout")(inspect.checkout_cmd)
app.command("state")(inspect.state_cmd)
app.command("blame")(inspect.blame_cmd)
app.command("search")(inspect.search_cmd)

# commands that re-execute or compare runs
app.command("rerun")(reexecute.rerun_cmd)
app.command("compare")(reexecute.compare_cmd)
app.command("bisect", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(reexecute.bisect_cmd)

# commands that move or manage sessions
app.command("push")(team.push_cmd)
app.command("fetch")(team.fetch_cmd)
remote_app.command("setup")(team.remote_setup_cmd)
remote_app.command("remove")(team.remote_remove_cmd)
app.command("bundle")(team.bundle_cmd)
app.command("import")(team.import_cmd)
hooks_app.command("install")(team.hooks_install_cmd)
hooks_app.command("uninstall")(team.hooks_uninstall_cmd)
hooks_app.command("status")(team.hooks_status_cmd)
app.command("rm")(team.rm_cmd)
app.command("gc")(team.gc_cmd)
