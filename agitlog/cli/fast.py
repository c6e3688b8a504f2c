"""Typer-free parsing for the hot-path commands (`run`, `emit`); anything else, and any --help,
goes to the typer app."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from agitlog.errors import UsageError

RUN_FLAGS = {"--capture-output": "capture_output", "--no-auto": "no_auto", "--quiet": "quiet", "-q": "quiet"}
RUN_OPTIONS = {"--name": "name", "--agent": "agent", "-n": "name"}


def dispatch(args: list[str]) -> int | None:
    """Handle `run` here; None means "let the full CLI do it"."""
    if not args or args[0] != "run":
        return None
    options_part = args[1: args.index("--")] if "--" in args else args[1:2]
    if any(a in ("--help", "-h") for a in options_part) or len(args) == 1:
        return None
    return run_command(args[1:])


def parse_run_args(args: list[str]) -> tuple[dict[str, object], list[str]]:
    """Options up to `--` (or the first word that is not an option), then the command."""
    options: dict[str, object] = {"name": None, "agent": None, "capture_output": False, "no_auto": False,
                                 "quiet": False}
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            return options, args[i + 1:]
        key, _, inline = arg.partition("=")
        if key in RUN_FLAGS and not inline:
            options[RUN_FLAGS[key]] = True
        elif key in RUN_OPTIONS:
            if inline:
                options[RUN_OPTIONS[key]] = inline
            elif i + 1 < len(args):
                i += 1
                options[RUN_OPTIONS[key]] = args[i]
            else:
                raise UsageError(f"{key} needs a value")
        elif arg.startswith("-"):
            raise UsageError(f"unknown option for run: {arg}", hint="see `agitlog run --help`")
        else:
            return options, args[i:]
        i += 1
    return options, []


def run_command(args: list[str]) -> int:
    from agitlog.runner import run_recorded

    options, command = parse_run_args(args)
    result = run_recorded(
        command=command, cwd=Path(os.getcwd()), name=options["name"], agent=options["agent"],  # type: ignore[arg-type]
        capture_output=bool(options["capture_output"]), auto_capture=not options["no_auto"],
    )
    if not options["quiet"]:
        sys.stderr.write(f"agitlog: recorded session {result.session_id} ({result.status}, exit {result.exit_code},"
                         f" {result.steps} steps) - `agitlog show {result.session_id}`\n")
    return result.exit_code
