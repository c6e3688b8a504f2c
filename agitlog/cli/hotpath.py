"""Typer-free parsing for the hot-path commands (`run`, `emit`, `version`/`--version`); anything else,
and any --help, goes to the typer app (importing typer and click alone costs ~50 ms)."""
from __future__ import annotations

import os
import sys

from agitlog.errors import UsageError

RUN_FLAGS = {"--capture-output": "capture_output", "--no-auto": "no_auto", "--quiet": "quiet", "-q": "quiet"}
RUN_OPTIONS = {"--name": "name", "--agent": "agent", "-n": "name", "--adapter": "adapter"}


def dispatch(args: list[str]) -> int | None:
    """Handle `run`, `emit`, `hook` and `version` here; None means "let the full CLI do it"."""
    if args in (["version"], ["--version"]):
        return version_command()
    if len(args) >= 2 and args[0] == "hook" and not {"--help", "-h"} & set(args[1:2]):
        from agitlog.capture.adapters.hook import run_hook

        return run_hook(args[1:])
    if len(args) < 2 or args[0] not in ("run", "emit"):
        return None
    own_words = args[1: args.index("--")] if "--" in args else args[1:]
    if args[0] == "run" and "--" not in args:
        own_words = _leading_options(own_words)
    if any(a in ("--help", "-h") for a in own_words):
        return None
    return run_command(args[1:]) if args[0] == "run" else emit_command(args[1:])


def _leading_options(args: list[str]) -> list[str]:
    """`run`'s own options end at the first word that is not one (the command)."""
    taken = []
    for arg in args:
        if not arg.startswith("-"):
            break
        taken.append(arg)
    return taken


def parse_run_args(args: list[str]) -> tuple[dict[str, object], list[str]]:
    """Options up to `--` (or the first word that is not an option), then the command."""
    options: dict[str, object] = {"name": None, "agent": None, "capture_output": False, "no_auto": False,
                                 "quiet": False, "adapter": None}
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
    options, command = parse_run_args(args)
    _check_recordable(options, command)
    here = os.getcwd()
    located, first_status = _start_step0_scan(here) if command else (None, None)
    from pathlib import Path  # after git started: every millisecond before that delays step 0

    cwd = Path(here)
    early = None
    if located is not None and first_status is not None:
        from agitlog.capture.adapters import choose_adapter
        from agitlog.capture.early import begin

        chosen = choose_adapter(command, options["adapter"])  # type: ignore[arg-type]  # an unknown one: refused here
        # The journal opens, start.json is written and step 0 goes on on a thread while the rest imports.
        early = begin(cwd, command, located=located, status=first_status, name=options["name"],  # type: ignore[arg-type]
                      agent=options["agent"], adapter_name=chosen.name if chosen is not None else None)  # type: ignore[arg-type]
    from agitlog.capture.runner import run_recorded  # imported while git writes step 0

    result = run_recorded(
        command=command, cwd=cwd, name=options["name"], agent=options["agent"],  # type: ignore[arg-type]
        capture_output=bool(options["capture_output"]), auto_capture=not options["no_auto"],
        adapter=options["adapter"], early=early,  # type: ignore[arg-type]
    )
    if result.warning:
        from agitlog.cli.output import safe  # only when something went wrong: keeps `run` light

        sys.stderr.write(f"agitlog: warning: {safe(result.warning)}\n")
    elif not options["quiet"]:
        from agitlog.capture.shim import shell_command

        steps = f"{result.steps} step" + ("" if result.steps == 1 else "s")
        sys.stderr.write(f"agitlog: recorded session {result.session_id} ({result.status}, exit {result.exit_code},"
                         f" {steps}) - `{shell_command('show', result.session_id)}`\n")
    return result.exit_code


def _check_recordable(options: dict[str, object], command: list[str]) -> None:
    """What session.toml can hold (the store's limits): a run that would read back damaged is
    refused before anything starts. The limits are loaded only when something is long."""
    name, agent = str(options["name"] or ""), str(options["agent"] or "")
    if len(command) <= 256 and max(len(name), len(agent), *(len(word) for word in command), 0) <= 256:
        return
    from agitlog.store.models import MAX_ITEMS, MAX_SHORT, MAX_TEXT

    for what, value, limit in (("--name", name, MAX_TEXT), ("--agent", agent, MAX_SHORT)):
        if len(value) > limit:
            raise UsageError(f"{what} is longer than {limit:,} characters")
    if len(command) > MAX_ITEMS:
        raise UsageError(f"the command has more than {MAX_ITEMS:,} arguments, more than a session records",
                         hint="pass them in a file, or run a script that holds them")
    if any(len(word) > MAX_TEXT for word in command):
        raise UsageError(f"a command argument is longer than {MAX_TEXT:,} characters, more than a session records")


def _start_step0_scan(cwd: str):  # -> (agitlog.git.Pending | None, agitlog.git.Pending | None)
    """Step 0's `git status`, and the `git rev-parse` that finds the repository and HEAD, started
    before agitlog's own modules load (they take longer): (locate, status). The status comes first,
    before even pathlib loads: it is the longest."""
    from agitlog import git
    from agitlog.errors import GitError

    try:
        status = git.start_worktree_status(cwd)
        return git.start_find_repo_and_head(cwd), status
    except GitError:
        return None, None  # no git: run_recorded says so


def parse_emit_args(args: list[str]) -> tuple[str, dict[str, object], bool]:
    """`emit TYPE [--data JSON] [--snapshot] [key=value ...]` -> (type, data, snapshot)."""
    import json

    kind: str | None = None
    data: dict[str, object] = {}
    snapshot = False
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("--data", "-d") or arg.startswith("--data="):
            raw = arg.partition("=")[2] if "=" in arg else (args[i + 1] if i + 1 < len(args) else None)
            i += 0 if "=" in arg else 1
            if raw is None:
                raise UsageError("--data needs a JSON object")
            try:
                value = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise UsageError(f"--data is not valid JSON: {exc}") from None
            except RecursionError:
                raise UsageError("--data is nested too deeply") from None
            if not isinstance(value, dict):
                raise UsageError("--data must be a JSON object")
            data.update(value)
        elif arg == "--snapshot":
            snapshot = True
        elif kind is None and not arg.startswith("-"):
            kind = arg
        elif "=" in arg and not arg.startswith("-"):
            key, _, value_text = arg.partition("=")
            data[key] = _scalar(value_text)
        else:
            raise UsageError(f"unexpected argument: {arg}", hint="see `agitlog emit --help`")
        i += 1
    if kind is None:
        raise UsageError("emit needs an event type", hint="e.g. agitlog emit decision --data '{\"decision\": \"retry\"}'")
    return kind, data, snapshot


def _scalar(text: str) -> object:
    """key=value values: JSON numbers, booleans and null stay typed; anything else is a string."""
    import json

    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return text
    return value if isinstance(value, (int, float, bool)) or value is None else text


def version_command() -> int:
    from agitlog.constants import VERSION

    sys.stdout.write(f"agitlog {VERSION}\n")
    return 0


def emit_command(args: list[str]) -> int:
    """Send one event over the wire protocol. Shell agents call this in loops, so it loads only the
    wire client (agitlog.capture.connection), not the SDK."""
    from agitlog.store.events import MalformedEvent, check_draft
    from agitlog.capture.connection import CLIENT, process_draft

    kind, data, snapshot = parse_emit_args(args)
    try:
        check_draft({"type": kind, "data": data})
    except MalformedEvent as exc:
        raise UsageError(str(exc), hint="types look like decision, tool.call, my_app.step") from None
    if not CLIENT.enabled:
        if sys.stderr.isatty():
            sys.stderr.write("agitlog: not inside `agitlog run`; event not recorded\n")
        return 0
    draft = process_draft(kind, data)
    if snapshot:
        draft["snapshot"] = True
    reply = CLIENT.send(draft, wait=snapshot)
    if snapshot and reply:
        sys.stdout.write(f"{reply.get('commit') or ''}\n")
    return 0
