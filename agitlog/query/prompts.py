"""One shape for a prompt, whoever recorded it.

``llm.request`` data comes in two shapes: the SDK's (``model``, ``system``, ``messages``, ``tools``,
``prompt``) and the LLM proxy's (``body`` = the exact request JSON, OpenAI Chat ``messages``,
OpenAI Responses ``instructions``/``input``, Anthropic ``system``/``messages``/``tools``, or Gemini
``systemInstruction``/``contents``, whose ``model`` turns are the assistant's).
``normalize_request`` reads either into a ``Prompt`` whose messages are plain text, so the
viewer, ``--plain`` and ``agitlog state`` can show the conversation as the model saw it.
"""
from __future__ import annotations

import json
import re

from agitlog.datatypes import datatype, field

TYPE_CHECKING = False  # typing costs start-up; only checkers need it
if TYPE_CHECKING:
    from typing import Any, Iterable


@datatype(frozen=True)
class Message:
    role: str
    text: str


@datatype(frozen=True)
class Prompt:
    model: str | None = None
    system: str | None = None
    messages: list[Message] = field(default_factory=list)
    tools: list[Any] = field(default_factory=list)


def normalize_request(data: dict[str, Any]) -> Prompt:
    """The prompt an ``llm.request`` event recorded, from either shape."""
    body = data.get("body") if isinstance(data.get("body"), dict) else {}
    source = {**body, **{k: v for k, v in data.items() if k != "body"}} if body else data
    system_parts = [text for text in (_content_text(source.get("system")), _content_text(source.get("instructions")),
                                      _gemini_text(source.get("systemInstruction"))) if text]
    messages: list[Message] = [_gemini_message(item) for item in _as_list(source.get("contents"))]
    for item in _as_list(source.get("messages")) + _as_list(source.get("input")):
        message = _message(item)
        if message.role == "system" and not messages:
            system_parts.append(message.text)
        else:
            messages.append(message)
    if source.get("prompt") not in (None, "") and not messages:
        messages.append(Message("user", _content_text(source["prompt"])))
    model = source.get("model")
    return Prompt(model=str(model) if model else None, system="\n\n".join(system_parts) or None,
                  messages=messages, tools=_as_list(source.get("tools")))


_REMINDER = re.compile(r"<system-reminder>.*?</system-reminder>\s*", re.DOTALL)


def user_text(message: Message) -> str:
    """A user message's own words: without the ``<system-reminder>`` blocks coding agents (Claude
    Code) put into the user turn."""
    return _REMINDER.sub("", message.text).strip()


def first_user_prompt(events: Iterable[dict[str, Any]]) -> str | None:
    """What the user asked: the first ``user.prompt`` event (what a coding agent's hook or history
    says the user typed), else the first user message of the first ``llm.request`` that has one (not
    a system prompt, not a system reminder; an agent's few-shot examples can come first, as aider's do)."""
    events = list(events)
    for event in events:
        typed = (event.get("data") or {}).get("prompt") if event.get("type") == "user.prompt" else None
        if isinstance(typed, str) and typed.strip():
            return typed.strip()
    for event in events:
        if event.get("type") != "llm.request":
            continue
        for message in normalize_request(event.get("data") or {}).messages:
            text = user_text(message) if message.role == "user" else ""
            if text:
                return text
    return None


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    return list(value) if isinstance(value, list) else [value]


def _message(item: Any) -> Message:
    if not isinstance(item, dict):
        return Message("user", _content_text(item))
    kind = item.get("type")
    if kind in ("function_call", "tool_use"):  # OpenAI Responses items outside any message
        return Message("assistant", f"→ {item.get('name')}({_json(item.get('arguments', item.get('input')))})")
    if kind in ("function_call_output", "tool_result"):
        return Message("tool", _content_text(item.get("output", item.get("content"))))
    role = str(item.get("role") or "user")
    text = _content_text(item.get("content"))
    calls = item.get("tool_calls") or []
    if calls:
        text = "\n".join([text] * bool(text) + [f"→ {_call_text(call)}" for call in calls])
    if role == "tool" and item.get("tool_call_id"):
        text = f"[{item['tool_call_id']}] {text}"
    return Message(role, text)


def _gemini_text(content: Any) -> str:
    """Text of a Gemini ``Content`` (``{"role", "parts": [...]}``) or of a bare string."""
    if isinstance(content, dict):
        return _content_text(content.get("parts"))
    return _content_text(content)


def _gemini_message(item: Any) -> Message:
    """A Gemini turn: ``model`` is the assistant; a user turn of function results only is a tool turn."""
    if not isinstance(item, dict):
        return Message("user", _content_text(item))
    parts = _as_list(item.get("parts"))
    role = "assistant" if item.get("role") == "model" else str(item.get("role") or "user")
    if role == "user" and parts and all(isinstance(p, dict) and "functionResponse" in p for p in parts):
        role = "tool"
    return Message(role, _content_text(parts))


def _call_text(call: Any) -> str:
    if not isinstance(call, dict):
        return _json(call)
    function = call.get("function") if isinstance(call.get("function"), dict) else call
    return f"{function.get('name', '?')}({_args(function.get('arguments', function.get('input')))})"


def _args(value: Any) -> str:
    return value if isinstance(value, str) else _json(value)


def _content_text(content: Any) -> str:
    """Text of a message's content: a string, or a list of typed parts (text, tool_use, images...)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        content = [content]
    if not isinstance(content, list):
        return _json(content)
    return "\n".join(_part_text(part) for part in content)


def _part_text(part: Any) -> str:
    if isinstance(part, str):
        return part
    if not isinstance(part, dict):
        return _json(part)
    kind = part.get("type")
    if isinstance(part.get("text"), str):
        return part["text"]
    if kind == "tool_use":
        return f"→ {part.get('name')}({_json(part.get('input'))})"
    if kind == "tool_result":
        return f"[tool result {part.get('tool_use_id', '')}] {_content_text(part.get('content'))}"
    if isinstance(part.get("functionCall"), dict):  # Gemini
        call = part["functionCall"]
        return f"→ {call.get('name')}({_json(call.get('args', {}))})"
    if isinstance(part.get("functionResponse"), dict):
        result = part["functionResponse"]
        return f"[tool result {result.get('name', '')}] {_json(result.get('response'))}"
    return f"[{kind or 'part'}]" if kind in ("image", "image_url", "input_image", "document") else _json(part)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)
