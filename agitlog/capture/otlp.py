"""Agent frameworks' own tracing, recorded during `agitlog run`.

Two sources describe which agent ran, its tool calls, handoffs and guardrails:

- **OpenTelemetry.** `agitlog run` starts an OTLP/HTTP receiver (protobuf and JSON) on loopback and
  points the child's ``OTEL_EXPORTER_OTLP_*`` variables at it; the path carries a per-session token
  (``http://127.0.0.1:PORT/<token>/v1/traces``), so no other local process can write into the
  session. If the user had set their own endpoint, every upload is also forwarded there unchanged,
  so their pipeline keeps working.
- **The OpenAI Agents SDK's trace uploads** (``POST /v1/traces/ingest``), which reach agitlog's LLM
  proxy and are handed to ``agents_sdk_spans`` instead of being recorded as model calls.

Both become ``FrameworkSpan`` values, and each span becomes events in the session's span tree (the
OpenTelemetry span id is the event's ``span``, its parent the ``parent_span``; a span without a
parent hangs off the session's root span)::

    span.start   name, operation (invoke_agent, execute_tool, chat, handoff, ...), source, model,
                 llm_calls (the seqs of the proxy's llm.request events the span covered)
    tool.call    tool, call_id, arguments          (tool spans)
    tool.result  tool, call_id, ok, result / error, duration_ms
    handoff      from_agent, to_agent              (handoff spans)
    guardrail    name, triggered                   (guardrail spans)
    span.end     name, ok (, error)

Events carry the framework's agent name (``gen_ai.agent.name``, OpenInference ``agent.name``, the
Agents SDK agent span's name; children inherit their parent's). Model calls are not recorded again:
the proxy already recorded them exactly; an LLM span instead names them in ``llm_calls``.
"""
from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

from agitlog.capture.endpoints import (  # noqa: F401 - the variable names are part of this module's API
    ENV_ENDPOINT, ENV_HEADERS, ENV_PROTOCOL, ENV_TRACES_ENDPOINT, ENV_TRACES_HEADERS, ENV_TRACES_PROTOCOL,
    otlp_base_url, otlp_child_env, user_traces_endpoint,
)

if TYPE_CHECKING:
    from agitlog.capture.recorder import Recorder

MAX_BODY = 64 * 1024 * 1024
LLM_OPERATIONS = ("chat", "text_completion", "generate_content", "generation", "response", "llm", "embeddings")
SLACK_S = 0.05      # a proxy call belongs to an LLM span if it started within the span, give or take this


@dataclass
class FrameworkSpan:
    """One span a framework reported, in the terms agitlog records."""

    span_id: str                  # 16 hex digits
    parent: str | None
    name: str
    operation: str                # invoke_agent, execute_tool, chat, handoff, guardrail, ...
    start: float                  # epoch seconds
    end: float
    agent: str | None = None      # the framework's agent name, when the span says it
    tool: str | None = None
    arguments: Any = None
    result: Any = None
    error: str | None = None
    model: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)   # handoff from/to, guardrail triggered, ...
    source: str = "otlp"

    @property
    def is_llm(self) -> bool:
        return self.operation in LLM_OPERATIONS


# --- OTLP payloads -> FrameworkSpan ----------------------------------------------------------------

def decode_otlp(body: bytes, *, content_type: str) -> list[FrameworkSpan]:
    """The spans of an OTLP/HTTP ExportTraceServiceRequest, protobuf or JSON; ValueError if neither."""
    if "json" in content_type:
        try:
            request = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"not JSON: {exc}") from None
        return list(_otlp_spans(request, hex_ids=True))
    from google.protobuf import json_format
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    try:
        message = ExportTraceServiceRequest.FromString(body)
    except DecodeError as exc:
        raise ValueError(f"not an OTLP protobuf request: {exc}") from None
    return list(_otlp_spans(json_format.MessageToDict(message), hex_ids=False))


def _otlp_spans(request: Any, *, hex_ids: bool) -> Iterable[FrameworkSpan]:
    if not isinstance(request, dict):
        raise ValueError("an OTLP request is a JSON object")
    for resource_spans in _list(request.get("resourceSpans")):
        for scope_spans in _list(_dict(resource_spans).get("scopeSpans")):
            for span in _list(_dict(scope_spans).get("spans")):
                parsed = _otlp_span(_dict(span), hex_ids=hex_ids)
                if parsed is not None:
                    yield parsed


def _otlp_span(span: dict[str, Any], *, hex_ids: bool) -> FrameworkSpan | None:
    span_id = _span_id(span.get("spanId"), hex_ids)
    if span_id is None:
        return None
    attrs = {a.get("key"): _any_value(a.get("value")) for a in _list(span.get("attributes")) if isinstance(a, dict)}
    name = str(span.get("name") or "")
    kind = str(attrs.get("openinference.span.kind") or "").lower()
    operation = str(attrs.get("gen_ai.operation.name") or kind or "span")
    tool = attrs.get("gen_ai.tool.name") or attrs.get("tool.name")
    if tool and operation in ("span", "tool"):
        operation = "execute_tool"
    if operation == "agent":
        operation = "invoke_agent"
    status = _dict(span.get("status"))
    failed = status.get("code") in (2, "STATUS_CODE_ERROR")
    is_tool = operation == "execute_tool"
    return FrameworkSpan(
        span_id=span_id, parent=_span_id(span.get("parentSpanId"), hex_ids), name=name, operation=operation,
        start=_nanos(span.get("startTimeUnixNano")), end=_nanos(span.get("endTimeUnixNano")),
        agent=_str(attrs.get("gen_ai.agent.name") or attrs.get("agent.name")
                   or (name if operation == "invoke_agent" and kind == "agent" else None)),
        tool=_str(tool),
        arguments=_json_or_text(attrs.get("gen_ai.tool.call.arguments") or (attrs.get("input.value") if is_tool else None)),
        result=_json_or_text(attrs.get("gen_ai.tool.call.result") or (attrs.get("output.value") if is_tool else None)),
        error=str(status.get("message") or "error") if failed else None,
        model=_str(attrs.get("gen_ai.request.model") or attrs.get("llm.model_name")),
        extra={"kind": kind} if kind else {},
    )


def _span_id(value: Any, hex_ids: bool) -> str | None:
    """OTLP JSON has hex ids; protobuf through MessageToDict has base64."""
    if not isinstance(value, str) or not value:
        return None
    if not hex_ids:
        import base64

        try:
            value = base64.b64decode(value).hex()
        except ValueError:
            return None
    value = value.lower()
    return value if len(value) == 16 and all(c in "0123456789abcdef" for c in value) and value != "0" * 16 else None


def _any_value(value: Any) -> Any:
    value = _dict(value)
    for key in ("stringValue", "boolValue", "doubleValue"):
        if key in value:
            return value[key]
    if "intValue" in value:
        try:
            return int(value["intValue"])
        except (TypeError, ValueError):
            return None
    if "arrayValue" in value:
        return [_any_value(v) for v in _list(_dict(value["arrayValue"]).get("values"))]
    return None


def _nanos(value: Any) -> float:
    try:
        return int(value) / 1e9
    except (TypeError, ValueError):
        return 0.0


# --- the OpenAI Agents SDK's trace uploads -> FrameworkSpan ---------------------------------------

def is_trace_upload(path: str) -> bool:
    """Whether a request through the LLM proxy is an Agents SDK trace upload, not a model call."""
    return path.split("?")[0].rstrip("/").endswith("/traces/ingest")


def agents_sdk_spans(body: bytes) -> list[FrameworkSpan]:
    """The spans of one ``/v1/traces/ingest`` upload (``{"data": [trace | trace.span, ...]}``)."""
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"not JSON: {exc}") from None
    spans = []
    for item in _list(_dict(payload).get("data")):
        item = _dict(item)
        if item.get("object") != "trace.span" or not item.get("id"):
            continue
        data = _dict(item.get("span_data"))
        kind = str(data.get("type") or "custom")
        error = _dict(item.get("error"))
        span = FrameworkSpan(
            span_id=_hash_id(str(item["id"])), parent=_hash_id(str(item["parent_id"])) if item.get("parent_id") else None,
            name=str(data.get("name") or kind), operation=_SDK_OPERATIONS.get(kind, kind),
            start=_iso(item.get("started_at")), end=_iso(item.get("ended_at") or item.get("started_at")),
            error=str(error.get("message") or "error") if error else None, source="openai-agents",
        )
        if kind == "agent":
            span.agent = span.name
            span.extra = {k: data[k] for k in ("handoffs", "tools", "output_type") if data.get(k)}
        elif kind == "function":
            span.tool, span.arguments, span.result = span.name, _json_or_text(data.get("input")), _json_or_text(data.get("output"))
        elif kind == "handoff":
            span.name = f"handoff {data.get('from_agent')} → {data.get('to_agent')}"
            span.extra = {"from_agent": data.get("from_agent"), "to_agent": data.get("to_agent")}
        elif kind == "guardrail":
            span.extra = {"triggered": bool(data.get("triggered"))}
        elif kind in ("generation", "response"):
            span.model = _str(data.get("model") or _dict(data.get("response")).get("model"))
        spans.append(span)
    return spans


_SDK_OPERATIONS = {"agent": "invoke_agent", "function": "execute_tool", "generation": "chat", "response": "chat"}


def _hash_id(text: str) -> str:
    """Agents SDK ids (``span_<24 hex>``) as the 16 hex digits of a W3C span id, stable per id."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _iso(value: Any) -> float:
    if not isinstance(value, str):
        return 0.0
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()


# --- FrameworkSpan -> events -----------------------------------------------------------------------

class SpanRecorder:
    """Turns framework spans into session events, remembering each span's agent (children inherit it)
    and which of the proxy's model calls each LLM span covered."""

    def __init__(self, recorder: Recorder, *, model_calls: Callable[[], list[tuple[int, float]]] | None = None) -> None:
        self.recorder = recorder
        self.model_calls = model_calls or (lambda: [])
        self._agents: dict[str, str] = {}
        self._claimed: set[int] = set()
        self._seen: set[str] = set()     # exporters retry: a span already recorded is not recorded again
        self._calls: dict[str, list[int]] = {}
        self._lock = threading.Lock()

    def record(self, spans: list[FrameworkSpan]) -> int:
        """Record the spans as a walk of their tree: a span's start, its children, then its end."""
        with self._lock:
            spans = [s for s in spans if s.span_id not in self._seen]
            self._seen.update(s.span_id for s in spans)
            self._calls = self._assign_model_calls([s for s in spans if s.is_llm])
            drafts: list[dict[str, Any]] = []
            for span, children in _walk(spans):
                drafts += self._opening(span) if children is not None else self._closing(span)
        self.recorder.record_many(drafts)
        return len(spans)

    def _base(self, span: FrameworkSpan) -> dict[str, Any]:
        return {"span": span.span_id, "parent_span": span.parent or self.recorder.root_span,
                "agent": self._agents.get(span.span_id)}

    def _opening(self, span: FrameworkSpan) -> list[dict[str, Any]]:
        agent = span.agent or (self._agents.get(span.parent) if span.parent else None)
        if agent:
            self._agents[span.span_id] = agent
        start: dict[str, Any] = {"name": span.name, "operation": span.operation, "source": span.source}
        if span.model:
            start["model"] = span.model
        if span.is_llm:
            start["llm_calls"] = self._calls.get(span.span_id, [])
        start.update(span.extra)
        base = self._base(span)
        drafts = [dict(base, type="span.start", ts=_ts(span.start), data=start)]
        if span.operation == "execute_tool":
            call = {"tool": span.tool or span.name, "call_id": span.span_id}
            if span.arguments is not None:
                call["arguments"] = span.arguments
            drafts.append(dict(base, type="tool.call", ts=_ts(span.start), data=call))
        elif span.operation == "handoff":
            drafts.append(dict(base, type="handoff", ts=_ts(span.start), data=dict(span.extra)))
        return drafts

    def _closing(self, span: FrameworkSpan) -> list[dict[str, Any]]:
        base = self._base(span)
        drafts = []
        if span.operation == "execute_tool":
            result: dict[str, Any] = {"tool": span.tool or span.name, "call_id": span.span_id, "ok": span.error is None,
                                      "duration_ms": round((span.end - span.start) * 1000, 3)}
            if span.error:
                result["error"] = span.error
            else:
                result["result"] = span.result
            drafts.append(dict(base, type="tool.result", ts=_ts(span.end), data=result))
        elif span.operation == "guardrail":
            drafts.append(dict(base, type="guardrail", ts=_ts(span.end), data={"name": span.name, **span.extra}))
        end: dict[str, Any] = {"name": span.name, "ok": span.error is None}
        if span.error:
            end["error"] = span.error
        drafts.append(dict(base, type="span.end", ts=_ts(span.end), data=end))
        return drafts

    def _assign_model_calls(self, spans: list[FrameworkSpan]) -> dict[str, list[int]]:
        """Each of the proxy's model calls not yet attributed goes to the LLM span it started in (the
        latest-starting one, when spans touch); a call just outside every span goes to the nearest."""
        assigned: dict[str, list[int]] = {}
        for seq, started in self.model_calls():
            if seq in self._claimed:
                continue
            near = [s for s in spans if s.start - SLACK_S <= started <= s.end + SLACK_S]
            if not near:
                continue
            best = max(near, key=lambda s: (s.start <= started <= s.end, s.start))
            assigned.setdefault(best.span_id, []).append(seq)
            self._claimed.add(seq)
        return assigned


def _walk(spans: list[FrameworkSpan]) -> Iterable[tuple[FrameworkSpan, list[FrameworkSpan] | None]]:
    """Depth-first over the spans' tree, children by start time: (span, children) when a span opens,
    (span, None) when it closes. A span whose parent is not in this batch is a root here."""
    ids = {s.span_id for s in spans}
    children: dict[str | None, list[FrameworkSpan]] = {}
    for span in spans:
        children.setdefault(span.parent if span.parent in ids else None, []).append(span)
    for group in children.values():
        group.sort(key=lambda s: s.start)
    stack: list[tuple[FrameworkSpan, bool]] = [(s, False) for s in reversed(children.get(None, []))]
    seen: set[str] = set()
    while stack:
        span, closing = stack.pop()
        if closing:
            yield span, None
            continue
        if span.span_id in seen:
            continue
        seen.add(span.span_id)
        kids = children.get(span.span_id, [])
        yield span, kids
        stack.append((span, True))
        stack.extend((kid, False) for kid in reversed(kids))


def _ts(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --- the receiver ----------------------------------------------------------------------------------

class OtlpReceiver:
    """An OTLP/HTTP receiver on loopback for one session: ``/<token>/v1/traces`` records spans;
    ``/<token>/v1/metrics`` and ``/<token>/v1/logs`` are accepted and dropped."""

    def __init__(self, spans: SpanRecorder, *, env: Mapping[str, str], host: str = "127.0.0.1",
                 token: str | None = None, listener: socket.socket | None = None) -> None:
        """``listener``: a socket already listening on ``host``, taken over (agitlog.capture.services
        binds it, and chooses ``token``, before the receiver is built)."""
        self.spans = spans
        self.token = token or os.urandom(16).hex()
        self.env = env
        self.forward_to = user_traces_endpoint(env)
        self.forward_headers = _parse_headers(env.get(ENV_TRACES_HEADERS) or env.get(ENV_HEADERS) or "")
        self.received = 0
        self._server = ThreadingHTTPServer((host, 0), _Handler, bind_and_activate=listener is None)
        if listener is not None:
            self._server.socket.close()
            listener.setblocking(True)
            self._server.socket = listener
            self._server.server_address = listener.getsockname()
        self._server.daemon_threads = True
        self._server.receiver = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="agitlog-otlp", daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return otlp_base_url(host, port, self.token)

    def start(self) -> OtlpReceiver:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def child_env(self) -> dict[str, str]:
        """Point the child's OpenTelemetry exporters here; the user's own endpoint still gets traces
        (we forward them), and their metrics and logs keep going where they went."""
        return otlp_child_env(self.base_url, self.env)

    def handle(self, path: str, body: bytes, content_type: str) -> tuple[int, str]:
        """One upload: (HTTP status, message)."""
        prefix = f"/{self.token}/v1/"
        if not path.startswith(prefix):
            return 404, "unknown path"
        if path[len(prefix):].rstrip("/") != "traces":
            return 200, "ok"  # metrics and logs: accepted, not recorded
        try:
            spans = decode_otlp(body, content_type=content_type)
        except ValueError as exc:
            self.spans.recorder.record({"type": "error", "data": {"error": "malformed OTLP upload", "reason": str(exc)}})
            return 400, str(exc)
        self.received += self.spans.record(spans)
        if self.forward_to:
            self._forward(body, content_type)
        return 200, "ok"

    def _forward(self, body: bytes, content_type: str) -> None:
        import urllib.error
        import urllib.request

        request = urllib.request.Request(self.forward_to, data=body, method="POST",
                                         headers={**self.forward_headers, "Content-Type": content_type})
        try:
            with urllib.request.urlopen(request, timeout=10):
                pass
        except (urllib.error.URLError, OSError) as exc:
            self.spans.recorder.record({"type": "log", "data": {
                "level": "warning", "message": f"could not forward OTLP traces to {self.forward_to}: {exc}"}})


def _parse_headers(text: str) -> dict[str, str]:
    """``OTEL_EXPORTER_OTLP_HEADERS``: comma-separated key=value, values URL-encoded."""
    from urllib.parse import unquote

    headers = {}
    for pair in text.split(","):
        key, sep, value = pair.partition("=")
        if sep and key.strip():
            headers[key.strip()] = unquote(value.strip())
    return headers


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the child's terminal stays quiet
        pass

    def do_POST(self) -> None:
        receiver: OtlpReceiver = self.server.receiver  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._reply(413, "too large")
            return
        body = self.rfile.read(length)
        if (self.headers.get("Content-Encoding") or "").lower() == "gzip":
            import gzip

            try:
                body = gzip.decompress(body)
            except (OSError, EOFError):
                self._reply(400, "bad gzip body")
                return
        status, message = receiver.handle(self.path, body, (self.headers.get("Content-Type") or "").lower())
        self._reply(status, message)

    def _reply(self, status: int, message: str) -> None:
        body = b"{}" if status == 200 else json.dumps({"message": message}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def start_otlp_receiver(recorder: Recorder, *, env: Mapping[str, str],
                        model_calls: Callable[[], list[tuple[int, float]]] | None = None) -> OtlpReceiver:
    return OtlpReceiver(SpanRecorder(recorder, model_calls=model_calls), env=env).start()


# --- small parsing helpers -------------------------------------------------------------------------

def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _json_or_text(value: Any) -> Any:
    """A JSON document passed as a string attribute becomes the value it holds."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value
