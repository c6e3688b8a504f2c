"""``agitlog export --html``: one self-contained HTML file that replays a session in any browser.

The file holds the page's CSS and JavaScript inline and the session as one JSON document in a
``<script type="application/json" id="agitlog-data">`` block (format ``agitlog-html/1``)::

    {"format": "agitlog-html/1",
     "session": {"id", "name", "command", "status", "agent", "started_at", "ended_at", ...},
     "events":  [{"seq", "ts", "type", "agent", "span", "parent_span", "depth", "span_name", "step",
                  "commit", "produced_step", "summary", "failed", "tokens", "duration_ms",
                  "sections": [[title, body, kind], ...], "data" (state events only)}, ...],
     "spans":   [{"span", "parent", "name", "agent", "depth", "start", "end", "failed"}, ...],
     "steps":   [{"step", "commit", "event", "files": [...as `agitlog diff --json`...]}, ...]}

Nothing in it reaches the network, and recorded text can never run as script: every ``<`` ``>`` ``&``
in the JSON is written as a ``\\u`` escape (so ``</script>`` cannot close the block), the page builds
its DOM with ``textContent`` only, and a Content-Security-Policy allows exactly the page's own script
and style by hash and nothing else.
"""
from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from agitlog import git
from agitlog.query.diffs import SessionDiff, diff_between, diff_json
from agitlog.query.summaries import event_sections
from agitlog.query.timeline import Replay, load_replay
from agitlog.store.models import SessionMeta

FORMAT = "agitlog-html/1"
MAX_DIFF_LINES = 2_000       # per file, per step: a longer diff is shown by its counts only
_META_KEYS = ("id", "name", "status", "exit_code", "agent", "started_at", "ended_at", "duration_s",
              "host", "user", "agitlog_version", "trace_id", "parent_session")


@dataclass(frozen=True)
class HtmlExport:
    """What ``export_html`` wrote."""

    path: Path
    session_id: str
    events: int
    steps: int
    size: int


def export_html(repo: git.Repo, *, session: str | None, output: Path, name: str | None = None) -> HtmlExport:
    """Write the session ``session`` (or ``name``) names (None: the latest) to ``output`` as one HTML file."""
    replay = load_replay(repo, session=session, name=name)
    diffs = step_diffs(repo, replay=replay)
    page = render_page(build_document(replay, diffs=diffs))
    data = page.encode("utf-8", "surrogatepass")
    output.write_bytes(data)
    return HtmlExport(path=output, session_id=replay.session.id, events=len(replay.events),
                      steps=len(replay.steps), size=len(data))


def step_diffs(repo: git.Repo, *, replay: Replay, max_lines: int = MAX_DIFF_LINES) -> dict[int, SessionDiff]:
    """The diff each step made (step 0: what was uncommitted when the run started), by step."""
    producers = {change.step: seq for seq, change in replay.changes.items()}
    return {step: diff_between(repo, session_id=replay.session.id, steps=replay.steps, step_events=producers,
                               from_step=step - 1 if step > 0 else None, to_step=step, max_lines=max_lines)
            for step in range(len(replay.steps))}


def build_document(replay: Replay, *, diffs: dict[int, SessionDiff]) -> dict[str, Any]:
    """The JSON document the page reads: the session, its timeline, span tree and steps."""
    return {
        "format": FORMAT,
        "session": _session(replay.meta) | {"id": replay.session.id},
        "events": [_event(replay, index) for index in range(len(replay.events))],
        "spans": _spans(replay),
        "steps": _steps(replay, diffs),
    }


def _session(meta: SessionMeta) -> dict[str, Any]:
    """The session.toml fields the page shows (None left out)."""
    values = {key: getattr(meta, key) for key in _META_KEYS if hasattr(meta, key)}
    values.update(branch=meta.git.branch, base_commit=meta.git.base_commit, command=list(meta.command))
    return {key: value for key, value in values.items() if value is not None}


def _event(replay: Replay, index: int) -> dict[str, Any]:
    event, row = replay.events[index], replay.rows[index]
    return {
        "seq": row.seq, "ts": str(event.get("ts", "")), "type": row.type, "agent": row.agent,
        "span": event.get("span"), "parent_span": event.get("parent_span"), "depth": row.depth,
        "span_name": row.span_name, "step": row.step, "commit": event.get("commit"),
        "produced_step": row.produced_step, "summary": row.summary, "failed": row.failed,
        "tokens": list(row.tokens) if row.tokens else None, "duration_ms": row.duration_ms,
        "sections": [[s.title, s.body, s.kind] for s in event_sections(event)],
        # the page folds `state` events into the state at each event, as query.state.merged_state does
        "data": event.get("data") if row.type == "state" else None,
    }


def _spans(replay: Replay) -> list[dict[str, Any]]:
    """The span tree in the order spans started: each span's name, agent, depth and extent."""
    spans: dict[str, dict[str, Any]] = {}
    for index, (event, row) in enumerate(zip(replay.events, replay.rows)):
        span = event.get("span")
        if event.get("type") == "span.start" and span and span not in spans:
            spans[span] = {"span": span, "parent": event.get("parent_span"), "name": row.span_name or row.summary,
                           "agent": row.agent, "depth": row.depth, "start": index, "end": None, "failed": False}
        elif event.get("type") == "span.end" and span in spans:
            spans[span]["end"] = index
            spans[span]["failed"] = row.failed
    return list(spans.values())


def _steps(replay: Replay, diffs: dict[int, SessionDiff]) -> list[dict[str, Any]]:
    """Every step commit: the event that produced it and the diff it made."""
    return [{"step": number, "commit": commit, "event": replay.step_events.get(number, 0 if number == 0 else None),
             "files": diff_json(diffs[number])["files"] if number in diffs else []}
            for number, commit in enumerate(replay.steps)]


# --- the page -------------------------------------------------------------------------------------

def render_page(document: dict[str, Any]) -> str:
    """The HTML page for ``document``: inline style and script allowed by hash, data as inert JSON."""
    style, script = _asset("replay.css"), _asset("replay.js")
    title = _escape_text(f"agitlog session {document['session']['id']}")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{content_security_policy(script, style)}\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<meta name=\"referrer\" content=\"no-referrer\">\n"
        f"<title>{title}</title>\n<style>{style}</style>\n</head>\n<body>\n"
        f"<script type=\"application/json\" id=\"agitlog-data\">{script_json(document)}</script>\n"
        f"<script>{script}</script>\n</body>\n</html>\n"
    )


def content_security_policy(script: str, style: str) -> str:
    """Nothing but this exact script and style may run or apply; no fetches, frames, forms or fonts."""
    return (f"default-src 'none'; script-src '{_sha256(script)}'; style-src '{_sha256(style)}'; "
            "img-src data:; base-uri 'none'; form-action 'none'")


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


def script_json(document: dict[str, Any]) -> str:
    """JSON that is inert inside a <script> block: no character of it can end the block or open a
    comment, whatever the recorded text holds."""
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"), default=str)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escape)
    return text


def _escape_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _asset(name: str) -> str:
    return resources.files("agitlog.sharing.export").joinpath("assets", name).read_text(encoding="utf-8")
