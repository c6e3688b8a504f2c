"""Model calls attributed to the framework agents that made them.

The LLM proxy records every model call as it crosses the wire, before anyone knows which agent of
a multi-agent framework asked; the framework's own spans (recorded by agitlog.capture.otlp) arrive
later and name, in a ``span.start``'s ``llm_calls``, the seqs of the ``llm.request`` events each LLM
span covered. Views read events through ``attribute_model_calls``: such a request and its response
(paired by ``call_id``) get the span's agent and sit in its span, and keep what was recorded under
``recorded`` (``{"agent", "span", "parent_span"}``). Stored events never change.
"""
from __future__ import annotations

TYPE_CHECKING = False  # typing costs start-up; only checkers need it
if TYPE_CHECKING:
    from typing import Any, Sequence


def attribute_model_calls(events: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events, with model calls that a framework span claimed moved to that span and its agent."""
    owners = _owners(events)
    if not owners:
        return list(events)
    by_call_id = {str(e["data"].get("call_id")): owners[e["seq"]] for e in events
                  if e.get("type") == "llm.request" and e.get("seq") in owners and e["data"].get("call_id")}
    result = []
    for event in events:
        owner = owners.get(event.get("seq")) if event.get("type") == "llm.request" else None
        if event.get("type") == "llm.response":
            owner = by_call_id.get(str(event["data"].get("call_id")))
        result.append(_moved(event, owner) if owner else event)
    return result


def _owners(events: Sequence[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """llm.request seq -> the span.start event of the framework span that made the call."""
    owners: dict[int, dict[str, Any]] = {}
    for event in events:
        calls = event["data"].get("llm_calls") if event.get("type") == "span.start" else None
        if isinstance(calls, list) and event.get("agent"):
            owners.update({seq: event for seq in calls if isinstance(seq, int) and seq not in owners})
    return owners


def _moved(event: dict[str, Any], owner: dict[str, Any]) -> dict[str, Any]:
    recorded = {key: event.get(key) for key in ("agent", "span", "parent_span")}
    return {**event, "agent": owner["agent"], "span": owner.get("span"), "parent_span": owner.get("parent_span"),
            "recorded": recorded}


def of_agents(events: Sequence[dict[str, Any]], agents: Sequence[str]) -> list[dict[str, Any]]:
    """Of events read through ``attribute_model_calls``, those of any of ``agents`` (all when none is
    given): what `show --agent` and `replay --agent` mean, framework agents owning their model calls
    (`search --agent` indexes the same attribution)."""
    return [event for event in events if event.get("agent") in agents] if agents else list(events)


def agent_names(events: Sequence[dict[str, Any]]) -> list[str]:
    """Every agent the session's events name, in order of appearance."""
    return list(dict.fromkeys(str(e.get("agent")) for e in events if e.get("agent")))
