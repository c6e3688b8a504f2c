"""A local fake model server speaking OpenAI Chat Completions, OpenAI Responses and Anthropic Messages.

Streaming (SSE, chunked) and not, tool use, a random token in every answer (so recordings are
distinguishable from reruns), and failure modes: the next N calls fail with a 5xx, the next N streams
die mid-way (socket closed without the final chunk). It records what it received and what it sent.
"""

from __future__ import annotations

import gzip
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOOL_ARGS = {"city": "Paris"}
USAGE = {"input": 21, "output": 9, "cached": 3, "reasoning": 2, "cache_write": 4}


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    peer: int = 0  # the client's port: one value per TCP connection


@dataclass
class FakeModel:
    """Start with `start()`; `url` is the root (``http://127.0.0.1:<port>``)."""

    received: list[Received] = field(default_factory=list)
    sent: list[bytes] = field(default_factory=list)  # response bodies as on the wire (de-chunked)
    answers: list[str] = field(default_factory=list)  # assistant text of each answer
    stream_gap: float = 0.0  # pause after the first SSE event
    gzip_json: bool = False
    each_tool_once: bool = False  # call every offered tool once (a handoff, then the next agent's tool), then answer
    _fail: list[int] = field(default_factory=list)
    _die: list[int] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FakeModel:
        self._server = _QuietServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.fake = self  # type: ignore[attr-defined]
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def fail_next(self, count: int, status: int = 503) -> None:
        with self._lock:
            self._fail.extend([status] * count)

    def die_mid_stream_next(self, count: int) -> None:
        with self._lock:
            self._die.extend([1] * count)

    def llm_requests(self) -> list[Received]:
        return [r for r in self.received if r.method == "POST"]

    def _take(self, queue: list[int]) -> int | None:
        with self._lock:
            return queue.pop(0) if queue else None


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients that hang up mid-stream are part of the tests


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: ThreadingHTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence per-request logs
        pass

    @property
    def fake(self) -> FakeModel:
        return self.server.fake  # type: ignore[attr-defined]

    def do_GET(self) -> None:
        self.fake.received.append(Received("GET", self.path, dict(self.headers.items()), b"", self.client_address[1]))
        if self.path.split("?")[0].rstrip("/").endswith("/models"):
            self._send_json(200, {"object": "list", "data": [{"id": "fake-1", "object": "model"}]})
        else:
            self._send_json(404, {"error": {"message": "not found", "type": "not_found"}})

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.fake.received.append(Received("POST", self.path, dict(self.headers.items()), body, self.client_address[1]))
        status = self.fake._take(self.fake._fail)
        if status is not None:
            error = {"type": "error", "error": {"type": "overloaded_error", "message": f"fake failure {status}"}}
            self._send_json(status, error, extra=[("retry-after-ms", "5")])
            return
        request = json.loads(body)
        path = self.path.split("?")[0]
        if self.fake.each_tool_once:
            request["_each_tool_once"] = True
        if path.endswith("/chat/completions"):
            events, payload, text = _chat(request)
        elif path.endswith("/responses"):
            events, payload, text = _responses(request)
        elif path.endswith("/v1/messages"):
            events, payload, text = _messages(request)
        else:
            self._send_json(404, {"error": {"message": f"no route {path}", "type": "not_found"}})
            return
        self.fake.answers.append(text)
        if request.get("stream"):
            self._send_stream(events)
        else:
            self._send_json(200, payload)

    def _send_json(self, status: int, payload: dict, extra: list[tuple[str, str]] = ()) -> None:  # type: ignore[assignment]
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        if self.fake.gzip_json and "gzip" in (self.headers.get("Accept-Encoding") or ""):
            body = gzip.compress(body)
            self.send_header("Content-Encoding", "gzip")
        self.fake.sent.append(body)
        for key, value in extra:
            self.send_header(key, value)
        self.send_header("x-request-id", "req_" + secrets.token_hex(6))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send_stream(self, events: list[bytes]) -> None:
        die = self.fake._take(self.fake._die) is not None
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        sent = []
        for index, event in enumerate(events):
            if die and index == 2:
                self.fake.sent.append(b"".join(sent))
                self.close_connection = True
                self.wfile.flush()
                self.connection.shutdown(2)  # the upstream "dies": no terminating chunk
                return
            self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
            sent.append(event)
            if index == 0 and self.fake.stream_gap:
                time.sleep(self.fake.stream_gap)
        self.fake.sent.append(b"".join(sent))  # before the last chunk: the client may go on at once
        self.wfile.write(b"0\r\n\r\n")


def _sse(data: dict | str, event: str | None = None) -> bytes:
    text = data if isinstance(data, str) else json.dumps(data)
    prefix = f"event: {event}\n" if event else ""
    return f"{prefix}data: {text}\n\n".encode()


def _answer_text() -> str:
    return f"Hello from the fake model, token {secrets.token_hex(4)}."


def _pieces(text: str, size: int = 7) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def _wants_tool_openai(request: dict) -> str | None:
    """Name of the first tool when tools are offered and no tool result came back yet."""
    tools = request.get("tools") or []
    if not tools:
        return None
    items = request.get("messages") or request.get("input") or []
    if request.get("_each_tool_once"):
        called = {str(i.get("name") or (i.get("function") or {}).get("name")) for item in _as_items(items)
                  for i in [item, *(item.get("tool_calls") or [])] if isinstance(i, dict)}
        names = [t.get("name") or t.get("function", {}).get("name") for t in tools]
        return next((name for name in names if name not in called), None)
    if isinstance(items, list) and any(
        isinstance(m, dict) and (m.get("role") == "tool" or m.get("type") == "function_call_output") for m in items
    ):
        return None
    tool = tools[0]
    return tool.get("name") or tool.get("function", {}).get("name")


def _as_items(items: Any) -> list[dict]:
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


# -- Chat Completions --------------------------------------------------------------------------------


def _chat(request: dict) -> tuple[list[bytes], dict, str]:
    model = request.get("model", "fake-model")
    ident, created = "chatcmpl-" + secrets.token_hex(6), int(time.time())
    tool = _wants_tool_openai(request)
    text = None if tool else _answer_text()
    call_id = "call_" + secrets.token_hex(6)
    arguments = json.dumps(TOOL_ARGS)
    usage = {
        "prompt_tokens": USAGE["input"],
        "completion_tokens": USAGE["output"],
        "total_tokens": USAGE["input"] + USAGE["output"],
        "prompt_tokens_details": {"cached_tokens": USAGE["cached"], "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": USAGE["reasoning"], "audio_tokens": 0},
    }
    finish = "tool_calls" if tool else "stop"
    message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
    if tool:
        message["tool_calls"] = [
            {"id": call_id, "type": "function", "function": {"name": tool, "arguments": arguments}}
        ]
    payload = {
        "id": ident,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": usage,
        "system_fingerprint": "fp_fake",
    }

    def chunk(delta: dict, finish_reason: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return _sse(
            {"id": ident, "object": "chat.completion.chunk", "created": created, "model": model, "choices": [choice]}
        )

    events = [chunk({"role": "assistant", "content": ""})]
    if tool:
        first = {"index": 0, "id": call_id, "type": "function", "function": {"name": tool, "arguments": ""}}
        events.append(chunk({"tool_calls": [first]}))
        for piece in _pieces(arguments, 5):
            events.append(chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}))
    else:
        events.extend(chunk({"content": piece}) for piece in _pieces(text or ""))
    events.append(chunk({}, finish))
    if (request.get("stream_options") or {}).get("include_usage"):
        final = {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [],
            "usage": usage,
        }
        events.append(_sse(final))
    events.append(_sse("[DONE]"))
    return events, payload, text or ""


# -- Responses ---------------------------------------------------------------------------------------


def _responses(request: dict) -> tuple[list[bytes], dict, str]:
    model = request.get("model", "fake-model")
    tool = _wants_tool_openai(request)
    text = None if tool else _answer_text()
    usage = {
        "input_tokens": USAGE["input"],
        "input_tokens_details": {"cached_tokens": USAGE["cached"]},
        "output_tokens": USAGE["output"],
        "output_tokens_details": {"reasoning_tokens": USAGE["reasoning"]},
        "total_tokens": USAGE["input"] + USAGE["output"],
    }
    item_id = ("fc_" if tool else "msg_") + secrets.token_hex(6)
    if tool:
        arguments = json.dumps(TOOL_ARGS)
        call_id = "call_" + secrets.token_hex(6)
        item: dict[str, Any] = {
            "type": "function_call",
            "id": item_id,
            "call_id": call_id,
            "name": tool,
            "arguments": arguments,
            "status": "completed",
        }
    else:
        part = {"type": "output_text", "text": text, "annotations": []}
        item = {"type": "message", "id": item_id, "status": "completed", "role": "assistant", "content": [part]}
    base = {
        "id": "resp_" + secrets.token_hex(6),
        "object": "response",
        "created_at": int(time.time()),
        "model": model,
        "error": None,
        "incomplete_details": None,
        "instructions": request.get("instructions"),
        "metadata": {},
        "parallel_tool_calls": True,
        "temperature": 1.0,
        "tool_choice": "auto",
        "tools": request.get("tools") or [],
        "top_p": 1.0,
    }
    payload = {**base, "status": "completed", "output": [item], "usage": usage}
    seq = iter(range(1000))

    def ev(kind: str, **data: Any) -> bytes:
        return _sse({"type": kind, "sequence_number": next(seq), **data}, event=kind)

    pending = {**base, "status": "in_progress", "output": [], "usage": None}
    events = [ev("response.created", response=pending), ev("response.in_progress", response=pending)]
    if tool:
        events.append(
            ev("response.output_item.added", output_index=0, item={**item, "arguments": "", "status": "in_progress"})
        )
        for piece in _pieces(item["arguments"], 5):
            events.append(ev("response.function_call_arguments.delta", item_id=item_id, output_index=0, delta=piece))
        events.append(
            ev("response.function_call_arguments.done", item_id=item_id, output_index=0, arguments=item["arguments"])
        )
    else:
        events.append(
            ev("response.output_item.added", output_index=0, item={**item, "status": "in_progress", "content": []})
        )
        empty = {"type": "output_text", "text": "", "annotations": []}
        events.append(ev("response.content_part.added", item_id=item_id, output_index=0, content_index=0, part=empty))
        for piece in _pieces(text or ""):
            events.append(
                ev(
                    "response.output_text.delta",
                    item_id=item_id,
                    output_index=0,
                    content_index=0,
                    delta=piece,
                    logprobs=[],
                )
            )
        events.append(
            ev("response.output_text.done", item_id=item_id, output_index=0, content_index=0, text=text, logprobs=[])
        )
        events.append(
            ev("response.content_part.done", item_id=item_id, output_index=0, content_index=0, part=item["content"][0])
        )
    events.append(ev("response.output_item.done", output_index=0, item=item))
    events.append(ev("response.completed", response=payload))
    return events, payload, text or ""


# -- Anthropic Messages ------------------------------------------------------------------------------


def _wants_tool_anthropic(request: dict) -> str | None:
    tools = request.get("tools") or []
    if not tools:
        return None
    for message in request.get("messages") or []:
        content = message.get("content")
        if isinstance(content, list) and any(isinstance(b, dict) and b.get("type") == "tool_result" for b in content):
            return None
    return tools[0].get("name")


def _messages(request: dict) -> tuple[list[bytes], dict, str]:
    model = request.get("model", "fake-model")
    tool = _wants_tool_anthropic(request)
    text = "Let me check the weather." if tool else _answer_text()
    usage = {
        "input_tokens": USAGE["input"],
        "output_tokens": USAGE["output"],
        "cache_creation_input_tokens": USAGE["cache_write"],
        "cache_read_input_tokens": USAGE["cached"],
    }
    tool_id = "toolu_" + secrets.token_hex(6)
    content: list[dict[str, Any]] = [{"type": "text", "text": text}]
    if tool:
        content.append({"type": "tool_use", "id": tool_id, "name": tool, "input": TOOL_ARGS})
    stop = "tool_use" if tool else "end_turn"
    ident = "msg_" + secrets.token_hex(6)
    payload = {
        "id": ident,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": usage,
    }
    start_usage = {**usage, "output_tokens": 1}
    message = {**payload, "content": [], "stop_reason": None, "usage": start_usage}
    events = [
        _sse({"type": "message_start", "message": message}, "message_start"),
        _sse(
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            "content_block_start",
        ),
        _sse({"type": "ping"}, "ping"),
    ]
    for piece in _pieces(text):
        delta = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}
        events.append(_sse(delta, "content_block_delta"))
    events.append(_sse({"type": "content_block_stop", "index": 0}, "content_block_stop"))
    if tool:
        block = {"type": "tool_use", "id": tool_id, "name": tool, "input": {}}
        events.append(_sse({"type": "content_block_start", "index": 1, "content_block": block}, "content_block_start"))
        for piece in _pieces(json.dumps(TOOL_ARGS), 5):
            delta = {
                "type": "content_block_delta",
                "index": 1,
                "delta": {"type": "input_json_delta", "partial_json": piece},
            }
            events.append(_sse(delta, "content_block_delta"))
        events.append(_sse({"type": "content_block_stop", "index": 1}, "content_block_stop"))
    final = {
        "type": "message_delta",
        "delta": {"stop_reason": stop, "stop_sequence": None},
        "usage": {"output_tokens": USAGE["output"]},
    }
    events.append(_sse(final, "message_delta"))
    events.append(_sse({"type": "message_stop"}, "message_stop"))
    return events, payload, text
