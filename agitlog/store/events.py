"""Event schema v1 (docs/events.md): one JSON object per line, in the order the recorder saw them.

Every stored event has these fields, in this order:

    v            schema version (1)
    seq          0-based position in the session
    ts           UTC time with microseconds, "2026-11-26T03:44:12.123456Z"
    session      session id
    type         "session.start", "llm.request", "tool.call", ... (see KNOWN_TYPES)
    agent        name of the agent that emitted it ("main" unless told)
    pid          process id of the emitter
    span         16-hex span id (W3C trace-context) the event belongs to
    parent_span  16-hex id of the enclosing span, or null
    step         number of the step commit in effect after the event
    commit       id of that step commit
    data         the type-specific payload (an object)
"""
from __future__ import annotations

import json
import os
import re
import time

TYPE_CHECKING = False  # `agitlog emit` loads this module: typing and datetime would cost milliseconds
if TYPE_CHECKING:
    from datetime import datetime
    from typing import Any, Iterable

from agitlog.constants import EVENT_VERSION

KNOWN_TYPES = (
    "session.start", "session.end", "session.child", "llm.request", "llm.response",
    "http.request", "http.response", "tool.call", "tool.result", "decision", "decision.end", "state", "log",
    "error", "output",
    "span.start", "span.end", "snapshot.skip", "handoff", "guardrail",
)
FIELDS = ("v", "seq", "ts", "session", "type", "agent", "pid", "span", "parent_span", "step", "commit", "data")
_TYPE_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")
_SPAN_RE = re.compile(r"^[0-9a-f]{16}$")
_TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
DEFAULT_AGENT = "main"


def utc_now() -> str:
    """Now in UTC, with microseconds: 2026-11-30T04:29:45.123456Z."""
    seconds, nanos = divmod(time.time_ns(), 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{nanos // 1000:06d}Z"


def parse_ts(text: str) -> datetime:
    from datetime import datetime, timezone

    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def new_span_id() -> str:
    return os.urandom(8).hex()  # what secrets.token_hex does; `secrets` costs a few ms to import


def new_trace_id() -> str:
    return os.urandom(16).hex()


class MalformedEvent(ValueError):
    """A line on the wire that is not an event; the recorder keeps it as an ``error`` event."""


def draft_from_line(line: bytes) -> dict[str, Any]:
    """Decode one wire line into a draft event; MalformedEvent says why it is not one."""
    try:
        draft = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedEvent(f"not JSON: {exc}") from None
    except RecursionError:
        raise MalformedEvent("nested too deeply") from None
    if not isinstance(draft, dict):
        raise MalformedEvent("an event must be a JSON object")
    check_draft(draft)
    return draft


def check_draft(draft: dict[str, Any]) -> None:
    kind = draft.get("type")
    if not isinstance(kind, str) or not _TYPE_RE.match(kind):
        raise MalformedEvent(f"bad or missing type: {kind!r}")
    if "data" in draft and not isinstance(draft["data"], dict):
        raise MalformedEvent("data must be a JSON object")
    for key in ("span", "parent_span"):
        value = draft.get(key)
        if value is not None and (not isinstance(value, str) or not _SPAN_RE.match(value)):
            raise MalformedEvent(f"{key} must be 16 lowercase hex digits")
    if "agent" in draft and not isinstance(draft["agent"], str):
        raise MalformedEvent("agent must be a string")
    if "pid" in draft and not isinstance(draft["pid"], int):
        raise MalformedEvent("pid must be an integer")


def malformed_draft(raw: bytes, reason: str) -> dict[str, Any]:
    """The error event that stands in for a line that was not an event; the raw line is kept."""
    return {"type": "error", "data": {"error": "malformed event", "reason": reason,
                                      "raw": raw.decode("utf-8", "backslashreplace")}}


def finish_event(draft: dict[str, Any], *, seq: int, session: str, step: int, commit: str | None,
                 default_span: str, default_pid: int) -> dict[str, Any]:
    """A complete v1 event from a draft, fields in schema order."""
    ts = draft.get("ts")
    return {
        "v": EVENT_VERSION,
        "seq": seq,
        "ts": ts if isinstance(ts, str) and _TS_RE.match(ts) else utc_now(),
        "session": session,
        "type": draft["type"],
        "agent": draft.get("agent") or DEFAULT_AGENT,
        "pid": draft.get("pid") or default_pid,
        "span": draft.get("span") or default_span,
        "parent_span": draft.get("parent_span"),
        "step": step,
        "commit": commit,
        "data": draft.get("data") or {},
    }


def encode_event(event: dict[str, Any]) -> bytes:
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8", "surrogatepass") + b"\n"


def matches_type(event: dict[str, Any], types: Iterable[str]) -> bool:
    """``--type llm`` matches llm.request and llm.response; ``--type tool.call`` only itself."""
    kind = event.get("type", "")
    return any(kind == t or kind.startswith(t + ".") for t in types)



def marked_caller_stream(stream: str) -> str:
    """A caller's ``stream`` (``llm.request`` ``data.caller``) with this agitlog's interpreter and
    package path written as ``<agitlog-python>`` and ``<agitlog-package>``: an adapter puts its hook
    command (``python -S -c ... <package>``) on the agent's command line, and the same interpreter
    has several names (``.venv/bin/python``, ``python3``: `agitlog` runs under its console script's,
    `python -m agitlog` under the one typed). Every name in the interpreter's directory for the same
    file is marked. Applied when recording, and to what older recordings hold when a rerun or a
    comparison reads them."""
    for own, mark in _own_paths():
        stream = re.sub(re.escape(own) + r"(?![\w.+-])", mark, stream)  # a whole path, not a longer name's front
    return stream


_OWN_PATHS: list[tuple[str, str]] = []


def _own_paths() -> list[tuple[str, str]]:
    """(path, mark) for this interpreter's names and this package, longest first; found once."""
    if not _OWN_PATHS:
        import sys

        names = {sys.executable} if sys.executable else set()
        if sys.executable:
            real, folder = os.path.realpath(sys.executable), os.path.dirname(sys.executable)
            try:
                names |= {entry.path for entry in os.scandir(folder) if entry.name.startswith("python")
                          and os.path.realpath(entry.path) == real}
            except OSError:
                pass
        package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        found = [(name, "<agitlog-python>") for name in names] + [(package, "<agitlog-package>")]
        _OWN_PATHS.extend(sorted(found, key=lambda pair: -len(pair[0])))
    return _OWN_PATHS
