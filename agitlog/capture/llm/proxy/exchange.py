"""What passes between the proxy and its owner: the request as forwarded, a reply served without
the upstream (rerun), the result, and the hooks that receive them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass
class LLMRequest:
    """What the child sent, as forwarded upstream (``headers`` unredacted: the hook owner redacts)."""

    call_id: str
    provider: str  # "openai" | "anthropic" | "other"
    method: str
    url: str  # full upstream URL
    path: str  # relative to the provider base, e.g. "/chat/completions", "/v1/messages"
    headers: dict[str, str]
    body: bytes
    started_at: float  # time.time() when the proxy had the whole request
    peer: tuple[str, int] | None = None  # the client's address: which process called (see callers.py)


@dataclass
class LLMReply:
    """A response served without contacting the upstream (deterministic rerun).

    A ``content-type: text/event-stream`` reply is served as a stream, one SSE event per chunk.
    """

    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class LLMEditedRequest:
    """Forward this body upstream instead of the one the child sent (a rerun's fork with an edited
    request). It goes as identity (no ``Content-Encoding``), with its own ``Content-Length``."""

    body: bytes


@dataclass
class LLMResult:
    """What came back. ``status`` is None when the upstream never answered (the child got a 502/504)."""

    status: int | None
    headers: dict[str, str]
    body: bytes  # raw bytes as received (the whole SSE text for a stream)
    stream: bool
    latency_ms: float
    first_chunk_ms: float | None  # streams only: request received -> first body bytes from upstream
    error: str | None
    served_from_recording: bool


class ProxyHooks(Protocol):
    """The recorder's side of the proxy.

    `before_call` runs on the connection's thread before anything is forwarded, and says what to do:
    None forwards the request as it came, an `LLMReply` is served without the upstream, an
    `LLMEditedRequest` is forwarded in place of the child's body. Calls that overlap
    (parallel requests) run it concurrently, so implementations lock. `after_call` runs on the
    connection's thread just before the response's last bytes reach the child (the terminating chunk
    of a chunked body, or the whole body when its length is known up front): the child cannot act
    on an answer before that answer is recorded, so the recorder's events stay in causal order with
    events the child sends afterwards. Where the framing gives no such moment (an upstream that
    failed, a length-delimited stream), it runs on one hook thread, in completion order, and a
    `before_call` still runs after the `after_call` of every call whose response was complete before
    its request arrived. Once `LLMProxy.close` returns, every call the proxy received has had its
    `after_call`.
    """

    def before_call(self, request: LLMRequest) -> LLMReply | LLMEditedRequest | None: ...

    def after_call(self, request: LLMRequest, result: LLMResult) -> None: ...


