"""What an event says, in words: the one-line summary the timeline shows and the titled sections
the detail pane and ``replay --plain`` show (the prompt as sent, the response, tool arguments and
results, a decision's reasoning and alternatives, tracebacks, and whatever else was recorded).
Raw text: renderers escape it."""
from __future__ import annotations

import json

from agitlog.datatypes import datatype
from agitlog.query.prompts import Prompt, normalize_request, user_text

TYPE_CHECKING = False  # typing costs start-up; only checkers need it
if TYPE_CHECKING:
    from typing import Any, Callable, Literal


def event_summary(event: dict[str, Any]) -> str:
    """One line saying what the event is about (raw text: renderers escape it)."""
    data = event.get("data") or {}
    kind = event.get("type")
    if kind == "session.start":
        return " ".join(map(str, data.get("command") or []))
    if kind == "session.end":
        return f"{data.get('status')} (exit {data.get('exit_code')})"
    if kind == "llm.request":
        prompt = normalize_request(data)
        said = [m for m in prompt.messages if m.role != "system"]  # what the turn adds, not instructions
        last = (user_text(said[-1]) or said[-1].text) if said else ""
        return f"{prompt.model or ''} {len(prompt.messages)} msg: {last}".strip()
    if kind == "llm.response":
        calls = data.get("tool_calls") or []
        text = _text(data.get("text"))
        asked = f"{len(calls)} tool call{'' if len(calls) == 1 else 's'}: "
        return (text or (asked + ", ".join(_call_name(c) for c in calls))).strip()
    if kind in ("tool.call", "tool.result"):
        return _tool_summary(kind, data)
    if kind == "span.start" and isinstance(data.get("llm_calls"), list) and data["llm_calls"]:
        return f"{data.get('name', '')} (model call {', '.join('#' + str(s) for s in data['llm_calls'])})"
    if kind == "span.start" or kind == "span.end":
        return str(data.get("name", "")) + ("" if data.get("ok", True) else f" failed: {data.get('error', '')}")
    if kind == "handoff":
        return f"{data.get('from_agent')} → {data.get('to_agent')}"
    if kind == "guardrail":
        return f"{data.get('name')}: {'triggered' if data.get('triggered') else 'passed'}"
    if kind == "state":
        return compact(data.get("state", data))
    if kind in _AGENT_SUMMARIES:  # coding agents (docs/agents.md)
        return _AGENT_SUMMARIES[kind](data)
    if kind == "decision" and data.get("reasoning"):
        return f"{data.get('decision')} — because {data.get('reasoning')}"
    for key in ("decision", "message", "error", "text", "path", "reason"):
        if isinstance(data.get(key), str) and data[key]:
            return data[key]
    return compact(data)


_AGENT_SUMMARIES = {
    "user.prompt": lambda d: _text(d.get("prompt")),
    "agent.session": lambda d: f"{d.get('agent', '')} session {d.get('agent_session_id', '')}".strip(),
    "agent.stop": lambda d: _text(d.get("last_assistant_message")) or "turn over",
    "git.commit": lambda d: f"{str(d.get('commit', ''))[:12]} {d.get('message', '')}"
                            + ("" if d.get("linked") else " (no Agent-Session trailer)"),
}


def _tool_summary(kind: str, data: dict[str, Any]) -> str:
    name = str(data.get("tool", "?"))
    if kind == "tool.call":
        return f"{name}({compact(data.get('arguments', {}))})"
    if data.get("ok") is False:
        return f"{name} failed: {data.get('exception', '')} {data.get('error', '')}".strip()
    return f"{name} -> {compact(data.get('result'))}"


def _call_name(call: Any) -> str:
    if isinstance(call, dict):
        function = call.get("function") if isinstance(call.get("function"), dict) else {}
        return str(call.get("name") or function.get("name") or "?")
    return str(call)


def compact(value: Any, limit: int = 200) -> str:
    """A value as one short JSON-ish string (strings as they are), cut at ``limit`` characters."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text[:limit]


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


@datatype(frozen=True)
class Section:
    """One titled block of the detail pane; ``kind`` says how to show ``body`` (text, json)."""

    title: str
    body: str
    kind: Literal["text", "json"] = "text"


def event_sections(event: dict[str, Any]) -> list[Section]:
    """What the detail pane shows for an event: everything recorded, the important parts first."""
    data = dict(event.get("data") or {})
    for key in ("decision_id", "parent_decision_id"):  # links between events (query.attribution), not content
        data.pop(key, None)
    kind = event.get("type")
    builder = _SECTION_BUILDERS.get(str(kind))
    sections = builder(data) if builder else []
    if data:
        sections.append(Section("data", _json(data), "json"))
    return sections


def _request_sections(data: dict[str, Any]) -> list[Section]:
    prompt = normalize_request(data)
    sections = prompt_sections(prompt)
    for key in ("messages", "system", "tools", "prompt", "body", "model"):
        data.pop(key, None)
    return sections


def prompt_sections(prompt: Prompt) -> list[Section]:
    """The prompt as sent: model, system prompt, every message, tool definitions."""
    sections = []
    if prompt.model:
        sections.append(Section("model", prompt.model))
    if prompt.system:
        sections.append(Section("system prompt", prompt.system))
    for number, message in enumerate(prompt.messages, 1):
        sections.append(Section(f"message {number} [{message.role}]", message.text))
    if prompt.tools:
        sections.append(json_section(f"tools ({len(prompt.tools)})", prompt.tools))
    return sections


def _response_sections(data: dict[str, Any]) -> list[Section]:
    sections = []
    if data.get("text") not in (None, ""):
        sections.append(Section("response", _text(data.pop("text"))))
    if data.get("tool_calls"):
        sections.append(json_section("tool calls", data.pop("tool_calls")))
    facts = [f"{key}: {data.pop(key)}" for key in ("model", "finish_reason") if key in data]
    for key, label in (("latency_ms", "latency"), ("first_chunk_ms", "first chunk")):
        value = data.pop(key, None)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            facts.append(f"{label}: {value:.0f} ms")  # recorded with sub-microsecond digits nobody reads
    usage = data.pop("usage", None)
    if isinstance(usage, dict):
        facts.append("usage: " + ", ".join(f"{k} {v}" for k, v in usage.items()))
    if facts:
        sections.append(Section("meta", "\n".join(facts)))
    return sections


def _tool_sections(data: dict[str, Any]) -> list[Section]:
    call = f"  (call {data.pop('call_id')})" if data.get("call_id") else ""
    sections = [Section("tool", str(data.pop("tool", "?")) + call)]
    data.pop("duration_ms", None)  # in the header
    if "arguments" in data:
        sections.append(json_section("arguments", data.pop("arguments")))
    if "result" in data:
        result = data.pop("result")
        sections.append(Section("result", result) if isinstance(result, str) else json_section("result", result))
    if data.get("ok") is False:
        sections.append(Section("error", f"{data.pop('exception', '')}: {data.pop('error', '')}"))
    data.pop("ok", None)
    return sections


def json_section(title: str, value: Any) -> Section:
    """A JSON value: on one line when it is short, indented when it is not."""
    compact = json.dumps(value, ensure_ascii=False, default=str)
    return Section(title, compact) if len(compact) <= 60 else Section(title, _json(value), "json")


def _decision_sections(data: dict[str, Any]) -> list[Section]:
    sections = [Section("decision", _text(data.pop("decision", "")))]
    if data.get("reasoning"):
        sections.append(Section("reasoning", _text(data.pop("reasoning"))))
    alternatives = data.pop("alternatives", None)
    if alternatives:
        lines = [f"- {_text(a)}" for a in alternatives] if isinstance(alternatives, list) else [_text(alternatives)]
        sections.append(Section("alternatives", "\n".join(lines)))
    return sections


def _error_sections(data: dict[str, Any]) -> list[Section]:
    kind = f"{data.pop('exception')}: " if data.get("exception") else ""
    sections = [Section("error", kind + _text(data.pop("error", "")))]
    if data.get("traceback"):
        sections.append(Section("traceback", _text(data.pop("traceback"))))
    return sections


def _state_sections(data: dict[str, Any]) -> list[Section]:
    return [json_section("state", data.pop("state", None))]


def _log_sections(data: dict[str, Any]) -> list[Section]:
    return [Section(f"log [{data.pop('level', 'info')}]", _text(data.pop("message", "")))]


def _start_sections(data: dict[str, Any]) -> list[Section]:
    command = " ".join(map(str, data.pop("command", None) or []))
    facts = [f"command: {command}"] + [f"{key}: {data.pop(key)}" for key in
                                       ("cwd", "branch", "base_commit", "host", "user", "parent_session")
                                       if data.get(key) is not None]
    data.clear()  # the environment's names and the rest are in `agitlog show --json`
    return [Section("session", "\n".join(facts))]


def _end_sections(data: dict[str, Any]) -> list[Section]:
    facts = [f"{key}: {data.pop(key)}" for key in ("status", "exit_code", "signal", "duration_s")
             if data.get(key) is not None]
    data.pop("ended_at", None)
    data.pop("signal", None)
    return [Section("session end", "\n".join(facts))]


def _span_sections(data: dict[str, Any]) -> list[Section]:
    sections = [Section("span", _text(data.pop("name", "")))]
    if data.get("ok") is False:
        sections.append(Section("error", _text(data.pop("error", ""))))
    data.pop("ok", None)
    return sections


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, default=str)


_SECTION_BUILDERS: dict[str, Callable[[dict[str, Any]], list[Section]]] = {
    "llm.request": _request_sections,
    "llm.response": _response_sections,
    "tool.call": _tool_sections,
    "tool.result": _tool_sections,
    "decision": _decision_sections,
    "error": _error_sections,
    "state": _state_sections,
    "log": _log_sections,
    "session.start": _start_sections,
    "session.end": _end_sections,
    "span.start": _span_sections,
    "span.end": _span_sections,
}
