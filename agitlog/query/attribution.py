"""Which decision made a change: the one attribution model `show`, `diff`, `blame` and `bisect` share
(documented in docs/events.md, "Which decision made a change").

- Every step N >= 1 was produced by exactly one event: the first one recorded with ``step`` N, whose
  ``seq`` is the step commit's ``Agitlog-Event`` trailer. Step 0 (the worktree before the run) has none.
- The step belongs to a decision when its producing event
  1. carries ``data.decision_id`` naming a recorded decision: it happened inside that decision's
     scope (``with agitlog.decision(...)``, whose closing ``decision.end`` carries the id too, or a
     wire event that names the decision); or
  2. is itself a decision that scoped nothing (no ``decision.end`` closes it): the agent acted, then
     recorded why, and the decision's own snapshot holds what it did.
  A scoped decision's own (opening) snapshot holds what changed *before* it was taken: that step
  belongs to the decision enclosing it (``data.parent_decision_id``), if any.
- Otherwise the step belongs to no decision and is explained by its producing event alone (a tool,
  the tools a model call asked for, the end of the run). A change is never credited to a decision
  recorded after it, nor to an earlier decision that did not scope it.
"""
from __future__ import annotations

from agitlog.datatypes import datatype, field

TYPE_CHECKING = False  # typing costs start-up; only checkers need it
if TYPE_CHECKING:
    from typing import Any, Iterable

SCOPE = "scope"                # the producing event was inside the decision's scope
OWN_SNAPSHOT = "own-snapshot"  # the producing event is the (unscoped) decision itself
NONE = "none"                  # no decision made this change


@datatype(frozen=True)
class Attribution:
    """Who made step ``step``: the event whose snapshot produced it, and the decision it belongs to."""

    step: int
    producer: dict[str, Any] | None
    decision: dict[str, Any] | None
    rule: str                  # SCOPE, OWN_SNAPSHOT or NONE

    @property
    def decision_seq(self) -> int | None:
        return self.decision["seq"] if self.decision else None


def attribute_steps(events: list[dict[str, Any]]) -> dict[int, Attribution]:
    """The attribution of every step a session's events produced (step 0 has none), by step."""
    decisions = _Decisions(events)
    result: dict[int, Attribution] = {}
    for event in events:
        step = event.get("step")
        if isinstance(step, int) and step > 0 and step not in result:
            decision, rule = decisions.of(event)
            result[step] = Attribution(step=step, producer=event, decision=decision, rule=rule)
    return result


class _Decisions:
    """The session's decisions by id, and which of them scoped changes (a ``decision.end`` closes them)."""

    def __init__(self, events: Iterable[dict[str, Any]]) -> None:
        self.by_id: dict[str, dict[str, Any]] = {}
        self.scoped: set[str] = set()
        for event in events:
            ident = _decision_id(event)
            if ident is None:
                continue
            if event.get("type") == "decision":
                self.by_id.setdefault(ident, event)
            elif event.get("type") == "decision.end":
                self.scoped.add(ident)

    def of(self, producer: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
        ident = _decision_id(producer)
        if producer.get("type") == "decision":
            if ident is None or ident not in self.scoped:
                return producer, OWN_SNAPSHOT
            outer = self.by_id.get(_text((producer.get("data") or {}).get("parent_decision_id")) or "")
            return (outer, SCOPE) if outer is not None else (None, NONE)
        decision = self.by_id.get(ident) if ident is not None else None
        if decision is not None and decision.get("seq", -1) < producer.get("seq", -1):
            return decision, SCOPE
        return None, NONE


def _decision_id(event: dict[str, Any]) -> str | None:
    return _text((event.get("data") or {}).get("decision_id"))


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


# --- the events around a step, for bisect and blame -----------------------------------------------

@datatype
class StepEvents:
    """The events that explain a step: what produced it, the decision it belongs to, the tool that
    made it, and the model response and prompt the agent was acting on."""

    produced_by: dict[str, Any] | None = None     # the event whose snapshot created the step
    decision: dict[str, Any] | None = None        # the decision the step belongs to (None: no decision)
    rule: str = NONE                              # why: SCOPE, OWN_SNAPSHOT or NONE
    tool_call: dict[str, Any] | None = None
    tool_result: dict[str, Any] | None = None
    response: dict[str, Any] | None = None       # the model response that asked for the tool/decision
    prompt: dict[str, Any] | None = None         # the prompt that response answered
    errors: list[dict[str, Any]] = field(default_factory=list)


def explain_step(events: list[dict[str, Any]], step: int,
                 attributions: dict[int, Attribution] | None = None) -> StepEvents:
    """The events that explain step ``step`` (none for step 0 or a step no event produced)."""
    attributions = attribute_steps(events) if attributions is None else attributions
    found = attributions.get(step)
    if found is None or found.producer is None:
        return StepEvents()
    producer = found.producer
    explained = StepEvents(produced_by=producer, decision=found.decision, rule=found.rule)
    if producer.get("type") == "tool.result":
        explained.tool_result = producer
        explained.tool_call = _tool_call_of(events, producer)
    previous = attributions.get(step - 1)
    after = previous.producer["seq"] if previous and previous.producer else -1
    explained.errors = [e for e in events if after < e.get("seq", -1) <= producer["seq"] and e.get("type") == "error"]
    anchors = [e["seq"] for e in (explained.tool_call, explained.decision) if e and e["seq"] <= producer["seq"]]
    anchor = min(anchors, default=producer["seq"])
    earlier = [e for e in events if e.get("seq", -1) <= anchor]
    explained.response = _last(earlier, "llm.response")
    if explained.response:
        explained.prompt = _last([e for e in earlier if e["seq"] < explained.response["seq"]], "llm.request")
    return explained


def _tool_call_of(events: list[dict[str, Any]], result: dict[str, Any]) -> dict[str, Any] | None:
    call_id = (result.get("data") or {}).get("call_id")
    for event in reversed([e for e in events if e.get("seq", -1) < result["seq"]]):
        if event.get("type") == "tool.call" and (call_id is None or (event.get("data") or {}).get("call_id") == call_id):
            return event
    return None


def _last(events: list[dict[str, Any]], kind: str) -> dict[str, Any] | None:
    for event in reversed(events):
        if event.get("type") == kind:
            return event
    return None
