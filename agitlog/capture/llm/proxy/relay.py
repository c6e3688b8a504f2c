"""Answering one call: a recorded reply served without the upstream (rerun), or the request forwarded
upstream and the response copied to the child as it arrives, chunk by chunk, recording the bytes as
they pass; ``after_call`` runs just before the last bytes go out, so events stay in causal order."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from agitlog.capture.llm.proxy.exchange import LLMReply, LLMResult
from agitlog.capture.llm.proxy.framing import (
    Incoming, READ_SIZE, chunk_frame, end_to_end, error_response, find_header, header_dict,
    is_event_stream, reason_phrase, status_head,
)
from agitlog.capture.llm.proxy.routing import Route
from agitlog.capture.llm.proxy.pool import Pool, RETRYABLE

if TYPE_CHECKING:
    import http.client


class Clock:
    """Milliseconds since the proxy had the whole request."""

    def __init__(self) -> None:
        self._start = time.perf_counter()

    def ms(self) -> float:
        return (time.perf_counter() - self._start) * 1000.0


def serve_reply(client: socket.socket, incoming: Incoming, reply: LLMReply, clock: Clock,
                 report: Callable[[LLMResult], None] | None = None) -> tuple[LLMResult, bool]:
    headers = end_to_end(list(reply.headers.items()))
    stream = is_event_stream(headers)
    keep = incoming.keep_alive
    first: float | None = None
    error = None

    def result() -> LLMResult:
        return LLMResult(reply.status, dict(reply.headers), reply.body, stream, clock.ms(), first, error, True)

    try:
        if stream and incoming.http11:
            chunked = [*headers, ("Transfer-Encoding", "chunked")]
            client.sendall(status_head(reply.status, reason_phrase(reply.status), chunked))
            for event in _split_events(reply.body):
                client.sendall(chunk_frame(event))
                first = clock.ms() if first is None else first
            if report:
                report(result())
            client.sendall(b"0\r\n\r\n")
        else:
            if report:
                report(result())
            length = [("Content-Length", str(len(reply.body)))]
            client.sendall(status_head(reply.status, reason_phrase(reply.status), headers + length) + reply.body)
    except OSError as exc:
        error, keep = f"client disconnected while the recorded reply was served: {exc}", False
    return result(), keep


def _split_events(body: bytes) -> list[bytes]:
    """SSE events with their blank-line terminator, so each goes out as its own chunk."""
    events, start = [], 0
    for sep in (b"\r\n\r\n", b"\n\n"):
        if sep in body:
            while (end := body.find(sep, start)) >= 0:
                events.append(body[start : end + len(sep)])
                start = end + len(sep)
            break
    if start < len(body):
        events.append(body[start:])
    return events


# -- forwarding upstream -----------------------------------------------------------------------------


def forward_call(
    client: socket.socket,
    incoming: Incoming,
    route: Route,
    headers: list[tuple[str, str]],
    pool: Pool,
    clock: Clock,
    report: Callable[[LLMResult], None] | None = None,
    *,
    body: bytes | None = None,
) -> tuple[LLMResult, bool]:
    """Send the request upstream (``body``: in place of the child's) and relay the answer."""
    try:
        upstream, response = _send_upstream(pool, route, incoming.method, headers,
                                            incoming.body if body is None else body)
    except Exception as exc:  # noqa: BLE001 - any failure to reach the upstream becomes a 502/504
        return _unreachable(client, incoming, route, exc, clock)
    relay = _Relay(client, incoming, response, clock, report)
    try:
        relay.run()
    finally:
        pool.release(route, upstream, reusable=relay.complete and not response.will_close)
    return relay.result(), relay.keep_alive


def _send_upstream(
    pool: Pool, route: Route, method: str, headers: list[tuple[str, str]], body: bytes
) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    upstream, reused = pool.acquire(route)
    try:
        return upstream, _request(upstream, route.target, method, headers, body)
    except Exception as exc:
        pool.release(route, upstream, reusable=False)
        # RemoteDisconnected is a ConnectionResetError: a pooled connection the server had closed.
        if not (reused and isinstance(exc, RETRYABLE)):
            raise
    upstream, _ = pool.acquire(route, fresh=True)
    try:
        return upstream, _request(upstream, route.target, method, headers, body)
    except BaseException:
        pool.release(route, upstream, reusable=False)
        raise


def _request(
    upstream: http.client.HTTPConnection, target: str, method: str, headers: list[tuple[str, str]], body: bytes
) -> http.client.HTTPResponse:
    # putrequest/putheader rather than request(): nothing (Accept-Encoding, Host, ...) gets added.
    upstream.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
    for key, value in headers:
        upstream.putheader(key, value)
    if body or method not in ("GET", "HEAD", "DELETE", "OPTIONS"):
        upstream.putheader("Content-Length", str(len(body)))
    upstream.endheaders(body or None)  # headers and body leave in one send
    return upstream.getresponse()


def _unreachable(
    client: socket.socket, incoming: Incoming, route: Route, exc: Exception, clock: Clock
) -> tuple[LLMResult, bool]:
    timed_out = isinstance(exc, TimeoutError)
    status = 504 if timed_out else 502
    what = "timed out" if timed_out else "unreachable"
    message = f"agitlog proxy: upstream {route.scheme}://{route.netloc} {what}: {type(exc).__name__}: {exc}"
    keep = incoming.keep_alive
    try:
        client.sendall(error_response(status, message, f"agitlog_upstream_{what.replace(' ', '_')}", keep))
    except OSError:
        keep = False
    return LLMResult(None, {}, b"", False, clock.ms(), None, message, False), keep


class _Relay:
    """Copies one upstream response to the child, recording the bytes as they pass."""

    def __init__(
        self, client: socket.socket, incoming: Incoming, response: http.client.HTTPResponse, clock: Clock,
        report: Callable[[LLMResult], None] | None = None,
    ) -> None:
        self._report = report  # called once, before the last bytes, when the framing allows it
        self._client = client
        self._incoming = incoming
        self._response = response
        self._clock = clock
        self._headers = response.getheaders()
        self._stream = is_event_stream(self._headers)
        self._pieces: list[bytes] = []
        self._first: float | None = None
        self._error: str | None = None
        self.complete = False
        self.keep_alive = incoming.keep_alive

    def run(self) -> None:
        try:
            if self._has_no_body():
                self._relay_head_only()
            elif self._response.chunked or self._response.length is None or self._stream:
                self._relay_incrementally()
            else:
                self._relay_whole()
        except _ClientGone as exc:
            self._error, self.keep_alive = f"client disconnected: {exc.__cause__}", False
        except Exception as exc:  # noqa: BLE001 - upstream failures mid-body all end the same way
            received = sum(map(len, self._pieces))
            self._error = f"upstream failed mid-response after {received} body bytes: {type(exc).__name__}: {exc}"
            self.keep_alive = False

    def result(self) -> LLMResult:
        headers = header_dict(self._headers)
        body = b"".join(self._pieces)
        first = self._first if self._stream else None
        return LLMResult(
            self._response.status, headers, body, self._stream, self._clock.ms(), first, self._error, False
        )

    def _has_no_body(self) -> bool:
        status = self._response.status
        return self._incoming.method == "HEAD" or status in (204, 304) or 100 <= status < 200

    def _relay_head_only(self) -> None:
        length = find_header(self._headers, "content-length")  # describes the absent body: keep it
        framing = [("Content-Length", length)] if length is not None else []
        self._send(status_head(self._response.status, self._response.reason, end_to_end(self._headers) + framing))
        self.complete = True

    def _relay_whole(self) -> None:
        body = self._response.read()
        self._pieces.append(body)
        self._report_before_last_bytes()
        headers = [*end_to_end(self._headers), ("Content-Length", str(len(body)))]
        self._send(status_head(self._response.status, self._response.reason, headers) + body)
        self.complete = True

    def _relay_incrementally(self) -> None:
        known_length = self._response.length if not self._response.chunked else None
        chunked = known_length is None and self._incoming.http11
        framing = [("Transfer-Encoding", "chunked")] if chunked else []
        if known_length is not None:
            framing = [("Content-Length", str(known_length))]
        elif not chunked:
            self.keep_alive = False  # HTTP/1.0 client: the end of the body is the end of the connection
            framing = [("Connection", "close")]
        self._send(status_head(self._response.status, self._response.reason, end_to_end(self._headers) + framing))
        while data := self._response.read1(READ_SIZE):
            if self._first is None:
                self._first = self._clock.ms()
            self._pieces.append(data)
            self._send(chunk_frame(data) if chunked else data)
        if known_length is not None and self._response.length:
            raise ConnectionError(f"upstream closed with {self._response.length} bytes of the body missing")
        if chunked:
            self._report_before_last_bytes()
            self._send(b"0\r\n\r\n")
        self.complete = True

    def _report_before_last_bytes(self) -> None:
        if self._report is not None:
            report, self._report = self._report, None
            report(self.result())

    def _send(self, data: bytes) -> None:
        try:
            self._client.sendall(data)
        except OSError as exc:
            raise _ClientGone() from exc


class _ClientGone(Exception):
    pass


