"""``agitlog export --format otlp-json`` / ``--otlp URL``: a session as one OpenTelemetry trace.

The trace id is the one the session recorded (``trace_id`` in session.toml, the id ``TRACEPARENT``
carried to the agent), so spans the agent's own tracing exported line up with these. Spans follow
the OpenTelemetry GenAI semantic conventions:

- the session's root span and every SDK/framework span (``span.start`` .. ``span.end``):
  ``invoke_agent`` with ``gen_ai.agent.name``;
- every model call (``llm.request`` + its ``llm.response``): ``chat {model}`` with
  ``gen_ai.request.model``, ``gen_ai.response.model``, ``gen_ai.usage.input_tokens`` /
  ``output_tokens``, ``gen_ai.response.finish_reasons``, ``gen_ai.provider.name``;
- every tool call (``tool.call`` + its ``tool.result``): ``execute_tool {tool}`` with
  ``gen_ai.tool.name`` and ``gen_ai.tool.call.id``;
- decisions, logs, errors and state changes: span events on the span they happened in.

Every span carries ``agitlog.session.id``, ``agitlog.event.seq`` and the step commit in effect when it
ended (``agitlog.step``, ``agitlog.commit``). Prompts, responses, tool arguments and results
(``gen_ai.input.messages``, ``gen_ai.output.messages``, ``gen_ai.system_instructions``,
``gen_ai.tool.call.arguments``, ``gen_ai.tool.call.result``) are only included when asked
(``include_content``); they are the recorded values, redacted at recording time and again here with
the repository's current ``[redact]`` patterns.
"""
from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from agitlog import git
from agitlog.constants import VERSION
from agitlog.errors import AgitlogError, UsageError
from agitlog.query.prompts import normalize_request
from agitlog.query.timeline import Replay, load_replay
from agitlog.store.events import parse_ts
from agitlog.store.models import SessionMeta

KIND_INTERNAL, KIND_CLIENT = 1, 3
STATUS_OK, STATUS_ERROR = 1, 2
SCOPE = "agitlog"


@dataclass
class _Span:
    span_id: str
    parent: str | None
    name: str
    kind: int
    start: str
    end: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None


@dataclass(frozen=True)
class OtlpTrace:
    """One session as an OTLP ExportTraceServiceRequest (the JSON mapping: hex ids, nanosecond strings)."""

    session_id: str
    trace_id: str
    request: dict[str, Any]

    @property
    def spans(self) -> list[dict[str, Any]]:
        return [span for rs in self.request["resourceSpans"] for ss in rs["scopeSpans"] for span in ss["spans"]]


def session_trace(repo: git.Repo, *, session: str | None, include_content: bool = False,
                  name: str | None = None) -> OtlpTrace:
    """The session ``session`` (or ``name``) names (None: the latest) as one OTLP trace."""
    from agitlog.config import load_config
    from agitlog.redact import Redactor

    replay = load_replay(repo, session=session, name=name)
    redactor = Redactor(load_config(repo.root).redact_patterns)
    return build_trace(replay, include_content=include_content, redact=redactor.redact_text)


def build_trace(replay: Replay, *, include_content: bool = False, redact: Any = None) -> OtlpTrace:
    """An OtlpTrace from a loaded session; ``redact`` (text -> text) is applied to every string sent."""
    meta, events = replay.meta, replay.events
    trace_id = _trace_id(meta, replay.session.id)
    builder = _Builder(replay.session.id, include_content=include_content)
    # framework spans are recorded after the model calls they made: know every span up front
    builder.known = {str(e.get("span")) for e in events if e.get("type") in ("span.start", "session.start")}
    for event in events:
        builder.add(event)
    builder.close(events[-1] if events else None)
    spans = [_span_json(span, trace_id, replay.session.id, redact) for span in builder.spans]
    resource = {"attributes": _attributes({
        "service.name": meta.agent or "agitlog",
        "agitlog.session.id": replay.session.id,
        "agitlog.session.name": meta.name,
        "agitlog.session.status": meta.status,
    }, redact)}
    request = {"resourceSpans": [{"resource": resource, "scopeSpans": [
        {"scope": {"name": SCOPE, "version": VERSION}, "spans": spans}]}]}
    return OtlpTrace(session_id=replay.session.id, trace_id=trace_id, request=request)


def _trace_id(meta: SessionMeta, session_id: str) -> str:
    recorded = meta.trace_id or ""
    if len(recorded) == 32 and all(c in "0123456789abcdef" for c in recorded) and recorded != "0" * 32:
        return recorded
    return hashlib.sha256(session_id.encode()).hexdigest()[:32]  # sessions from before trace ids


class _Builder:
    """Folds events, in order, into spans: SDK spans, model calls, tool calls, and span events."""

    def __init__(self, session_id: str, *, include_content: bool) -> None:
        self.session_id = session_id
        self.content = include_content
        self.spans: list[_Span] = []
        self.by_id: dict[str, _Span] = {}
        self.root: _Span | None = None
        self.open_llm: dict[str, _Span] = {}     # call key -> model-call span waiting for its response
        self.open_tools: dict[str, _Span] = {}   # call key -> tool span waiting for its result
        self.known: set[str] = set()             # every span id that a span.start will create

    def add(self, event: dict[str, Any]) -> None:
        kind, data = event.get("type", ""), event.get("data") or {}
        handler = {
            "session.start": self._session_start, "session.end": self._session_end,
            "span.start": self._span_start, "span.end": self._span_end,
            "llm.request": self._llm_request, "llm.response": self._llm_response,
            "tool.call": self._tool_call, "tool.result": self._tool_result,
        }.get(kind, self._span_event)
        handler(event, data)

    def _new(self, event: dict[str, Any], *, span_id: str, parent: str | None, name: str, kind: int = KIND_INTERNAL,
             **attributes: Any) -> _Span:
        span = _Span(span_id=span_id, parent=parent, name=name, kind=kind, start=event["ts"],
                     attributes={"agitlog.event.seq": event.get("seq"), **attributes})
        self.spans.append(span)
        self.by_id[span_id] = span
        return span

    def _parent_of(self, event: dict[str, Any]) -> str | None:
        """The span an event happened in; spans agitlog never saw start hang off the root."""
        span = event.get("span")
        if span in self.by_id or span in self.known:
            return span
        return self.root.span_id if self.root else None

    def _finish(self, span: _Span, event: dict[str, Any]) -> None:
        span.end = event.get("ts") or span.start
        span.attributes["agitlog.step"] = event.get("step")
        span.attributes["agitlog.commit"] = event.get("commit")

    # --- the session and SDK spans

    def _session_start(self, event: dict[str, Any], data: dict[str, Any]) -> None:
        agent = str(event.get("agent") or data.get("agent") or "main")
        command = " ".join(map(str, data.get("command") or []))
        self.root = self._new(event, span_id=str(event.get("span") or _derived(self.session_id, "root")),
                              parent=event.get("parent_span"), name=f"invoke_agent {agent}",
                              **{"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": agent,
                                 "agitlog.command": command, "agitlog.base_commit": data.get("base_commit"),
                                 "agitlog.branch": data.get("branch")})
        self._finish(self.root, event)

    def _session_end(self, event: dict[str, Any], data: dict[str, Any]) -> None:
        if self.root:
            self._finish(self.root, event)
            self.root.attributes.update({"agitlog.status": data.get("status"), "agitlog.exit_code": data.get("exit_code")})
            if data.get("status") not in (None, "ok"):
                self.root.error = f"{data.get('status')} (exit {data.get('exit_code')})"

    def _span_start(self, event: dict[str, Any], data: dict[str, Any]) -> None:
        span_id = event.get("span")
        if not span_id or span_id in self.by_id:
            self._span_event(event, data)
            return
        agent, name = str(event.get("agent") or ""), str(data.get("name") or "")
        parent = event.get("parent_span") if event.get("parent_span") in self.known else self._parent_of({})
        attributes = {"gen_ai.operation.name": str(data.get("operation") or "invoke_agent"),
                      "gen_ai.agent.name": agent, "agitlog.span.name": name}
        operation = attributes["gen_ai.operation.name"]
        title = f"invoke_agent {agent or name}" if operation == "invoke_agent" else (name or operation)
        self._new(event, span_id=span_id, parent=parent, name=title, **attributes)

    def _span_end(self, event: dict[str, Any], data: dict[str, Any]) -> None:
        span = self.by_id.get(str(event.get("span")))
        if span is None or span is self.root:
            self._span_event(event, data)
            return
        self._finish(span, event)
        if data.get("ok") is False:
            span.error = str(data.get("error") or "failed")

    # --- model calls

    def _call_key(self, event: dict[str, Any], data: dict[str, Any]) -> str:
        return str(data.get("call_id") or f"{event.get('agent')}/{event.get('span')}")

    def _llm_request(self, event: dict[str, Any], data: dict[str, Any]) -> None:
        prompt = normalize_request(data)
        model = prompt.model or str(data.get("model") or "")
        operation = "text_completion" if data.get("api") == "completions" else "chat"
        span = self._new(event, span_id=_derived(self.session_id, event.get("seq")), parent=self._parent_of(event),
                         name=f"{operation} {model}".strip(), kind=KIND_CLIENT,
                         **{"gen_ai.operation.name": operation, "gen_ai.request.model": model or None,
                            "gen_ai.provider.name": data.get("provider"), "gen_ai.agent.name": event.get("agent"),
                            "agitlog.llm.call_id": data.get("call_id")})
        if self.content:
            span.attributes["gen_ai.input.messages"] = json.dumps(
                [{"role": m.role, "parts": [{"type": "text", "content": m.text}]} for m in prompt.messages],
                ensure_ascii=False)
            if prompt.system:
                span.attributes["gen_ai.system_instructions"] = json.dumps(
                    [{"type": "text", "content": prompt.system}], ensure_ascii=False)
        self._finish(span, event)
        self.open_llm[self._call_key(event, data)] = span

    def _llm_response(self, event: dict[str, Any], data: dict[str, Any]) -> None:
        span = self.open_llm.pop(self._call_key(event, data), None)
        if span is None:  # a response without its request: a span of its own
            self._llm_request(event, {k: v for k, v in data.items() if k in ("model", "call_id", "provider")})
            span = self.open_llm.pop(self._call_key(event, data))
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        span.attributes.update({
            "gen_ai.response.model": data.get("model"),
            "gen_ai.usage.input_tokens": usage.get("input_tokens"),
            "gen_ai.usage.output_tokens": usage.get("output_tokens"),
            "gen_ai.usage.cache_read.input_tokens": usage.get("cache_read_input_tokens"),
            "gen_ai.response.finish_reasons": [str(data["finish_reason"])] if data.get("finish_reason") else None,
        })
        if not span.attributes.get("gen_ai.request.model") and data.get("model"):
            span.attributes["gen_ai.request.model"] = data.get("model")
            span.name = f"{span.attributes['gen_ai.operation.name']} {data.get('model')}"
        if self.content:
            parts = [{"type": "text", "content": data["text"]}] if data.get("text") else []
            parts += [{"type": "tool_call", "name": _call_name(c), "arguments": _call_arguments(c)}
                      for c in data.get("tool_calls") or []]
            span.attributes["gen_ai.output.messages"] = json.dumps(
                [{"role": "assistant", "parts": parts, "finish_reason": data.get("finish_reason")}], ensure_ascii=False,
                default=str)
        if data.get("error") or (isinstance(data.get("status"), int) and data["status"] >= 400):
            span.error = str(data.get("error") or f"HTTP {data.get('status')}")
        self._finish(span, event)

    # --- tool calls

    def _tool_call(self, event: dict[str, Any], data: dict[str, Any]) -> None:
        tool = str(data.get("tool") or "?")
        span = self._new(event, span_id=_derived(self.session_id, event.get("seq")), parent=self._parent_of(event),
                         name=f"execute_tool {tool}",
                         **{"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": tool,
                            "gen_ai.tool.call.id": data.get("call_id"), "gen_ai.agent.name": event.get("agent")})
        if self.content and "arguments" in data:
            span.attributes["gen_ai.tool.call.arguments"] = _json_text(data["arguments"])
        self._finish(span, event)
        self.open_tools[self._call_key(event, data)] = span

    def _tool_result(self, event: dict[str, Any], data: dict[str, Any]) -> None:
        span = self.open_tools.pop(self._call_key(event, data), None)
        if span is None:
            self._tool_call(event, {k: v for k, v in data.items() if k in ("tool", "call_id")})
            span = self.open_tools.pop(self._call_key(event, data))
        if self.content and "result" in data:
            span.attributes["gen_ai.tool.call.result"] = _json_text(data["result"])
        if data.get("ok") is False:
            span.error = f"{data.get('exception', '')}: {data.get('error', '')}".strip(": ")
        self._finish(span, event)

    # --- everything else: an event on the span it happened in

    def _span_event(self, event: dict[str, Any], data: dict[str, Any]) -> None:
        parent = self.by_id.get(self._parent_of(event) or "")
        if parent is None:
            return
        kind = str(event.get("type"))
        attributes: dict[str, Any] = {"agitlog.event.seq": event.get("seq"), "agitlog.agent": event.get("agent"),
                                      "agitlog.step": event.get("step")}
        if kind == "error":
            kind = "exception"
            attributes.update({"exception.type": data.get("exception"), "exception.message": data.get("error"),
                               "exception.stacktrace": data.get("traceback")})
        elif kind == "decision":
            attributes.update({"agitlog.decision": data.get("decision"), "agitlog.reasoning": data.get("reasoning")})
        elif kind == "log":
            attributes.update({"agitlog.message": data.get("message"), "agitlog.level": data.get("level")})
        elif self.content:
            attributes["agitlog.data"] = _json_text(data)
        parent.events.append({"time": event.get("ts") or parent.start, "name": kind, "attributes": attributes})

    def close(self, last: dict[str, Any] | None) -> None:
        """Spans a crash left open end with the session's last event."""
        for span in self.spans:
            if span.end is None and last is not None:
                self._finish(span, last)


def _derived(session_id: str, seq: Any) -> str:
    """A span id for a span agitlog derives from an event: stable across exports of the session."""
    return hashlib.sha256(f"{session_id}:{seq}".encode()).hexdigest()[:16]


def _call_name(call: Any) -> str:
    if isinstance(call, dict):
        function = call.get("function") if isinstance(call.get("function"), dict) else {}
        return str(call.get("name") or function.get("name") or "?")
    return str(call)


def _call_arguments(call: Any) -> Any:
    if isinstance(call, dict):
        function = call.get("function") if isinstance(call.get("function"), dict) else {}
        return call.get("input", call.get("arguments", function.get("arguments")))
    return None


def _json_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


# --- the OTLP JSON mapping ------------------------------------------------------------------------

def _span_json(span: _Span, trace_id: str, session_id: str, redact: Any) -> dict[str, Any]:
    attributes = {"agitlog.session.id": session_id, **span.attributes}
    result: dict[str, Any] = {
        "traceId": trace_id, "spanId": span.span_id, "name": _text(span.name, redact), "kind": span.kind,
        "startTimeUnixNano": _nanos(span.start), "endTimeUnixNano": _nanos(span.end or span.start),
        "attributes": _attributes(attributes, redact),
        "events": [{"timeUnixNano": _nanos(e["time"]), "name": e["name"],
                    "attributes": _attributes(e["attributes"], redact)} for e in span.events],
        "status": {"code": STATUS_ERROR, "message": _text(span.error, redact)} if span.error else {"code": STATUS_OK},
    }
    if span.parent:
        result["parentSpanId"] = span.parent
    return result


def _nanos(ts: str) -> str:
    moment = parse_ts(ts)
    return str(int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000)


def _attributes(values: dict[str, Any], redact: Any) -> list[dict[str, Any]]:
    """OTLP key/value pairs; None values are left out (OTLP has no null)."""
    return [{"key": key, "value": _any_value(value, redact)} for key, value in values.items() if value is not None]


def _any_value(value: Any, redact: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, (list, tuple)):
        return {"arrayValue": {"values": [_any_value(v, redact) for v in value if v is not None]}}
    return {"stringValue": _text(value if isinstance(value, str) else _json_text(value), redact)}


def _text(value: Any, redact: Any) -> str:
    text = str(value)
    return redact(text) if redact else text


def otlp_json(trace: OtlpTrace) -> str:
    """The trace as the OTLP/HTTP JSON body (``--format otlp-json``): one line, as the OpenTelemetry
    file exporter writes a request, so several exports can be concatenated into a JSON-lines file."""
    return json.dumps(trace.request, ensure_ascii=False, separators=(",", ":"))


def otlp_protobuf(request: dict[str, Any]) -> bytes:
    """An OTLP JSON request as the protobuf body (``application/x-protobuf``)."""
    from google.protobuf import json_format
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    return json_format.ParseDict(_ids_as_base64(request), ExportTraceServiceRequest()).SerializeToString()


def _ids_as_base64(value: Any) -> Any:
    """OTLP's JSON mapping writes ids in hex; protobuf's generic JSON mapping wants bytes in base64."""
    if isinstance(value, list):
        return [_ids_as_base64(v) for v in value]
    if not isinstance(value, dict):
        return value
    return {key: base64.b64encode(bytes.fromhex(item)).decode() if key in _ID_FIELDS and isinstance(item, str)
            else _ids_as_base64(item) for key, item in value.items()}


_ID_FIELDS = ("traceId", "spanId", "parentSpanId")
PROTOCOLS = ("http/protobuf", "http/json")


@dataclass(frozen=True)
class OtlpSent:
    url: str
    protocol: str
    spans: int
    status: int
    session_id: str
    trace_id: str


def send_trace(trace: OtlpTrace, *, url: str, protocol: str = "http/protobuf",
               headers: dict[str, str] | None = None, timeout: float = 30.0) -> OtlpSent:
    """POST the trace to an OTLP/HTTP traces endpoint (``.../v1/traces``)."""
    import urllib.error
    import urllib.request

    if protocol not in PROTOCOLS:
        raise UsageError(f"unknown OTLP protocol {protocol!r}", hint="use http/protobuf or http/json")
    if not url.startswith(("http://", "https://")):
        raise UsageError(f"not an OTLP/HTTP endpoint: {url!r}", hint="e.g. http://localhost:6006/v1/traces")
    if protocol == "http/json":
        body, content_type = json.dumps(trace.request, ensure_ascii=False).encode(), "application/json"
    else:
        body, content_type = otlp_protobuf(trace.request), "application/x-protobuf"
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={**(headers or {}), "Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            status = reply.status
    except urllib.error.HTTPError as exc:
        detail = exc.read(500).decode("utf-8", "replace").strip()
        raise AgitlogError(f"{url} refused the trace: HTTP {exc.code} {detail}",
                           hint="check the endpoint path (usually /v1/traces) and --otlp-protocol") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise AgitlogError(f"could not send the trace to {url}: {reason}",
                           hint="is the OTLP receiver running and reachable?") from None
    return OtlpSent(url=url, protocol=protocol, spans=len(trace.spans), status=status,
                    session_id=trace.session_id, trace_id=trace.trace_id)
