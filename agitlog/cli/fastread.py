"""The read commands (log, show, replay, diff, state, blame, search) without typer: importing typer
and click costs more than the 60 ms a read command may take to start.

The options are declared once, for typer, in cli/commands/inspect.py. ``derive_spec`` reads them
back from the click command typer builds, and `python -m agitlog.cli.fastread` writes the result to
cli/read_options.py (a test checks that file against the app, so the two cannot drift). ``parse``
reads only the plain spellings (``--opt value``, ``--opt=value``, ``-o value``, flags, arguments,
``--``): anything else, every mistake, ``--help`` and every value that starts with ``-`` returns
None, and typer parses the line, so help, errors and exit codes stay typer's own."""
from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing costs start-up; only checkers need it
if TYPE_CHECKING:
    from typing import Any

READS = ("log", "show", "replay", "diff", "state", "blame", "search")


def dispatch(args: list[str]) -> int | None:
    """Run a read command parsed without typer; None means "let typer do it"."""
    if not args or args[0] not in READS:
        return None
    params = parse(args[0], args[1:])
    if params is None:
        return None
    from agitlog.cli.commands import reads

    try:
        return getattr(reads, args[0])(**params)
    except (EOFError, KeyboardInterrupt):
        sys.stderr.write("\n")  # as click does: the blank line closes the terminal's ^C echo
        return 130
    except BrokenPipeError:  # as click does: the reader left; exit 1, quietly
        from agitlog.cli.output import _silence_stdout

        _silence_stdout()
        return 1


def parse(command: str, args: list[str]) -> dict[str, Any] | None:
    """The keyword arguments typer would pass the command's function for ``args``, or None when
    ``args`` uses anything but the plain spellings (typer then parses them)."""
    from agitlog.cli.read_options import SPEC

    spec = SPEC[command]
    options, flags = spec["options"], spec["flags"]
    values: dict[str, Any] = {}
    positional: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            positional += args[i:]
            break
        if not arg.startswith("-") or arg == "-":
            if arg == "-":
                return None
            positional.append(arg)
            continue
        name, eq, inline = arg.partition("=")
        if name in flags and not eq:
            dest, value = flags[name]
            values[dest] = value
        elif name in options and (not eq or name.startswith("--")):
            if not eq:
                if i >= len(args) or args[i].startswith("-"):
                    return None
                inline, i = args[i], i + 1
            dest, kind, multiple, low, high = options[name]
            value = _convert(inline, kind, low, high)
            if value is None:
                return None
            values[dest] = values.get(dest, []) + [value] if multiple else value
        else:
            return None
    return _with_arguments(spec, values, positional)


def _convert(text: str, kind: str, low: int | None, high: int | None) -> Any:
    if kind == "str":
        return text
    if kind == "path":
        from pathlib import Path

        return Path(text)
    try:
        number = int(text)
    except ValueError:
        return None
    if (low is not None and number < low) or (high is not None and number > high):
        return None
    return number


def _with_arguments(spec: dict[str, Any], values: dict[str, Any], positional: list[str]) -> dict[str, Any] | None:
    arguments = spec["arguments"]
    if len(positional) > len(arguments):
        return None
    for (dest, kind, required), text in zip(arguments, positional):
        values[dest] = _convert(text, kind, None, None)
    if any(required and dest not in values for dest, _, required in arguments):
        return None
    return {**spec["defaults"], **values}


def derive_spec() -> dict[str, dict[str, Any]]:
    """The read commands' options as typer declares them (imports typer: for the generator and tests)."""
    import typer.main

    from agitlog.cli.app import build_app

    spec = {}
    for name in READS:
        command = typer.main.get_command(build_app(name)).commands[name]  # type: ignore[attr-defined]
        spec[name] = _command_spec(command)
    return spec


def _command_spec(command: Any) -> dict[str, Any]:
    import inspect

    options: dict[str, tuple[str, str, bool, int | None, int | None]] = {}
    flags: dict[str, tuple[str, bool]] = {}
    arguments: list[tuple[str, str, bool]] = []
    for param in command.params:
        if param.envvar or param.nargs != 1 or param.is_eager and param.name != "help" or param.callback:
            raise ValueError(f"{command.name} --{param.name}: a kind of option the fast path does not read")
        if param.param_type_name == "argument":
            arguments.append((param.name, _kind(param.type), param.required))
        elif param.name == "help":
            continue  # --help always goes to typer
        elif param.is_flag:
            flags.update({opt: (param.name, True) for opt in param.opts})
            flags.update({opt: (param.name, False) for opt in param.secondary_opts})
        else:
            kind = _kind(param.type)
            low, high = getattr(param.type, "min", None), getattr(param.type, "max", None)
            options.update({opt: (param.name, kind, bool(param.multiple), low, high) for opt in param.opts})
    signature = inspect.signature(command.callback.__wrapped__)
    defaults = {name: p.default for name, p in signature.parameters.items() if p.default is not p.empty}
    return {"options": options, "flags": flags, "arguments": arguments, "defaults": defaults}


def _kind(click_type: Any) -> str:
    kinds = {"text": "str", "integer": "int", "integer range": "int", "path": "path"}
    if click_type.name not in kinds:
        raise ValueError(f"a {click_type.name} value: not one the fast path reads")
    return kinds[click_type.name]


def write_spec(path: Any) -> None:
    """Write cli/read_options.py from the typer declarations."""
    import pprint

    text = ('"""Generated by `python -m agitlog.cli.fastread` from the typer declarations in\n'
            'cli/commands/inspect.py: the read commands\' options, for cli/fastread.py. Do not edit;\n'
            'tests/test_fastread.py fails when this is out of date."""\n\n'
            f"SPEC = {pprint.pformat(derive_spec(), width=110, sort_dicts=True)}\n")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


if __name__ == "__main__":
    import os

    write_spec(os.path.join(os.path.dirname(os.path.abspath(__file__)), "read_options.py"))
