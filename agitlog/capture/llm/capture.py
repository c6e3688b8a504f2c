"""Zero-code LLM capture for `agitlog run`: the recording proxy wired to the session's recorder.

For every model call: if the worktree changed since the previous call, a step snapshot is taken
first (the files the model's tool calls changed become a step commit, linked to the llm.response
that asked for them); then an ``llm.request`` event with the exact request body, and when the
answer is complete an ``llm.response`` event with text, tool calls, usage and timings. The raw
response bytes are kept as an attachment, so a rerun can serve them back byte for byte."""

from __future__ import annotations

import json
import os
import socket
import sys
from typing import TYPE_CHECKING, Any

from agitlog.capture.llm.encoding import decode_content
from agitlog.capture.llm.proxy import LLMEditedRequest, LLMProxy, LLMReply, LLMRequest, LLMResult
from agitlog.capture.llm.streams import redact_event_stream
from agitlog.store.events import marked_caller_stream

if TYPE_CHECKING:
    from agitlog.capture.llm.callers import CallerFinder
    from agitlog.capture.channel import ChannelServer
    from agitlog.capture.otlp import SpanRecorder
    from agitlog.capture.replaybook import Decision, ReplayBook, RequestEdit
    from agitlog.capture.lifecycle import LiveSession


class LLMCapture:
    """The proxy's hooks, recording into one live session (and serving a replay book in a rerun)."""

    def __init__(self, live: LiveSession, *, replay: ReplayBook | None = None, inject: bool = True,
                 channel: ChannelServer | None = None, spans: SpanRecorder | None = None,
                 listener: socket.socket | None = None, secret: str | None = None) -> None:
        self.live = live
        self.spans = spans              # where the OpenAI Agents SDK's trace uploads go
        self.model_calls: list[tuple[int, float]] = []   # (seq of llm.request, when it started)
        self.channel = channel
        self.recorder = live.recorder
        self.replay = replay
        self.inject = inject
        self.upstream_calls = 0
        self._last_response_seq: int | None = None
        self.proxy = LLMProxy(hooks=self, upstreams=LLMProxy.upstreams_from_env(os.environ), listener=listener,
                              secret=secret)
        self.callers: CallerFinder | None = None
        self._attribution: dict[str, dict[str, Any]] = {}  # call id -> the caller's pid, agent, span

    def start(self) -> LLMCapture:
        from agitlog.capture.llm.callers import CallerFinder

        if self.proxy.port:  # a listener handed over: a call may be waiting on it, ready before serving
            self.callers = CallerFinder(self.proxy.port)
        self.proxy.start()
        if self.callers is None:
            self.callers = CallerFinder(self.proxy.port)
        return self

    def close(self) -> None:
        self.proxy.close()

    def child_env(self) -> dict[str, str]:
        env = self.proxy.child_env()
        if self.inject:
            from agitlog.capture.llm.inject import inject_env

            env.update(inject_env())
        return env

    # --- hooks ------------------------------------------------------------------------------------

    def before_call(self, request: LLMRequest) -> LLMReply | LLMEditedRequest | None:
        from agitlog.capture.llm import wire  # a run that makes no model call never loads it

        if self.spans is not None and _is_trace_upload(request):
            self._record_trace_upload(request)  # then recorded and served like any non-model traffic
        if self.channel is not None:
            self.channel.settle()  # what the agent sent before this call is recorded before it
        self._snapshot_tool_changes()
        data = wire.request_event_data(request)
        kind = _event_kind(data)
        caller = self.callers.find(request.peer) if self.callers is not None else None
        attribution = _attribution(caller)
        stream = self._stream_key(caller) if caller is not None else None
        if caller is not None:
            data["caller"] = {"argv": list(caller.argv), "stream": stream}
            self._attribution[request.call_id] = attribution
        decision = None
        if self.replay is not None and kind == LLM:  # decided first: a fork's edited request is what gets recorded
            decision = self._decide(data, stream=self.recorder.redactor.redact_text(stream) if stream else None)
        edited = self._edit_at_fork(request, decision.edit) if decision and decision.edit else None
        if isinstance(edited, LLMEditedRequest):  # recorded as sent upstream, marked as the fork's
            data = {**_request_data_with_body(request, edited.body), "fork": self._fork_note(decision),
                    **({"caller": data["caller"]} if "caller" in data else {})}
        ack = self.recorder.record({"type": f"{kind}.request", "ts": _ts(request.started_at), "data": data,
                                    **attribution})
        if kind == LLM:
            self.model_calls.append((ack.seq, request.started_at))  # for framework spans to claim
        if self.replay is None:
            self.upstream_calls += 1
            return None
        if decision is None:
            return self._replayed_http(request)
        return self._rerun_reply(decision, edited)

    def after_call(self, request: LLMRequest, result: LLMResult) -> None:
        from agitlog.capture.llm import wire

        data = wire.response_event_data(request, result)
        data.update(self._attach_body(result))
        data["content_type"] = _header(result.headers, "content-type")
        kind = _event_kind(data)
        attribution = self._attribution.pop(request.call_id, {})
        ack = self.recorder.record({"type": f"{kind}.response", "data": data, **attribution})
        if kind == LLM:
            self._last_response_seq = ack.seq

    # --- helpers ----------------------------------------------------------------------------------

    def _record_trace_upload(self, request: LLMRequest) -> None:
        """An OpenAI Agents SDK trace upload: the agents, handoffs, tool calls and guardrails it
        describes become events of the session's span tree (agitlog.capture.otlp)."""
        from agitlog.capture.otlp import agents_sdk_spans

        assert self.spans is not None
        try:
            self.spans.record(agents_sdk_spans(request.body))
        except ValueError as exc:
            self.recorder.record({"type": "error", "data": {"error": "malformed trace upload", "reason": str(exc)}})

    def _attach_body(self, result: LLMResult) -> dict[str, Any]:
        """Keep the response body, decoded and redacted, as an attachment. It is stored without its
        content coding (a rerun serves it as identity, which every client accepts) and, for a
        stream, redacted over the whole assembled stream so a secret split across chunks is found;
        a rerun sends it back one server-sent event per chunk."""
        coding = _header(result.headers, "content-encoding")
        decoded = decode_content(result.body, coding)
        if decoded is None:  # a coding we cannot read: its bytes could hide anything
            return {"body_ref": None, "body_omitted": f"response body in content coding {coding}"}
        text = decoded.decode("utf-8", "surrogateescape")
        redactor = self.recorder.redactor
        redacted = redact_event_stream(text, redactor) if _is_event_stream(result) else redactor.redact_text(text)
        ref = self.recorder.attach(redacted.encode("utf-8", "surrogateescape"))
        return {"body_ref": ref, "content_encoding": coding} if coding else {"body_ref": ref}

    def _snapshot_tool_changes(self) -> None:
        """Changes since the previous model call were made by the tools that call asked for."""
        if self._last_response_seq is None:
            return
        self.recorder.snapshot_now(
            f"changes after llm.response #{self._last_response_seq}", event_seq=self._last_response_seq
        )

    def _stream_key(self, caller: Any) -> str:
        """The caller's stream, without what differs in every run: agitlog's own addresses, which an
        adapter may have passed on the agent's command line (Codex's provider override), and its
        interpreter and package path (its hook command there)."""
        stream = str(caller.stream)
        for run_specific in (self.proxy.root_url, f"127.0.0.1:{self.proxy.port}"):
            stream = stream.replace(run_specific, "<agitlog-proxy>")
        return marked_caller_stream(stream)

    def _replayed_http(self, request: LLMRequest) -> LLMReply | None:
        """Non-model traffic in a rerun: the recorded answer to the same method and path, else an
        empty success, never the network (unless the rerun went live), never a divergence."""
        assert self.replay is not None
        if self.replay.live:
            self.upstream_calls += 1
            return None
        call = self.replay.serve_http(request.method, request.path)
        if call is None:
            return LLMReply(status=200, headers={}, body=b"")
        return LLMReply(status=call.status, headers=dict(call.headers), body=self.replay.served_body(call))

    def _decide(self, data: dict[str, Any], *, stream: str | None) -> Decision:
        assert self.replay is not None
        body = data.get("body")
        key = canonical_body(self.recorder.redactor.redact_value(body) if body is not None else None,
                             self.replay.ignore_paths)
        return self.replay.decide(key, path=str(data.get("path", "")), model=data.get("model"), stream=stream)

    def _rerun_reply(self, decision: Decision, edited: LLMEditedRequest | str | None
                     ) -> LLMReply | LLMEditedRequest | None:
        """What a rerun does with a model call: serve the recording, refuse a divergence, or go to
        the real model (at a fork, with the edited request)."""
        assert self.replay is not None
        reply = self._answer(decision)
        if isinstance(edited, str):
            return self._refuse_edit(edited)
        if reply is None and not self.replay.live and self.replay.divergence is not None:
            return _error_reply(self.replay.divergence.describe())
        if reply is None:
            self.upstream_calls += 1
            return edited
        return reply

    def _answer(self, decision: Decision) -> LLMReply | None:
        """The recorded answer a decision serves (None: the real model), after recording the rerun's
        first divergence as an error event."""
        assert self.replay is not None
        if decision.divergence is not None and decision.divergence is self.replay.divergence:
            self.recorder.record(
                {
                    "type": "error",
                    "data": {
                        "error": "rerun diverged from the recording",
                        "policy": self.replay.policy,
                        "detail": decision.divergence.describe(),
                    },
                }
            )
            sys.stderr.write(f"agitlog rerun: {decision.divergence.describe()}\n")
        if decision.call is None:
            return None
        return LLMReply(status=decision.call.status, headers=dict(decision.call.headers),
                        body=self.replay.served_body(decision.call))

    def _edit_at_fork(self, request: LLMRequest, edit: RequestEdit) -> LLMEditedRequest | str:
        """The body to send upstream at the fork instead of the agent's, or why the edit does not fit
        the agent's request."""
        from agitlog.capture.llm.encoding import decode_content

        coding = _header(request.headers, "content-encoding")
        decoded = decode_content(request.body, coding)
        try:
            if decoded is None:
                raise ValueError(f"the request at the fork is in content coding {coding}, which agitlog cannot read")
            return LLMEditedRequest(body=edit.apply(decoded))
        except ValueError as exc:
            assert self.replay is not None
            return f"agitlog rerun: --fork-at {self.replay.fork_at}: {exc}"

    def _fork_note(self, decision: Decision) -> dict[str, Any]:
        """What an edited request at a fork records about itself (``fork`` in llm.request data)."""
        assert self.replay is not None and decision.edit is not None
        note: dict[str, Any] = {"at": self.replay.fork_at, "how": decision.edit.how}
        if decision.edit.edits:
            note["paths"] = [path for path, _ in decision.edit.edits]
        return note

    def _refuse_edit(self, message: str) -> LLMReply:
        """The agent's request at the fork could not be edited: recorded, and the agent gets a 400."""
        self.recorder.record({"type": "error", "data": {"error": "the fork's edited request failed", "detail": message}})
        sys.stderr.write(message + "\n")
        return _error_reply(message, code="agitlog_fork_edit")


LLM = "llm"
HTTP = "http"


def _attribution(caller: Any) -> dict[str, Any]:
    """The event fields that say which process, agent and span made a call (none when unknown)."""
    if caller is None:
        return {}
    fields: dict[str, Any] = {"pid": caller.pid}
    if caller.agent:
        fields["agent"] = caller.agent
    if caller.span:
        fields["span"] = caller.span
    return fields


def _event_kind(data: dict[str, Any]) -> str:
    """Model calls are ``llm.*`` events; everything else crossing the proxy (a connectivity check,
    a model list, token counting, trace uploads) is ``http.*``, matched loosely in a rerun."""
    from agitlog.capture.llm import wire

    return HTTP if data.get("api") == wire.API_OTHER else LLM


def _is_trace_upload(request: LLMRequest) -> bool:
    from agitlog.capture.otlp import is_trace_upload

    return request.method == "POST" and is_trace_upload(request.path)


def canonical_body(body: Any, ignore: tuple[str, ...] = ()) -> str:
    """The matching key of a (redacted, parsed) request body; ``ignore``: JSON paths left out."""
    from agitlog.capture.llm import wire

    if isinstance(body, dict) and set(body) == {"raw"}:
        return wire.canonical_request(str(body["raw"]).encode("utf-8", "surrogateescape"), ignore)
    return wire.canonical_request(json.dumps(body, ensure_ascii=False).encode("utf-8", "surrogatepass"), ignore)


def _request_data_with_body(request: LLMRequest, body: bytes) -> dict[str, Any]:
    """The llm.request data of ``request`` as it goes upstream with ``body`` (identity-coded)."""
    from dataclasses import replace

    from agitlog.capture.llm import wire

    headers = {k: v for k, v in request.headers.items() if k.lower() != "content-encoding"}
    return wire.request_event_data(replace(request, body=body, headers=headers))


def _error_reply(message: str, *, code: str = "agitlog_divergence") -> LLMReply:
    """A 400 both SDKs surface as an error and neither retries (a divergence: ``message`` explains)."""
    if code == "agitlog_divergence":
        message = "agitlog rerun: this request differs from the recording (--on-divergence=fail). " + message
    body = json.dumps(
        {"type": "error", "error": {"type": "invalid_request_error", "code": code, "message": message}}
    ).encode()
    return LLMReply(status=400, headers={"content-type": "application/json"}, body=body)


def _is_event_stream(result: LLMResult) -> bool:
    return result.stream or (_header(result.headers, "content-type") or "").lower().startswith("text/event-stream")


def _header(headers: dict[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _ts(epoch: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def start_llm_capture(live: LiveSession, *, replay: ReplayBook | None = None, inject: bool = True,
                      channel: ChannelServer | None = None, spans: SpanRecorder | None = None) -> LLMCapture:
    return LLMCapture(live, replay=replay, inject=inject, channel=channel, spans=spans).start()
