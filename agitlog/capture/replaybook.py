"""What a deterministic rerun serves: the recorded model answers (and, with --replay-tools, the
recorded tool results) of an original session, matched by canonical request content and order."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from agitlog.jsondiff import FieldChange, describe_changes, json_changes, parse_or_text
from agitlog.store.events import marked_caller_stream

DIVERGENCE_POLICIES = ("fail", "live", "nearest")


@dataclass
class RecordedCall:
    index: int
    canonical: str
    path: str
    model: str | None
    step: int
    status: int
    headers: dict[str, str]
    body: bytes
    served: bool = False
    stream: str | None = None  # the calling process (agent and arguments): calls are ordered within one


@dataclass
class Divergence:
    """The first request that did not match the recording."""

    call_index: int
    expected: str | None
    actual: str

    def changes(self) -> list[FieldChange]:
        """Each differing field of the request: its JSON path and both values."""
        return json_changes(parse_or_text(self.expected), parse_or_text(self.actual))

    def describe(self) -> str:
        if self.expected is None:
            return f"model call #{self.call_index} has no counterpart: the recording made no more calls"
        lines = describe_changes(self.changes(), labels=("recorded", "rerun"))
        return f"model call #{self.call_index} diverged from the recording:\n" + "\n".join(lines)


@dataclass(frozen=True)
class RequestEdit:
    """``rerun --fork-at N --request FILE | --edit PATH=VALUE``: what goes upstream at the fork instead
    of the request the agent makes there. ``body``: a whole request body that replaces the agent's;
    ``edits``: (JSON path, value) set in the agent's own body, in order."""

    body: bytes | None = None
    edits: tuple[tuple[str, Any], ...] = ()

    @property
    def how(self) -> str:
        return "request" if self.body is not None else "edit"

    def apply(self, agent_body: bytes) -> bytes:
        """The body to forward. Raises ValueError when the agent's body is not JSON or a path does
        not lead into it."""
        import json

        from agitlog.jsondiff import with_value

        if self.body is not None:
            return self.body
        try:
            value = json.loads(agent_body)
        except ValueError as exc:
            raise ValueError(f"the request at the fork is not JSON ({exc}), so it cannot be edited by path") from exc
        for path, new in self.edits:
            value = with_value(value, path, new)
        return json.dumps(value, ensure_ascii=False).encode()


@dataclass
class Decision:
    """What to do with one request: serve a recorded call, go to the real model, or (a fork with an
    edited request) send ``edit`` to the real model instead."""

    call: RecordedCall | None
    divergence: Divergence | None = None
    edit: RequestEdit | None = None


@dataclass
class ReplayBook:
    calls: list[RecordedCall]
    tool_results: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    http_calls: list[RecordedCall] = field(default_factory=list)  # non-model traffic, by method and path
    policy: str = "fail"
    live_from_step: int | None = None
    divergence: Divergence | None = None
    live: bool = False
    # (as this run says it, as the recording said it), replaced in each request before matching: a
    # rerun's own date, or its sandbox path when it cannot run at the original path
    request_substitutions: tuple[tuple[str, str], ...] = ()
    ignore_paths: tuple[str, ...] = ()  # request fields left out of matching (JSON paths, [rerun] ignore)
    # (recorded, this run's), replaced in each served answer: the reverse of a sandbox path
    answer_substitutions: tuple[tuple[bytes, bytes], ...] = ()
    fork_at: int | None = None              # from this recorded call on, the run goes live (a fork)
    fork_answer: RecordedCall | None = None  # served instead at the fork, before going live
    fork_request: RequestEdit | None = None  # sent upstream instead at the fork, then live
    _next: int = 0
    _tool_next: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def decide(self, canonical: str, *, path: str, model: str | None, stream: str | None = None) -> Decision:
        """Match the next request against the recording: the next call of the same calling process
        (stream) when the recording knows callers, so concurrent workers reproduce whatever order
        their calls arrive in; otherwise the next call in recorded order."""
        for seen, recorded in self.request_substitutions:
            canonical = canonical.replace(seen, recorded)
            stream = stream.replace(seen, recorded) if stream is not None else None
        with self._lock:
            if self.live:
                return Decision(call=None)
            expected = self._expected(stream)
            if expected is not None and self.fork_at is not None and expected.index >= self.fork_at:
                self.live = True
                return Decision(call=self.fork_answer, edit=self.fork_request)
            if expected is not None and self.live_from_step is not None and expected.step >= self.live_from_step:
                self.live = True
                return Decision(call=None)
            if expected is not None and expected.canonical == canonical:
                return Decision(call=self._serve(expected))
            return self._diverge(expected, canonical, path=path, model=model)

    def _expected(self, stream: str | None) -> RecordedCall | None:
        if stream is not None and any(call.stream is not None for call in self.calls):
            return next((call for call in self.calls if call.stream == stream and not call.served), None)
        return self.calls[self._next] if self._next < len(self.calls) else None

    def _serve(self, call: RecordedCall) -> RecordedCall:
        call.served = True
        self._next = call.index + 1
        return call

    def _diverge(self, expected: RecordedCall | None, canonical: str, *, path: str, model: str | None) -> Decision:
        index = expected.index if expected is not None else self._next
        divergence = Divergence(call_index=index, expected=expected.canonical if expected else None,
                                actual=canonical)
        if self.divergence is None:
            self.divergence = divergence
        if self.policy == "live":
            self.live = True
            return Decision(call=None, divergence=divergence)
        if self.policy == "nearest":
            nearest = self._nearest(canonical, path=path, model=model)
            if nearest is not None:
                return Decision(call=self._serve(nearest), divergence=divergence)
        return Decision(call=None, divergence=divergence)

    def _nearest(self, canonical: str, *, path: str, model: str | None) -> RecordedCall | None:
        """The unserved recorded call most like this request, among those to the same endpoint."""
        import difflib

        candidates = [c for c in self.calls if not c.served and c.path == path and (model is None or c.model == model)]
        if not candidates:
            return None
        return max(candidates, key=lambda c: difflib.SequenceMatcher(None, c.canonical, canonical).quick_ratio())

    def next_tool_result(self, tool: str) -> dict[str, Any] | None:
        """The recorded result of the next call of ``tool`` (for --replay-tools)."""
        with self._lock:
            results = self.tool_results.get(tool, [])
            position = self._tool_next.get(tool, 0)
            if position >= len(results):
                return None
            self._tool_next[tool] = position + 1
            return results[position]

    def serve_http(self, method: str, path: str) -> RecordedCall | None:
        """The next recorded answer to ``method path`` (non-model traffic, in any order), the last
        one again once they are used up, or None when the recording has none."""
        with self._lock:
            same = [c for c in self.http_calls if c.path == path and c.model == method.upper()]
            fresh = next((c for c in same if not c.served), None)
            if fresh is not None:
                fresh.served = True
            return fresh or (same[-1] if same else None)

    def served_body(self, call: RecordedCall) -> bytes:
        """A recorded answer as this run needs it (paths mapped into a sandbox, if any)."""
        body = call.body
        for recorded, seen in self.answer_substitutions:
            body = body.replace(recorded, seen)
        return body

    @property
    def served_count(self) -> int:
        return sum(call.served for call in self.calls)


def injected_answer(body: bytes, *, index: int) -> RecordedCall:
    """A response body the user wrote, to serve at a fork: a stream when it reads as server-sent
    events, JSON otherwise."""
    stream = body.lstrip().startswith((b"data:", b"event:"))
    return RecordedCall(index=index, canonical="", path="", model=None, step=0, status=200,
                        headers={"content-type": "text/event-stream" if stream else "application/json"}, body=body)


def build_book(
    events: list[dict[str, Any]],
    *,
    load_bodies: Callable[[list[str]], dict[str, bytes]],
    canonical: Callable[[Any], str],
    policy: str = "fail",
    live_from_step: int | None = None,
) -> ReplayBook:
    """A replay book from a recorded session's events. ``canonical`` turns a recorded request body
    into the matching key; ``load_bodies`` fetches responses' raw bytes by attachment name."""
    calls = _recorded_calls(events, "llm", load_bodies=load_bodies, canonical=canonical)
    http_calls = _recorded_calls(events, "http", load_bodies=load_bodies, canonical=canonical)
    tool_results: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        if event["type"] == "tool.result":
            tool_results.setdefault(str(event["data"].get("tool")), []).append(event["data"])
    return ReplayBook(calls=calls, tool_results=tool_results, http_calls=http_calls, policy=policy,
                      live_from_step=live_from_step)


def _stream(request: dict[str, Any]) -> str | None:
    caller = request.get("caller")
    stream = caller.get("stream") if isinstance(caller, dict) else None
    return marked_caller_stream(stream) if isinstance(stream, str) else None


def _recorded_calls(events: list[dict[str, Any]], kind: str, *, load_bodies: Callable[[list[str]], dict[str, bytes]],
                    canonical: Callable[[Any], str]) -> list[RecordedCall]:
    """Each ``<kind>.response`` with its request, in order. For ``http`` calls, ``model`` holds the
    method (they are matched by method and path, not by content)."""
    requests = {e["data"].get("call_id"): e for e in events
                if e["type"] == f"{kind}.request" and e["data"].get("call_id")}
    bodies = load_bodies([e["data"].get("body_ref", "") for e in events if e["type"] == f"{kind}.response"])
    calls = []
    for event in events:
        data = event["data"]
        if event["type"] != f"{kind}.response" or data.get("call_id") not in requests:
            continue
        request = requests[data["call_id"]]["data"]
        calls.append(RecordedCall(
            index=len(calls), canonical=canonical(request.get("body")), path=request.get("path", ""),
            model=str(request.get("method", "")).upper() if kind == "http" else request.get("model"),
            step=requests[data["call_id"]].get("step", 0), status=data.get("status") or 502,
            headers={"content-type": data["content_type"]} if data.get("content_type") else {},
            body=bodies.get(data.get("body_ref", ""), b""), stream=_stream(request)))
    return calls
