"""How `agitlog export` reports what it wrote."""
from __future__ import annotations

from typing import Any

from agitlog.cli.output import console, print_json, safe


def render_html_export(result: Any, *, json_out: bool) -> None:
    if json_out:
        print_json({"session": result.session_id, "path": str(result.path), "events": result.events,
                    "steps": result.steps, "bytes": result.size})
        return
    console().print(f"wrote {safe(str(result.path), keep_newlines=False)}: session {safe(result.session_id)}, "
                    f"{result.events} events, {result.steps} steps, {result.size / 1024:.0f} KB "
                    "(open it in any browser; it needs no network)")
