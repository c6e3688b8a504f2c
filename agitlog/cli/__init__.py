"""The `agitlog` command. ``main`` is the one error boundary: AgitlogError becomes a message and its exit
code, Ctrl-C becomes 130, anything unexpected becomes exit 3 and a crash log.

`run` and `emit` sit on agents' hot paths, and the read commands must start fast, so they are parsed
without importing typer or rich (cli/hotpath.py, cli/fastread.py)."""
from __future__ import annotations

import sys
from collections.abc import Sequence  # not typing: every command pays for its import

from agitlog.errors import AgitlogError, UsageError


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    json_mode = "--json" in args[: args.index("--")] if "--" in args else "--json" in args
    try:
        _check_decodable(args)
        from agitlog.cli import hotpath

        code = hotpath.dispatch(args)
        if code is None:
            from agitlog.cli import fastread

            code = fastread.dispatch(args)
        if code is None:
            code = _run_typer(args)
    except AgitlogError as error:
        from agitlog.cli.output import print_error

        code = print_error(_with_fetch_hint(error), json_mode=json_mode)
    except KeyboardInterrupt:
        code = 130
    except Exception as exc:  # noqa: BLE001 - the boundary: report, log, exit 3
        from agitlog.cli.output import print_crash

        code = print_crash(exc)
    return code


def _check_decodable(args: list[str]) -> None:
    """Every word must be UTF-8: session metadata (TOML, JSON) cannot hold anything else, and a word
    found unreadable half-way through a run would leave a journal behind. So refuse it first."""
    for position, arg in enumerate(args, start=1):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            shown = arg.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            raise UsageError(f"argument {position} is not valid UTF-8: {shown}",
                             hint="agitlog records its arguments as text; rename the file or pass a "
                                  "UTF-8 spelling") from None


def _with_fetch_hint(error: AgitlogError) -> AgitlogError:
    """In a fresh clone, "no recorded sessions" hints at the remote's sessions (one `git ls-remote`)."""
    from agitlog.errors import NoSessionsError

    if isinstance(error, NoSessionsError) and error.repo is not None:
        from agitlog.cli.output import plural
        from agitlog.sharing.remote_names import unfetched_sessions

        found = unfetched_sessions(error.repo)  # type: ignore[arg-type]
        if found is not None:
            error.hint = f"{found.remote} has {plural(found.count, 'session')}: `agitlog fetch {found.remote}` brings them"
    return error


def _run_typer(args: list[str]) -> int:
    import typer.main

    from agitlog.cli.app import app_for

    abort, click_exception, exit_ = _click_exceptions()
    command = typer.main.get_command(app_for(args))
    try:
        result = command.main(args=args, prog_name="agitlog", standalone_mode=False)
    except abort:
        return 130
    except click_exception as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare `agitlog` (or `agitlog remote`): help, like --help
            sys.stdout.write(exc.ctx.get_help() + "\n")
            return 0
        _show_escaped(exc)
        return exc.exit_code
    except exit_ as exc:
        return exc.exit_code
    return result if isinstance(result, int) else 0


def _show_escaped(exc: BaseException) -> None:
    """click's usage error, with the user's words in it shown escaped like everything else."""
    import io

    from agitlog.cli.output import safe

    buffer = io.StringIO()
    exc.show(file=buffer)  # type: ignore[attr-defined]
    sys.stderr.write(safe(buffer.getvalue()))


def _click_exceptions() -> tuple[type[BaseException], type[BaseException], type[BaseException]]:
    """(Abort, ClickException, Exit) as the installed typer raises them: newer releases vendor their
    own copy of click (even when click is installed too), older ones use click itself."""
    try:
        from typer._click.exceptions import ClickException
        from typer.exceptions import Abort, Exit
    except ImportError:
        import click

        return click.exceptions.Abort, click.ClickException, click.exceptions.Exit
    return Abort, ClickException, Exit


def entry() -> None:
    code = main()
    if sys.argv[1:2] == ["run"]:
        # The exit code must be the agent's, whatever state background threads (proxy, channel) are
        # in: leave without interpreter finalisation, which can fail while a daemon thread works.
        import os

        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
