"""The replay model: a session as a walkable timeline.

Both the full-screen viewer and ``agitlog replay --plain`` render the same ``Replay``: rows for the
timeline (depth in the agent/span tree, summary, step marker, tokens, duration; the words come from
``agitlog.query.summaries``), and the navigation helpers (next decision, tool call, error, file change,
step, search). Nothing here renders or prints.
"""
from __future__ import annotations

import json

from agitlog import git
from agitlog.datatypes import datatype, field
from agitlog.errors import UsageError
from agitlog.store.events import parse_ts
from agitlog.query.agents import agent_names, attribute_model_calls, of_agents
from agitlog.query.summaries import event_summary
from agitlog.query.listing import StepChange, step_changes
from agitlog.store.models import Event, SessionMeta
from agitlog.store.sessions import Session, SessionStore

TYPE_CHECKING = False  # typing costs start-up; only checkers need it
if TYPE_CHECKING:
    from typing import Any, Callable, Literal, Sequence

    Jump = Literal["decision", "tool", "error", "change", "llm"]


@datatype(frozen=True)
class Row:
    """One line of the timeline."""

    index: int                 # position in Replay.events
    seq: int
    type: str
    agent: str
    depth: int                 # nesting in the span tree (0: the session's root span)
    summary: str               # one line, raw (renderers escape it)
    step: int | None           # step in effect after the event
    produced_step: int | None  # the step this event produced, if any
    tokens: tuple[int, int] | None  # (input, output) for llm.response
    duration_ms: float | None
    failed: bool = False       # an error, a failed tool call or span, a session that did not end ok
    span_name: str = ""        # the name of the SDK span the event belongs to ("" for the root span)


@datatype
class Replay:
    session: Session
    events: list[Event]
    rows: list[Row]
    steps: list[str]                      # step commits, index = step number
    changes: dict[int, StepChange]        # keyed by the seq of the event that produced the step
    start: int = 0                        # index of the event to open at
    step_events: dict[int, int] = field(default_factory=dict)  # step -> index of the event that produced it

    @property
    def meta(self) -> SessionMeta:
        return self.session.meta


def load_replay(repo: git.Repo, *, session: str | None, at: int | None = None, name: str | None = None,
                agents: Sequence[str] = ()) -> Replay:
    """The session ``session`` names (None: the latest) as a timeline, opened at event ``at``; with
    ``agents``, only the events of those agents (framework agents own their model calls)."""
    store = SessionStore.open(repo)
    info = store.resolve(session, name=name)
    # validated even for a crafted session (agitlog.store.models); model calls under the framework
    # agent whose span made them (agitlog.query.agents)
    events = attribute_model_calls(store.events(info))
    changes = step_changes(repo, events)  # from every event: a step is made by whichever event made it
    chosen = of_agents(events, agents)
    if agents and not chosen:
        raise UsageError(f"no events of agent {', '.join(map(repr, agents))} in session {info.id}",
                         hint=f"its agents: {', '.join(agent_names(events)) or 'none'}")
    return build_replay(info, chosen, steps=store.steps(info), changes=changes, at=at)


def build_replay(info: Session, events: list[Event], *, steps: list[str],
                 changes: dict[int, StepChange], at: int | None = None) -> Replay:
    """A Replay from loaded parts (tests build one from events alone)."""
    rows = build_rows(events, changes)
    replay = Replay(session=info, events=events, rows=rows, steps=steps, changes=changes)
    replay.step_events = {row.produced_step: row.index for row in rows if row.produced_step is not None}
    replay.start = index_of_seq(replay, at) if at is not None else 0
    return replay


def index_of_seq(replay: Replay, seq: int) -> int:
    """The position of event ``seq``; UsageError if the session has no such event."""
    for row in replay.rows:
        if row.seq == seq:
            return row.index
    last = replay.rows[-1].seq if replay.rows else -1
    raise UsageError(f"no event {seq} in session {replay.session.id} (events 0..{last})",
                     hint="event numbers are the first column of `agitlog show`")


def build_rows(events: Sequence[dict[str, Any]], changes: dict[int, StepChange]) -> list[Row]:
    depths = span_depths(events)
    names = {e["span"]: str((e.get("data") or {}).get("name", "")) for e in events
             if e.get("type") == "span.start" and e.get("span")}
    starts: dict[str, str] = {}
    rows = []
    for index, event in enumerate(events):
        data = event.get("data") or {}
        if event.get("type") == "span.start" and event.get("span"):
            starts[event["span"]] = event.get("ts", "")
        change = changes.get(event.get("seq", -1))
        rows.append(Row(
            index=index, seq=event.get("seq", index), type=str(event.get("type", "?")),
            agent=str(event.get("agent", "")), depth=depths.get(event.get("span") or "", 0),
            summary=event_summary(event), step=event.get("step"),
            produced_step=change.step if change else None, tokens=_tokens(event, data),
            duration_ms=_duration_ms(event, data, starts), failed=_failed(event, data),
            span_name=names.get(event.get("span") or "", ""),
        ))
    return rows


def _failed(event: dict[str, Any], data: dict[str, Any]) -> bool:
    kind = event.get("type")
    if kind == "session.end":
        return data.get("status") not in (None, "ok")
    return kind == "error" or data.get("ok") is False


def span_depths(events: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Depth of every span in the tree that parent_span links draw (the root span is depth 0)."""
    parents: dict[str, str | None] = {}
    for event in events:
        span = event.get("span")
        if span and (span not in parents or parents[span] is None):
            parents[span] = event.get("parent_span")
    depths: dict[str, int] = {}

    def depth(span: str) -> int:
        seen: list[str] = []
        current: str | None = span
        while current and current in parents and current not in depths and current not in seen:
            seen.append(current)
            current = parents[current]
        base = depths.get(current, -1) + 1 if current in depths else 0
        for offset, item in enumerate(reversed(seen)):
            depths[item] = base + offset
        return depths.get(span, 0)

    for span in parents:
        depth(span)
    root = next((e.get("span") for e in events if e.get("type") == "session.start"), None)
    shift = depths.get(root, 0) if root else 0
    return {span: max(0, d - shift) for span, d in depths.items()}


def _tokens(event: dict[str, Any], data: dict[str, Any]) -> tuple[int, int] | None:
    usage = data.get("usage")
    if event.get("type") != "llm.response" or not isinstance(usage, dict):
        return None
    return _int(usage.get("input_tokens")), _int(usage.get("output_tokens"))


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0


def _duration_ms(event: dict[str, Any], data: dict[str, Any], starts: dict[str, str]) -> float | None:
    for key in ("duration_ms", "latency_ms"):
        if isinstance(data.get(key), (int, float)):
            return float(data[key])
    if event.get("type") == "span.end" and event.get("span") in starts:
        try:
            delta = parse_ts(event["ts"]) - parse_ts(starts[event["span"]])
        except (KeyError, ValueError):
            return None
        return delta.total_seconds() * 1000
    return None


# --- navigation -----------------------------------------------------------------------------------

_JUMPS: dict[str, Callable[[Row], bool]] = {
    "decision": lambda row: row.type == "decision",
    "tool": lambda row: row.type == "tool.call",
    "error": lambda row: row.failed,
    "change": lambda row: row.produced_step is not None,
    "llm": lambda row: row.type.startswith("llm."),
}


def jump(replay: Replay, *, start: int, target: Jump, forward: bool = True) -> int | None:
    """The index of the next (or previous) event of kind ``target`` after ``start``, or None."""
    test = _JUMPS[target]
    indexes = range(start + 1, len(replay.rows)) if forward else range(start - 1, -1, -1)
    return next((i for i in indexes if test(replay.rows[i])), None)


def index_of_step(replay: Replay, step: int) -> int:
    """The event that produced step ``step`` (step 0: the first event)."""
    if step == 0 and replay.steps:
        return 0
    if step in replay.step_events:
        return replay.step_events[step]
    raise UsageError(f"no step {step} in session {replay.session.id} (steps 0..{len(replay.steps) - 1})")


def search(replay: Replay, *, query: str, start: int, forward: bool = True) -> int | None:
    """The next event (wrapping around) whose type, agent or payload contains ``query`` (case-insensitive)."""
    needle = query.casefold()
    if not needle or not replay.rows:
        return None
    count = len(replay.rows)
    for offset in range(1, count + 1):
        index = (start + offset) % count if forward else (start - offset) % count
        if needle in _haystack(replay.events[index]):
            return index
    return None


def _haystack(event: dict[str, Any]) -> str:
    return " ".join((str(event.get("type")), str(event.get("agent")),
                     json.dumps(event.get("data"), ensure_ascii=False, default=str))).casefold()
