"""`agitlog export`: a session out of agitlog, as one self-contained HTML file or as an
OpenTelemetry trace (a file, stdout, or POSTed to an OTLP/HTTP endpoint)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from agitlog.cli.options import JsonOption, NameOption, RepoOption, SessionArg, open_repo
from agitlog.errors import UsageError

FORMATS = ("otlp-json",)


def export_cmd(
    session: SessionArg = None,
    html: Annotated[Optional[Path], typer.Option("--html", help="Write one self-contained HTML replay to this file.")] = None,
    format_: Annotated[Optional[str], typer.Option("--format", help="otlp-json: the session as one OTLP trace (JSON).")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="With --format: write here, not to stdout.")] = None,
    otlp: Annotated[Optional[str], typer.Option("--otlp", help="POST the trace to this OTLP/HTTP endpoint, e.g. http://localhost:6006/v1/traces.")] = None,
    protocol: Annotated[str, typer.Option("--otlp-protocol", help="With --otlp: http/protobuf or http/json.")] = "http/protobuf",
    headers: Annotated[Optional[list[str]], typer.Option("--header", help="With --otlp: an HTTP header KEY=VALUE (repeatable).")] = None,
    include_content: Annotated[bool, typer.Option("--include-content", help="Put prompts, responses, tool arguments and results in the trace.")] = False,
    name: NameOption = None,
    json_out: JsonOption = False,
    repo: RepoOption = None,
) -> int:
    """Export a session: `--html FILE` (a replay anyone can open offline), `--format otlp-json`
    or `--otlp URL` (one OpenTelemetry trace, GenAI semantic conventions)."""
    from agitlog.cli import render_export

    if sum(x is not None for x in (html, format_, otlp)) != 1:
        raise UsageError("say what to export: one of --html FILE, --format otlp-json, --otlp URL",
                         hint="agitlog export SESSION --html session.html")
    if html is not None:
        from agitlog.sharing.export.html import export_html

        render_export.render_html_export(export_html(open_repo(repo), session=session, output=html, name=name), json_out=json_out)
        return 0
    if format_ is not None and format_ not in FORMATS:
        raise UsageError(f"unknown format {format_!r}", hint="the format is otlp-json (or use --html FILE)")
    from agitlog.sharing.export.otlp import send_trace, session_trace

    trace = session_trace(open_repo(repo), session=session, include_content=include_content, name=name)
    if otlp is not None:
        sent = send_trace(trace, url=otlp, protocol=protocol, headers=_headers(headers or []))
        render_export.render_otlp_sent(sent, json_out=json_out)
    else:
        render_export.render_otlp_json(trace, output=output)
    return 0


def _headers(pairs: list[str]) -> dict[str, str]:
    headers = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"cannot read header {pair!r}", hint="write it as KEY=VALUE, e.g. authorization=Bearer x")
        headers[key.strip()] = value.strip()
    return headers
