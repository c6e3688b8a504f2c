"""How `agitlog export` reports what it wrote."""
from __future__ import annotations

from agitlog.cli.output import console, print_json, safe

TYPE_CHECKING = False  # typing costs start-up; only checkers need it
if TYPE_CHECKING:
    from typing import Any


def render_html_export(result: Any, *, json_out: bool) -> None:
    if json_out:
        print_json({"session": result.session_id, "path": str(result.path), "events": result.events,
                    "steps": result.steps, "bytes": result.size})
        return
    console().print(f"wrote {safe(str(result.path), keep_newlines=False)}: session {safe(result.session_id)}, "
                    f"{result.events} events, {result.steps} steps, {result.size / 1024:.0f} KB "
                    "(open it in any browser; it needs no network)")


def render_otlp_json(trace: Any, *, output: Any) -> None:
    """The OTLP JSON document to a file or stdout (raw: it is data for another program)."""
    import sys

    from agitlog.sharing.export.otlp import otlp_json

    text = otlp_json(trace) + "\n"
    if output is None:
        sys.stdout.write(text)
        return
    output.write_text(text, encoding="utf-8")
    console(stderr=True).print(f"wrote {safe(str(output), keep_newlines=False)}: session {safe(trace.session_id)}, "
                               f"trace {trace.trace_id}, {len(trace.spans)} spans")


def render_otlp_sent(sent: Any, *, json_out: bool) -> None:
    if json_out:
        print_json({"session": sent.session_id, "trace_id": sent.trace_id, "url": sent.url,
                    "protocol": sent.protocol, "spans": sent.spans, "status": sent.status})
        return
    console().print(f"sent session {safe(sent.session_id)} to {safe(sent.url, keep_newlines=False)}: "
                    f"trace {sent.trace_id}, {sent.spans} spans ({sent.protocol})")
