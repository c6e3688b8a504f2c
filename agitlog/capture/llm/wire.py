"""What an LLM exchange means: the event data agitlog stores for one proxied call.

Pure functions over (`LLMRequest`, `LLMResult`); they never raise on odd input (a body that is not
JSON, a stream cut short, an unknown API) and report what they could read.

Understood wire formats, streaming (server-sent events) and not:

- ``chat.completions``: OpenAI Chat Completions (``POST .../chat/completions``). A stream is
  ``data: <chunk>`` lines ending in ``data: [DONE]``; text and tool-call arguments arrive as deltas,
  tool calls keyed by ``index`` with ``id``/``name`` in their first delta; usage only arrives, in a
  last chunk with empty ``choices``, when the request set ``stream_options.include_usage``.
- ``responses``: OpenAI Responses (``POST .../responses``). A stream is typed events
  (``response.output_text.delta``, ``response.function_call_arguments.delta``,
  ``response.output_item.done``, ...) ending in ``response.completed`` / ``response.incomplete`` /
  ``response.failed``, whose ``response`` is the full object; a stream without one is assembled
  from the deltas.
- ``messages``: Anthropic Messages (``POST .../v1/messages``). A stream is ``message_start`` (model,
  input and cache usage), ``content_block_start``/``content_block_delta``/``content_block_stop`` per
  block (``text_delta``, ``input_json_delta`` partial JSON for tool input, ``thinking_delta``),
  ``message_delta`` (stop reason, final output usage), ``message_stop``; ``ping`` and ``error``
  may appear anywhere.
- ``generateContent``: Google's Gemini API (``POST .../models/<model>:generateContent``, and
  ``:streamGenerateContent?alt=sse`` whose ``data:`` lines are each a whole response object holding
  the next parts). The model is in the path; ``functionCall`` parts are the tool calls (their
  ``id``, when the model gave one, else None: Gemini pairs calls and results by name and order);
  ``thought`` parts are not text.
- ``other``: anything else (embeddings, legacy completions, model lists, ...): recorded, not read.

Response event data fields:

- ``text``: the assistant text of the first choice / all output text parts / all text blocks, joined.
- ``tool_calls``: ``[{"id", "name", "arguments"}]``; ``arguments`` is the parsed JSON value when the
  arguments are valid JSON, else the raw string (e.g. cut short by max_tokens). ``id`` is the id the
  next request refers to (Chat ``id``, Responses ``call_id``, Anthropic ``tool_use.id``).
- ``finish_reason``: the provider's own word: Chat ``finish_reason``, Anthropic ``stop_reason``,
  Responses ``incomplete_details.reason`` when incomplete, else its ``status``.
- ``usage``: OpenTelemetry GenAI names, only those the provider reported: ``input_tokens`` (all input,
  cached included: Anthropic's ``input_tokens`` + ``cache_read_input_tokens`` +
  ``cache_creation_input_tokens``, as the GenAI conventions ask), ``output_tokens``,
  ``cache_read_input_tokens``, ``cache_creation_input_tokens``, ``reasoning_tokens``, ``total_tokens``.
- ``error``: the transport error from the proxy, else for HTTP >= 400 ``"HTTP <status>: <message>"``,
  else an error event inside a stream; None when the call succeeded.

Bodies are decoded (``Content-Encoding``, see `agitlog.capture.llm.encoding`) before they are read; a
request body in a coding that cannot be read is recorded as ``{"omitted": "<why>"}``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from agitlog.capture.llm.encoding import decode_content
from agitlog.constants import VOLATILE_REQUEST_FIELDS, VOLATILE_REQUEST_PATHS
from agitlog.capture.llm.proxy import LLMRequest, LLMResult

API_CHAT = "chat.completions"
API_RESPONSES = "responses"
API_MESSAGES = "messages"
API_GEMINI = "generateContent"
API_OTHER = "other"

VOLATILE_FIELDS = VOLATILE_REQUEST_FIELDS  # dropped (top level only) by canonical_request


def detect_api(request: LLMRequest) -> str:
    """Which wire format the call speaks, from its method and path."""
    path = request.path.split("?", 1)[0].rstrip("/")
    if request.method.upper() != "POST":
        return API_OTHER
    if path.endswith("/chat/completions"):
        return API_CHAT
    if path.endswith("/responses"):
        return API_RESPONSES
    if path.endswith("/v1/messages") or (request.provider == "anthropic" and path.endswith("/messages")):
        return API_MESSAGES
    if path.endswith((":generateContent", ":streamGenerateContent")):
        return API_GEMINI
    return API_OTHER


def request_event_data(request: LLMRequest) -> dict:
    """The event data of what the child asked."""
    coding = _get(request.headers, "content-encoding")
    decoded = decode_content(request.body, coding)
    body = _parse_body(decoded) if decoded is not None else {"omitted": f"request body in content coding {coding}"}
    fields = body if isinstance(body, dict) else {}
    return {
        "call_id": request.call_id,
        "provider": request.provider,
        "api": detect_api(request),
        "method": request.method,
        "path": request.path,
        "model": fields.get("model") or _azure_deployment(request.url) or _gemini_model(request.path),
        "stream": fields.get("stream") is True or ":streamGenerateContent" in request.path,
        "body": body,
    }


def response_event_data(request: LLMRequest, result: LLMResult) -> dict:
    """The event data of what came back: assembled text, tool calls, usage, timing, errors."""
    api = detect_api(request)
    reading = _read_response(api, result)
    model = reading.model or _request_model(request)
    return {
        "call_id": request.call_id,
        "provider": request.provider,
        "api": api,
        "status": result.status,
        "model": model,
        "text": reading.text,
        "tool_calls": reading.tool_calls,
        "finish_reason": reading.finish_reason,
        "usage": reading.usage,
        "latency_ms": result.latency_ms,
        "first_chunk_ms": result.first_chunk_ms,
        "stream": result.stream,
        "error": result.error or reading.error,
        "served_from_recording": result.served_from_recording,
    }


def canonical_request(body: bytes, ignore: tuple[str, ...] = ()) -> str:
    """A request body reduced for matching a rerun's call to the recorded one.

    JSON: parsed, top-level `VOLATILE_FIELDS` and the fields ``ignore`` names (JSON paths, the
    config's ``[rerun] ignore``) dropped, keys sorted, compact separators, non-ASCII kept. Anything else: the raw text (UTF-8, undecodable bytes replaced).
    """
    try:
        value = json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")
    if isinstance(value, dict):
        value = {key: item for key, item in value.items() if key not in VOLATILE_FIELDS}
    if isinstance(value, dict):
        from agitlog.jsondiff import without_paths

        value = without_paths(value, VOLATILE_REQUEST_PATHS + tuple(ignore))
    from agitlog.jsondiff import without_volatile_text

    return without_volatile_text(json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False))


def parse_sse(text: str) -> list[tuple[str | None, str]]:
    """Server-sent events as (event type, data); an unterminated last event is dropped (per the spec)."""
    events: list[tuple[str | None, str]] = []
    kind: str | None = None
    data: list[str] = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")[:-1]:
        if not line:
            if data:
                events.append((kind, "\n".join(data)))
            kind, data = None, []
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            data.append(value)
        elif name == "event":
            kind = value
    return events


# -- reading responses -------------------------------------------------------------------------------


class _Reading:
    """What could be read from a response body."""

    def __init__(self) -> None:
        self.model: str | None = None
        self.text = ""
        self.tool_calls: list[dict[str, Any]] = []
        self.finish_reason: str | None = None
        self.usage: dict[str, int] = {}
        self.error: str | None = None


def _read_response(api: str, result: LLMResult) -> _Reading:
    reading = _Reading()
    body = decode_content(result.body, _get(result.headers, "content-encoding"))
    if body is None:
        return reading
    text = body.decode("utf-8", "replace")
    try:
        if result.stream:
            _STREAM_READERS.get(api, _ignore)(reading, parse_sse(text))
        else:
            value = _parse_body(body)
            if isinstance(value, dict):
                _BODY_READERS.get(api, _ignore)(reading, value)
                if result.status is not None and result.status >= 400:
                    reading.error = f"HTTP {result.status}: {_error_message(value) or text[:500]}"
    except (TypeError, ValueError, AttributeError, KeyError):
        pass  # a malformed body: report what was read before it
    if reading.error is None and result.status is not None and result.status >= 400:
        reading.error = f"HTTP {result.status}: {text[:500]}"
    return reading


def _ignore(reading: _Reading, value: Any) -> None:
    pass


def _parse_body(body: bytes) -> Any:
    if not body:
        return {}
    try:
        return json.loads(body)
    except ValueError:
        return {"raw": body.decode("utf-8", "replace")}


def _loads(data: str) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return None  # one damaged event must not hide the others


def _parse_arguments(raw: str) -> Any:
    if raw == "":
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _error_message(value: dict) -> str | None:
    error = value.get("error")
    if isinstance(error, dict):
        return error.get("message") or json.dumps(error)
    if isinstance(error, str):
        return error
    return None


def _get(headers: dict[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _request_model(request: LLMRequest) -> str | None:
    body = _parse_body(request.body)
    model = body.get("model") if isinstance(body, dict) else None
    return model or _azure_deployment(request.url) or _gemini_model(request.path)


def _gemini_model(path: str) -> str | None:
    """``gemini-2.5-flash`` from ``.../models/gemini-2.5-flash:streamGenerateContent?alt=sse``."""
    marker = "/models/"
    if marker not in path or ":" not in path.rsplit("/", 1)[-1]:
        return None
    return path.split(marker, 1)[1].split(":", 1)[0] or None


def _azure_deployment(url: str) -> str | None:
    marker = "/openai/deployments/"
    if marker not in url:
        return None
    return url.split(marker, 1)[1].split("/", 1)[0].split("?", 1)[0] or None


def _usage(source: Any, mapping: Mapping[str, tuple[str, ...]]) -> dict[str, int]:
    """Picks integer counts out of a provider usage object; `mapping` is our name -> key path."""
    usage: dict[str, int] = {}
    if not isinstance(source, dict):
        return usage
    for name, path in mapping.items():
        value: Any = source
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, int) and not isinstance(value, bool):
            usage[name] = value
    return usage


# -- OpenAI Chat Completions -------------------------------------------------------------------------

_CHAT_USAGE = {
    "input_tokens": ("prompt_tokens",),
    "output_tokens": ("completion_tokens",),
    "cache_read_input_tokens": ("prompt_tokens_details", "cached_tokens"),
    "reasoning_tokens": ("completion_tokens_details", "reasoning_tokens"),
    "total_tokens": ("total_tokens",),
}


def _read_chat_body(reading: _Reading, value: dict) -> None:
    reading.model = value.get("model")
    reading.usage = _usage(value.get("usage"), _CHAT_USAGE)
    choices = value.get("choices") or []
    if not choices:
        return
    choice = choices[0]
    message = choice.get("message") or {}
    reading.text = _content_text(message.get("content"))
    reading.finish_reason = choice.get("finish_reason")
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        arguments = function.get("arguments")
        reading.tool_calls.append(
            {"id": call.get("id"), "name": function.get("name"), "arguments": _parse_arguments(arguments or "")}
        )


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # some compatible servers answer with content parts
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def _read_chat_stream(reading: _Reading, events: list[tuple[str | None, str]]) -> None:
    texts: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    for _, data in events:
        if data.strip() == "[DONE]":
            break
        chunk = _loads(data)
        if not isinstance(chunk, dict):
            continue
        if chunk.get("error"):
            reading.error = f"stream error: {_error_message(chunk)}"
        reading.model = chunk.get("model") or reading.model
        if chunk.get("usage"):
            reading.usage = _usage(chunk["usage"], _CHAT_USAGE)
        for choice in chunk.get("choices") or []:
            if choice.get("index", 0) == 0:
                _apply_chat_delta(choice, texts, calls)
                reading.finish_reason = choice.get("finish_reason") or reading.finish_reason
    reading.text = "".join(texts)
    reading.tool_calls = [
        {"id": call["id"], "name": call["name"], "arguments": _parse_arguments(call["arguments"])}
        for _, call in sorted(calls.items())
    ]


def _apply_chat_delta(choice: dict, texts: list[str], calls: dict[int, dict[str, Any]]) -> None:
    delta = choice.get("delta") or {}
    if isinstance(delta.get("content"), str):
        texts.append(delta["content"])
    for call in delta.get("tool_calls") or []:
        entry = calls.setdefault(call.get("index", 0), {"id": None, "name": None, "arguments": ""})
        function = call.get("function") or {}
        entry["id"] = entry["id"] or call.get("id")
        entry["name"] = entry["name"] or function.get("name")
        entry["arguments"] += function.get("arguments") or ""


# -- OpenAI Responses --------------------------------------------------------------------------------

_RESPONSES_USAGE = {
    "input_tokens": ("input_tokens",),
    "output_tokens": ("output_tokens",),
    "cache_read_input_tokens": ("input_tokens_details", "cached_tokens"),
    "reasoning_tokens": ("output_tokens_details", "reasoning_tokens"),
    "total_tokens": ("total_tokens",),
}
_RESPONSES_TERMINAL = ("response.completed", "response.incomplete", "response.failed")


def _read_responses_body(reading: _Reading, value: dict) -> None:
    reading.model = value.get("model")
    reading.usage = _usage(value.get("usage"), _RESPONSES_USAGE)
    status = value.get("status")
    incomplete = value.get("incomplete_details") or {}
    reading.finish_reason = incomplete.get("reason") if status == "incomplete" else status
    texts: list[str] = []
    for item in value.get("output") or []:
        if item.get("type") == "message":
            texts.extend(
                part.get("text", "") for part in item.get("content") or [] if part.get("type") == "output_text"
            )
        elif (call := _responses_tool_call(item)) is not None:
            reading.tool_calls.append(call)
    reading.text = "".join(texts)
    if status == "failed" and value.get("error"):
        reading.error = f"response failed: {_error_message(value) or value['error']}"


def _responses_tool_call(item: dict) -> dict[str, Any] | None:
    kind = item.get("type")
    if kind == "function_call":
        return {
            "id": item.get("call_id"),
            "name": item.get("name"),
            "arguments": _parse_arguments(item.get("arguments") or ""),
        }
    if kind == "custom_tool_call":
        return {"id": item.get("call_id"), "name": item.get("name"), "arguments": item.get("input")}
    if kind == "mcp_call":
        return {
            "id": item.get("id"),
            "name": item.get("name"),
            "arguments": _parse_arguments(item.get("arguments") or ""),
        }
    return None


def _read_responses_stream(reading: _Reading, events: list[tuple[str | None, str]]) -> None:
    payloads = [p for _, data in events if isinstance(p := _loads(data), dict)]
    for payload in payloads:
        if payload.get("type") in _RESPONSES_TERMINAL and isinstance(payload.get("response"), dict):
            _read_responses_body(reading, payload["response"])
            return
    _assemble_responses(reading, payloads)


def _assemble_responses(reading: _Reading, payloads: list[dict]) -> None:
    """A stream that ended without its terminal event: rebuild what arrived."""
    texts: list[str] = []
    items: dict[str, dict[str, Any]] = {}
    for payload in payloads:
        kind = payload.get("type")
        if kind in ("response.created", "response.in_progress"):
            reading.model = (payload.get("response") or {}).get("model") or reading.model
        elif kind == "response.output_text.delta":
            texts.append(payload.get("delta", ""))
        elif kind in ("response.output_item.added", "response.output_item.done"):
            item = payload.get("item") or {}
            items[item.get("id", "")] = dict(item)
        elif kind == "response.function_call_arguments.delta":
            entry = items.setdefault(payload.get("item_id", ""), {"type": "function_call", "arguments": ""})
            entry["arguments"] = (entry.get("arguments") or "") + payload.get("delta", "")
        elif kind == "error":
            reading.error = f"stream error: {payload.get('message') or payload.get('code')}"
    reading.text = "".join(texts)
    reading.tool_calls = [call for item in items.values() if (call := _responses_tool_call(item)) is not None]


# -- Anthropic Messages ------------------------------------------------------------------------------

_MESSAGES_USAGE = {
    "input_tokens": ("input_tokens",),
    "output_tokens": ("output_tokens",),
    "cache_read_input_tokens": ("cache_read_input_tokens",),
    "cache_creation_input_tokens": ("cache_creation_input_tokens",),
}
_TOOL_BLOCKS = ("tool_use", "server_tool_use", "mcp_tool_use")


def _messages_usage(raw: dict[str, int]) -> dict[str, int]:
    usage = dict(raw)
    if "input_tokens" in usage:  # Anthropic counts cached input apart; the GenAI convention includes it
        usage["input_tokens"] += usage.get("cache_read_input_tokens", 0) + usage.get("cache_creation_input_tokens", 0)
    return usage


def _read_messages_body(reading: _Reading, value: dict) -> None:
    reading.model = value.get("model")
    reading.usage = _messages_usage(_usage(value.get("usage"), _MESSAGES_USAGE))
    reading.finish_reason = value.get("stop_reason")
    blocks = value.get("content") or []
    reading.text = "".join(block.get("text", "") for block in blocks if block.get("type") == "text")
    reading.tool_calls = [
        {"id": block.get("id"), "name": block.get("name"), "arguments": block.get("input")}
        for block in blocks
        if block.get("type") in _TOOL_BLOCKS
    ]


def _read_messages_stream(reading: _Reading, events: list[tuple[str | None, str]]) -> None:
    blocks: dict[int, dict[str, Any]] = {}
    raw_usage: dict[str, int] = {}
    for _, data in events:
        event = _loads(data)
        if not isinstance(event, dict):
            continue
        kind = event.get("type")
        if kind == "message_start":
            message = event.get("message") or {}
            reading.model = message.get("model")
            raw_usage.update(_usage(message.get("usage"), _MESSAGES_USAGE))
        elif kind == "content_block_start":
            blocks[event.get("index", 0)] = {**(event.get("content_block") or {}), "_json": ""}
        elif kind == "content_block_delta":
            _apply_messages_delta(blocks.setdefault(event.get("index", 0), {"_json": ""}), event.get("delta") or {})
        elif kind == "message_delta":
            reading.finish_reason = (event.get("delta") or {}).get("stop_reason") or reading.finish_reason
            raw_usage.update(_usage(event.get("usage"), _MESSAGES_USAGE))  # cumulative counts
        elif kind == "error":
            reading.error = f"stream error: {_error_message(event)}"
    reading.usage = _messages_usage(raw_usage)
    ordered = [block for _, block in sorted(blocks.items())]
    reading.text = "".join(block.get("text", "") for block in ordered if block.get("type") == "text")
    reading.tool_calls = [
        {"id": block.get("id"), "name": block.get("name"), "arguments": _block_input(block)}
        for block in ordered
        if block.get("type") in _TOOL_BLOCKS
    ]


def _apply_messages_delta(block: dict[str, Any], delta: dict) -> None:
    kind = delta.get("type")
    if kind == "text_delta":
        block["text"] = block.get("text", "") + delta.get("text", "")
    elif kind == "input_json_delta":
        block["_json"] += delta.get("partial_json", "")
    elif kind == "thinking_delta":
        block["thinking"] = block.get("thinking", "") + delta.get("thinking", "")


def _block_input(block: dict[str, Any]) -> Any:
    if block["_json"]:
        return _parse_arguments(block["_json"])
    return block.get("input") if block.get("input") is not None else {}


# -- Gemini generateContent -------------------------------------------------------------------------

_GEMINI_USAGE = {
    "input_tokens": ("promptTokenCount",),
    "output_tokens": ("candidatesTokenCount",),
    "cache_read_input_tokens": ("cachedContentTokenCount",),
    "reasoning_tokens": ("thoughtsTokenCount",),
    "total_tokens": ("totalTokenCount",),
}


def _read_gemini_body(reading: _Reading, value: dict) -> None:
    _read_gemini_stream(reading, [(None, json.dumps(value))])


def _read_gemini_stream(reading: _Reading, events: list[tuple[str | None, str]]) -> None:
    """Each chunk is a whole response holding the next parts of the first candidate."""
    texts: list[str] = []
    for _, data in events:
        chunk = _loads(data)
        if not isinstance(chunk, dict):
            continue
        if chunk.get("error"):
            reading.error = f"stream error: {_error_message(chunk)}"
        reading.model = chunk.get("modelVersion") or reading.model
        if chunk.get("usageMetadata"):
            reading.usage = _usage(chunk["usageMetadata"], _GEMINI_USAGE)
        candidate = next(iter(chunk.get("candidates") or []), None)
        if not isinstance(candidate, dict):
            continue
        reading.finish_reason = candidate.get("finishReason") or reading.finish_reason
        for part in (candidate.get("content") or {}).get("parts") or []:
            if not isinstance(part, dict):
                continue
            if isinstance(part.get("text"), str) and not part.get("thought"):
                texts.append(part["text"])
            call = part.get("functionCall")
            if isinstance(call, dict):
                reading.tool_calls.append({"id": call.get("id"), "name": call.get("name"),
                                           "arguments": call.get("args") if call.get("args") is not None else {}})
    reading.text = "".join(texts)


_BODY_READERS = {API_CHAT: _read_chat_body, API_RESPONSES: _read_responses_body, API_MESSAGES: _read_messages_body,
                 API_GEMINI: _read_gemini_body}
_STREAM_READERS = {
    API_CHAT: _read_chat_stream,
    API_RESPONSES: _read_responses_stream,
    API_MESSAGES: _read_messages_stream,
    API_GEMINI: _read_gemini_stream,
}
