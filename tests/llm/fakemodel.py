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
    # A coding agent's task (see `coding_script`): tool calls answered in order, one per model turn,
    # to any request that offers tools by those names; None keeps the weather-tool behaviour.
    script: list[dict[str, Any]] | dict[str, list[dict[str, Any]]] | None = None
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
        body = self._read_body()
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
            events, payload, text = _chat(request, self.fake.script)
        elif path.endswith("/responses"):
            events, payload, text = _responses(request, self.fake.script)
        elif path.endswith("/v1/messages"):
            events, payload, text = _messages(request, self.fake.script)
        elif ":generateContent" in path or ":streamGenerateContent" in path:
            events, payload, text = _gemini(request, self.fake.script, path.rsplit("/", 1)[-1].split(":")[0])
            if ":streamGenerateContent" in path:
                request = {"stream": True}
        else:
            self._send_json(404, {"error": {"message": f"no route {path}", "type": "not_found"}})
            return
        self.fake.answers.append(text)
        if request.get("stream"):
            self._send_stream(events)
        else:
            self._send_json(200, payload)

    def _read_body(self) -> bytes:
        """The request body, by Content-Length or chunked (Node's fetch streams large bodies)."""
        if "chunked" not in (self.headers.get("Transfer-Encoding") or "").lower():
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))
        chunks = []
        while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
            chunks.append(self.rfile.read(size))
            self.rfile.readline()
        self.rfile.readline()
        return b"".join(chunks)

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


def aider_script() -> dict[str, list[dict[str, Any]]]:
    """Answers in aider's "whole" edit format: the first prompt writes notes.txt, the second edits it."""
    return {"texts": [{"when": "add notes", "text": "notes.txt\n```\nhello\n```\n"},
                      {"when": "greet the world", "text": "notes.txt\n```\nhello world\n```\n"}]}


def _scripted_text(request: dict, script: Any) -> str | None:
    """A scripted plain-text answer for the last user message (agents that edit by text, like aider)."""
    if not isinstance(script, dict) or "texts" not in script:
        return None
    users = [m for m in request.get("messages") or [] if isinstance(m, dict) and m.get("role") == "user"]
    last = users[-1].get("content") if users else ""
    last = last if isinstance(last, str) else json.dumps(last)
    return next((t["text"] for t in script["texts"] if t["when"] in last), None)


def _chat(request: dict, script: Any = None) -> tuple[list[bytes], dict, str]:
    model = request.get("model", "fake-model")
    ident, created = "chatcmpl-" + secrets.token_hex(6), int(time.time())
    tool = _wants_tool_openai(request)
    text = None if tool else (_scripted_text(request, script) or _answer_text())
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


def codex_script() -> list[dict[str, Any]]:
    """The coding task as Codex's exec_command calls (what it offers a model it does not know)."""
    commands = ["printf 'hello\\n' > notes.txt", "wc -l notes.txt > lines.txt",
                "sed -i 's/hello/hello world/' notes.txt", "git add notes.txt && git commit -q -m 'Add notes'"]
    return [{"name": "exec_command", "input": {"cmd": command}} for command in commands]


def _responses(request: dict, script: Any = None) -> tuple[list[bytes], dict, str]:
    model = request.get("model", "fake-model")
    items = request.get("input") if isinstance(request.get("input"), list) else []
    done = sum(1 for i in items if isinstance(i, dict) and i.get("type") == "function_call_output")
    step = _scripted_tool(request, script, done) if isinstance(script, list) else None
    # a step with "together": n starts a model turn that asks for the script's next n calls at once
    steps = script[done:done + step.get("together", 1)] if step else []
    tool = step["name"] if step else (None if script else _wants_tool_openai(request))
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
        arguments = json.dumps(step["input"] if step else TOOL_ARGS)
        call_id = "call_" + secrets.token_hex(6)
        item: dict[str, Any] = {
            "type": "function_call",
            "id": item_id,
            "call_id": call_id,
            "name": tool,
            "arguments": arguments,
            "status": "completed",
        }
        extra = [{**item, "id": "fc_" + secrets.token_hex(6), "call_id": "call_" + secrets.token_hex(6),
                  "name": more["name"], "arguments": json.dumps(more["input"])} for more in steps[1:]]
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
    payload = {**base, "status": "completed", "output": [item, *extra] if tool else [item], "usage": usage}
    seq = iter(range(1000))

    def ev(kind: str, **data: Any) -> bytes:
        return _sse({"type": kind, "sequence_number": next(seq), **data}, event=kind)

    pending = {**base, "status": "in_progress", "output": [], "usage": None}
    events = [ev("response.created", response=pending), ev("response.in_progress", response=pending)]
    if tool:
        for index, call in enumerate([item, *extra]):
            events.append(ev("response.output_item.added", output_index=index,
                             item={**call, "arguments": "", "status": "in_progress"}))
            for piece in _pieces(call["arguments"], 5):
                events.append(ev("response.function_call_arguments.delta", item_id=call["id"], output_index=index,
                                 delta=piece))
            events.append(ev("response.function_call_arguments.done", item_id=call["id"], output_index=index,
                             arguments=call["arguments"]))
            if index < len(extra):
                events.append(ev("response.output_item.done", output_index=index, item=call))
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
    events.append(ev("response.output_item.done", output_index=len(extra) if tool else 0,
                     item=extra[-1] if tool and extra else item))
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


def coding_script(workdir: str, *, names: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Write a file, run a shell command, edit the file, commit: Claude Code's tool names and inputs.

    ``names`` renames tools for other agents (their inputs are adapted by their own scripts)."""
    path = f"{workdir}/notes.txt"
    steps = [
        {"name": "Write", "input": {"file_path": path, "content": "hello\n"}},
        {"name": "Bash", "input": {"command": "wc -l notes.txt > lines.txt", "description": "count lines"}},
        {"name": "Edit", "input": {"file_path": path, "old_string": "hello", "new_string": "hello world"}},
        {"name": "Bash", "input": {"command": "git add notes.txt && git commit -q -m 'Add notes'",
                                   "description": "commit"}},
    ]
    for step in steps:
        step["name"] = (names or {}).get(step["name"], step["name"])
    return steps


def subagent_script(workdir: str) -> dict[str, list[dict[str, Any]]]:
    """The main agent starts a subagent (Claude Code's Agent tool), which writes sub.txt."""
    return {
        "SUBTASK": [{"name": "Write", "input": {"file_path": f"{workdir}/sub.txt", "content": "from the subagent\n"}}],
        "": [{"name": "Agent", "input": {"description": "write sub.txt", "subagent_type": "general-purpose",
                                          "prompt": "SUBTASK: write sub.txt"}}],
    }


def _first_user_text(request: dict) -> str:
    for message in request.get("messages") or request.get("input") or []:
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            return content if isinstance(content, str) else json.dumps(content)
    return ""


def _scripted_tool(request: dict, script: list[dict[str, Any]] | dict[str, list[dict[str, Any]]] | None,
                   results: int) -> dict[str, Any] | None:
    """The script's next tool call when the request offers the tools the script uses. A dict of
    scripts picks the first whose key occurs in the conversation's first user message ("" matches all)."""
    if isinstance(script, dict):
        first = _first_user_text(request)
        script = next((steps for key, steps in script.items() if key in first), None)
    if not script:
        return None
    offered = {t.get("name") or (t.get("function") or {}).get("name") for t in request.get("tools") or []}
    if not {step["name"] for step in script} <= offered:
        return None
    return script[results] if results < len(script) else None


def _tool_results_anthropic(request: dict) -> int:
    return sum(1 for m in request.get("messages") or [] if isinstance(m.get("content"), list)
               for b in m["content"] if isinstance(b, dict) and b.get("type") == "tool_result")


def _messages(request: dict, script: Any = None) -> tuple[list[bytes], dict, str]:
    model = request.get("model", "fake-model")
    step = _scripted_tool(request, script, _tool_results_anthropic(request))
    tool = step["name"] if step else (None if script else _wants_tool_anthropic(request))
    tool_input = step["input"] if step else TOOL_ARGS
    text = (f"Next: {tool}." if step else "Let me check the weather.") if tool else _answer_text()
    usage = {
        "input_tokens": USAGE["input"],
        "output_tokens": USAGE["output"],
        "cache_creation_input_tokens": USAGE["cache_write"],
        "cache_read_input_tokens": USAGE["cached"],
    }
    tool_id = "toolu_" + secrets.token_hex(6)
    content: list[dict[str, Any]] = [{"type": "text", "text": text}]
    if tool:
        content.append({"type": "tool_use", "id": tool_id, "name": tool, "input": tool_input})
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
        for piece in _pieces(json.dumps(tool_input), 5):
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


# -- Gemini generateContent --------------------------------------------------------------------------


def gemini_script(workdir: str) -> list[dict[str, Any]]:
    """The coding task in Gemini CLI's tool names and arguments."""
    steps = coding_script(workdir, names={"Write": "write_file", "Bash": "run_shell_command", "Edit": "replace"})
    for step in steps:
        step["input"].pop("description", None)
        if step["name"] == "replace":
            step["input"]["instruction"] = "greet the world"
    return steps


def _gemini(request: dict, script: Any, model: str) -> tuple[list[bytes], dict, str]:
    contents = request.get("contents") or []
    results = sum(1 for c in contents for p in c.get("parts") or [] if isinstance(p, dict) and "functionResponse" in p)
    offered = {"tools": [{"name": d.get("name")} for t in request.get("tools") or []
                         for d in t.get("functionDeclarations") or t.get("function_declarations") or []]}
    step = _scripted_tool(offered, script, results) if script else None
    text = f"Next: {step['name']}." if step else _answer_text()
    parts: list[dict[str, Any]] = [{"text": text}]
    if step:
        parts.append({"functionCall": {"name": step["name"], "args": step["input"]}})
    usage = {"promptTokenCount": USAGE["input"], "candidatesTokenCount": USAGE["output"],
             "totalTokenCount": USAGE["input"] + USAGE["output"]}
    payload = {"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}],
               "usageMetadata": usage, "modelVersion": model, "responseId": secrets.token_hex(6)}
    return [_sse(payload)], payload, text
