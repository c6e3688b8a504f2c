"""A local recording proxy for LLM HTTP APIs.

`agitlog run` starts one `LLMProxy` on 127.0.0.1 and points the child's `OPENAI_BASE_URL` and
`ANTHROPIC_BASE_URL` at it (see `LLMProxy.child_env`). Every exchange is handed to the hooks as a pair
(`before_call(LLMRequest)`, `after_call(LLMRequest, LLMResult)`) while the bytes flow through unchanged.

URL mapping (``<root>`` is ``http://127.0.0.1:<port>``):

- ``<root>/openai/<rest>?<query>``    -> ``<openai upstream base>/<rest>?<query>``
- ``<root>/anthropic/<rest>?<query>`` -> ``<anthropic upstream base>/<rest>?<query>``
- any path with header ``x-agitlog-upstream: <absolute URL>`` -> exactly that URL. The header is
  stripped before forwarding; the in-process re-routing (`agitlog/llm/inject`) uses it.

The upstream bases default to what the user had in ``OPENAI_BASE_URL`` / ``ANTHROPIC_BASE_URL`` before
agitlog replaced them, else the providers' public endpoints (`upstreams_from_env`).

What is forwarded: method, target, every end-to-end header (auth included, ``Host`` rewritten to the
upstream) and the body bytes. Hop-by-hop headers (RFC 9110 7.6.1, plus those named in ``Connection``,
plus ``Expect``) are dropped in both directions and the framing is redone per hop: a chunked request
body is forwarded with a ``Content-Length``; a response without a length (chunked or close-delimited,
e.g. server-sent events) is relayed chunk by chunk, each chunk written to the client as soon as it
arrives. Content encodings are never touched: the recorded body is the raw bytes of the wire.

Errors: an unreachable upstream becomes a 502 (504 on timeout) with a JSON body shaped so both the
OpenAI and the Anthropic SDK surface its message; the hook then sees ``status=None`` and ``error``.
An upstream that dies mid-body makes the proxy close the client connection without the final chunk,
so the client sees a truncated stream; ``error`` says so. A hook that raises never breaks the call:
the first failure of each hook is reported once on stderr and the traffic goes on.

Start-up cost matters (this runs on every `agitlog run`): the module imports only light standard
modules; `http.client` and the TLS context are loaded by a background thread after `start()`.
"""

from __future__ import annotations

import os
import select
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO, Protocol, cast
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import http.client
    import ssl

DEFAULT_UPSTREAMS: dict[str, str] = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
}
BASE_URL_ENV: dict[str, str] = {"openai": "OPENAI_BASE_URL", "anthropic": "ANTHROPIC_BASE_URL"}
PROXY_ENV = "AGITLOG_PROXY"
UPSTREAM_HEADER = "x-agitlog-upstream"

_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "expect",
        "content-length",  # recomputed for each hop
        UPSTREAM_HEADER,
    }
)
_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
_MAX_LINE = 65536
_MAX_HEADERS = 256
_READ_SIZE = 65536
_IDLE_PER_HOST = 8
_IDLE_SECONDS = 30.0  # below common server keep-alive timeouts, so pooled sockets are rarely stale
_WARM_UP_DELAY = 0.15  # seconds
_RETRYABLE = (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)
_ORDER_WAIT = 60.0  # a hung after_call delays later calls at most this long


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

    `before_call` runs on the connection's thread before anything is forwarded; calls that overlap
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

    def before_call(self, request: LLMRequest) -> LLMReply | None: ...

    def after_call(self, request: LLMRequest, result: LLMResult) -> None: ...


class LLMProxy:
    """A threaded HTTP/1.1 proxy on `host`:`port` (0 = any free port) that records LLM calls."""

    def __init__(
        self,
        *,
        hooks: ProxyHooks,
        upstreams: Mapping[str, str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        upstream_timeout: float = 600.0,
    ) -> None:
        self._hooks = _SafeHooks(hooks)
        chosen = DEFAULT_UPSTREAMS if upstreams is None else upstreams
        self._upstreams = {name: url.rstrip("/") for name, url in chosen.items()}
        self._host = host
        self._port = port
        self._pool = _Pool(timeout=upstream_timeout)
        self._listener: socket.socket | None = None
        self._threads: set[threading.Thread] = set()
        self._clients: set[socket.socket] = set()
        self._lock = threading.Condition()
        self._in_flight = 0  # calls received whose after_call has not returned yet
        self._finished: deque[tuple[LLMRequest, LLMResult]] = deque()
        self._queued = 0  # results handed to the hook thread, ever
        self._reported = 0  # ... and whose after_call has returned
        self._closing = False
        self._closed = threading.Event()  # tells the warm-up thread not to start importing
        self._hooks_done = False
        self._hook_thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Listen, then serve from background threads; returns once connections are accepted."""
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        self._listener = socket.create_server((self._host, self._port), family=family, backlog=128)
        self._port = self._listener.getsockname()[1]
        needs_tls = any(url.startswith("https:") for url in self._upstreams.values())
        threading.Thread(target=_warm_up, args=(needs_tls, self._closed), name="agitlog-proxy-warmup",
                         daemon=True).start()
        self._hook_thread = threading.Thread(target=self._report_finished, name="agitlog-proxy-hooks", daemon=True)
        self._hook_thread.start()
        self._spawn(self._accept_loop, "agitlog-proxy-accept")

    def close(self, *, grace: float = 5.0) -> None:
        """Stop accepting, let calls in flight finish (up to `grace` s), then cut what is left.

        Every call that reached the proxy has had its `after_call` when this returns, unless a hook
        itself hangs.
        """
        self._closed.set()
        with self._lock:
            started, self._closing = self._hook_thread is not None and not self._closing, True
        if not started:
            return
        assert self._listener is not None and self._hook_thread is not None
        _shutdown(self._listener)  # wakes the blocked accept()
        self._listener.close()
        self._wait_for_calls(grace)
        self._cut_connections(grace)
        self._wait_for_calls(grace)  # calls cut short still get their after_call
        with self._lock:
            self._hooks_done = True
            self._lock.notify_all()
        self._hook_thread.join(timeout=grace)
        self._pool.close()

    def _wait_for_calls(self, grace: float) -> None:
        with self._lock:
            self._lock.wait_for(lambda: self._in_flight == 0, timeout=grace)

    def _cut_connections(self, grace: float) -> None:
        with self._lock:
            clients = list(self._clients)
        for sock in clients:
            _shutdown(sock)  # idle keep-alive readers wake up with EOF
        self._pool.abort_busy()
        for thread in list(self._threads):
            thread.join(timeout=grace)

    def __enter__(self) -> LLMProxy:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- addresses ---------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._port

    @property
    def root_url(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}"

    def base_url(self, provider: str) -> str:
        """The base URL a client of `provider` ("openai" or "anthropic") should use."""
        if provider not in self._upstreams:
            raise ValueError(f"unknown provider {provider!r}; known: {', '.join(sorted(self._upstreams))}")
        return f"{self.root_url}/{provider}"

    def child_env(self) -> dict[str, str]:
        """Variables to set in the recorded child.

        When the parent has HTTP(S)_PROXY/ALL_PROXY set, 127.0.0.1 is added to NO_PROXY too: the SDKs
        honour those variables and would otherwise send proxy-bound traffic to the corporate proxy.
        """
        env = {BASE_URL_ENV[name]: self.base_url(name) for name in BASE_URL_ENV if name in self._upstreams}
        env[PROXY_ENV] = self.root_url
        if any(os.environ.get(var) for var in _PROXY_VARS):
            env.update(_no_proxy_env(self._host))
        return env

    @staticmethod
    def upstreams_from_env(env: Mapping[str, str]) -> dict[str, str]:
        """Upstream base per provider: the variable the user had set, else the provider's default."""
        return {name: (env.get(var) or DEFAULT_UPSTREAMS[name]).rstrip("/") for name, var in BASE_URL_ENV.items()}

    # -- serving -----------------------------------------------------------------------------------

    def _spawn(self, target: Callable[..., None], name: str, *args: object) -> None:
        thread = threading.Thread(target=self._run_tracked, args=(target, *args), name=name, daemon=True)
        with self._lock:
            self._threads.add(thread)
        thread.start()

    def _run_tracked(self, target: Callable[..., None], *args: object) -> None:
        try:
            target(*args)
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # listener closed
            with self._lock:
                if self._closing:
                    client.close()
                    return
                self._clients.add(client)
            self._spawn(self._serve_connection, "agitlog-proxy-conn", client)

    def _serve_connection(self, client: socket.socket) -> None:
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reader = cast(BinaryIO, client.makefile("rb", buffering=_READ_SIZE))
        try:
            while not self._closing:
                incoming = _read_request(reader, client)
                if incoming is None or not self._handle(client, incoming):
                    break
        except _BadRequest as exc:
            _send_quietly(client, _error_response(400, str(exc), "agitlog_bad_request", keep_alive=False))
        except OSError:
            pass  # client went away
        finally:
            with self._lock:
                self._clients.discard(client)
            reader.close()
            client.close()

    def _handle(self, client: socket.socket, incoming: _Incoming) -> bool:
        """Serve one request; returns whether the client connection stays open."""
        route = self._route(incoming)
        if isinstance(route, _Refusal):
            client.sendall(_error_response(route.status, route.message, route.code, incoming.keep_alive))
            return incoming.keep_alive
        headers = _forward_headers(incoming.headers, route.netloc)
        request = LLMRequest(
            call_id="llm_" + os.urandom(10).hex(),
            provider=route.provider,
            method=incoming.method,
            url=route.url,
            path=route.path,
            headers=_header_dict(headers),
            body=incoming.body,
            started_at=time.time(),
            peer=_peer(client),
        )
        with self._lock:
            self._in_flight += 1
            self._wait_for_earlier_reports()
        reported: list[bool] = []

        def report_now(result: LLMResult) -> None:
            # Runs just before the response's last bytes go out: the child cannot act on the answer
            # (run a tool, log a decision) before its llm.response is recorded, so events stay in order.
            self._hooks.after_call(request, result)
            reported.append(True)

        try:
            result, keep = self._exchange(client, incoming, route, headers, request, report_now)
        except BaseException:
            self._call_done()
            raise
        if reported:
            self._call_done()
            return keep
        with self._lock:
            self._finished.append((request, result))  # for the hook thread
            self._queued += 1
            self._lock.notify_all()
        return keep

    def _wait_for_earlier_reports(self) -> None:
        """Keep hooks in causal order: a call's before_call comes after the after_call of every call
        whose response was complete when this request arrived. Only waits when the child asks again
        faster than after_call runs. Called with the lock held."""
        target = self._queued
        self._lock.wait_for(lambda: self._reported >= target, timeout=_ORDER_WAIT)

    def _exchange(
        self,
        client: socket.socket,
        incoming: _Incoming,
        route: _Route,
        headers: list[tuple[str, str]],
        request: LLMRequest,
        report: Callable[[LLMResult], None],
    ) -> tuple[LLMResult, bool]:
        clock = _Clock()
        reply = self._hooks.before_call(request)
        if reply is not None:
            return _serve_reply(client, incoming, reply, clock, report)
        return _forward(client, incoming, route, headers, self._pool, clock, report)

    def _report_finished(self) -> None:
        """after_call runs here, in completion order, so a slow hook never delays the child's next call."""
        while True:
            with self._lock:
                self._lock.wait_for(lambda: self._finished or self._hooks_done)
                if not self._finished:
                    return
                request, result = self._finished.popleft()
            self._hooks.after_call(request, result)
            with self._lock:
                self._reported += 1
            self._call_done()

    def _call_done(self) -> None:
        with self._lock:
            self._in_flight -= 1
            self._lock.notify_all()

    def _route(self, incoming: _Incoming) -> _Route | _Refusal:
        explicit = _header(incoming.headers, UPSTREAM_HEADER)
        if explicit:
            return self._explicit_route(explicit)
        path, _, query = incoming.target.partition("?")
        provider, _, rest = path.lstrip("/").partition("/")
        base = self._upstreams.get(provider)
        if base is None:
            known = ", ".join(f"/{name}/" for name in sorted(self._upstreams))
            return _Refusal(404, f"agitlog proxy: no route for {path!r} (use {known} or {UPSTREAM_HEADER})")
        url = f"{base}/{rest}" + (f"?{query}" if query else "")
        return _make_route(url, provider, "/" + rest)

    def _explicit_route(self, url: str) -> _Route | _Refusal:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return _Refusal(400, f"agitlog proxy: {UPSTREAM_HEADER} must be an absolute http(s) URL, got {url!r}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        if port == self._port and parts.hostname in (self._host, "localhost", "127.0.0.1", "::1"):
            return _Refusal(508, "agitlog proxy: the upstream is this proxy itself", "agitlog_loop")
        provider, path = classify_url(parts.hostname, parts.path or "/")
        return _make_route(url, provider, path)


# -- routing -----------------------------------------------------------------------------------------

_OPENAI_SUFFIXES = ("/chat/completions", "/completions", "/responses", "/embeddings")


@dataclass(frozen=True)
class _Route:
    provider: str
    url: str
    path: str
    scheme: str
    host: str
    port: int
    netloc: str
    target: str  # path + query as sent upstream


@dataclass(frozen=True)
class _Refusal:
    status: int
    message: str
    code: str = "agitlog_no_route"


def _make_route(url: str, provider: str, path: str) -> _Route | _Refusal:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return _Refusal(500, f"agitlog proxy: upstream base for {provider} is not an http(s) URL: {url!r}")
    default_port = 443 if parts.scheme == "https" else 80
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return _Route(
        provider=provider,
        url=url,
        path=path,
        scheme=parts.scheme,
        host=parts.hostname,
        port=parts.port or default_port,
        netloc=parts.netloc.rpartition("@")[2],
        target=target,
    )


def _peer(client: socket.socket) -> tuple[str, int] | None:
    try:
        address = client.getpeername()
    except OSError:
        return None
    return str(address[0]), int(address[1])


def classify_url(host: str, path: str) -> tuple[str, str]:
    """(provider, path relative to the provider base) for an explicit upstream URL.

    Anthropic keeps its ``/v1/...`` (its SDK base has no version); OpenAI-style paths lose the prefix up
    to ``/v1`` or Azure's ``/openai/deployments/<name>``, so both meet the shapes of the mapped routes.
    """
    host = host.lower()
    if host == "api.anthropic.com" or "/v1/messages" in path or path.endswith("/v1/complete"):
        start = path.find("/v1/")
        return "anthropic", path[start:] if start >= 0 else path
    is_openai_host = host == "api.openai.com" or host.endswith(".openai.azure.com")
    if is_openai_host or path.rstrip("/").endswith(_OPENAI_SUFFIXES):
        return "openai", _openai_relative(path)
    return "other", path


def _openai_relative(path: str) -> str:
    start = path.find("/v1/")
    if start >= 0:
        return path[start + 3 :]
    if path.startswith("/openai/deployments/"):
        rest = path[len("/openai/deployments/") :]
        return "/" + rest.partition("/")[2]
    if path.startswith("/openai/"):
        return path[len("/openai") :]
    return path


# -- reading requests from the child -----------------------------------------------------------------


class _BadRequest(Exception):
    pass


@dataclass
class _Incoming:
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes
    keep_alive: bool
    http11: bool


def _read_request(reader: BinaryIO, client: socket.socket) -> _Incoming | None:
    line = reader.readline(_MAX_LINE)
    while line in (b"\r\n", b"\n"):  # tolerated between requests (RFC 9112 2.2)
        line = reader.readline(_MAX_LINE)
    if not line:
        return None
    parts = line.decode("latin-1").split()
    if len(parts) != 3 or not line.endswith(b"\n") or not parts[2].startswith("HTTP/1."):
        raise _BadRequest(f"malformed request line {line[:100]!r}")
    method, target, version = parts
    headers = _read_headers(reader)
    http11 = version != "HTTP/1.0"
    connection = (_header(headers, "connection") or "").lower()
    keep_alive = "close" not in connection if http11 else "keep-alive" in connection
    if http11 and (_header(headers, "expect") or "").lower() == "100-continue":
        client.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
    body = _read_body(reader, headers)
    return _Incoming(method, target, headers, body, keep_alive, http11)


def _read_headers(reader: BinaryIO) -> list[tuple[str, str]]:
    headers: list[tuple[str, str]] = []
    while True:
        line = reader.readline(_MAX_LINE)
        if line in (b"\r\n", b"\n"):
            return headers
        if not line.endswith(b"\n") or len(headers) >= _MAX_HEADERS:
            raise _BadRequest("truncated or oversized header block")
        name, sep, value = line.decode("latin-1").partition(":")
        if not sep or not name or name != name.strip():
            raise _BadRequest(f"malformed header line {line[:100]!r}")
        headers.append((name, value.strip()))


def _read_body(reader: BinaryIO, headers: list[tuple[str, str]]) -> bytes:
    if "chunked" in (_header(headers, "transfer-encoding") or "").lower():
        return _read_chunked(reader)
    length = _header(headers, "content-length")
    if length is None:
        return b""
    if not length.isdigit():
        raise _BadRequest(f"bad Content-Length {length!r}")
    body = reader.read(int(length))
    if len(body) != int(length):
        raise OSError("client closed the connection mid-body")
    return body


def _read_chunked(reader: BinaryIO) -> bytes:
    pieces: list[bytes] = []
    while True:
        size_line = reader.readline(_MAX_LINE)
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise _BadRequest(f"bad chunk size line {size_line[:40]!r}") from None
        if size == 0:
            _read_headers(reader)  # trailers: read and dropped
            return b"".join(pieces)
        piece = reader.read(size + 2)
        if len(piece) != size + 2:
            raise OSError("client closed the connection mid-body")
        pieces.append(piece[:size])


# -- headers -----------------------------------------------------------------------------------------


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def _end_to_end(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    named = {
        token.strip().lower() for key, value in headers if key.lower() == "connection" for token in value.split(",")
    }
    return [(k, v) for k, v in headers if k.lower() not in _HOP_BY_HOP and k.lower() not in named]


def _forward_headers(headers: list[tuple[str, str]], netloc: str) -> list[tuple[str, str]]:
    kept = [(k, v) for k, v in _end_to_end(headers) if k.lower() != "host"]
    return [("Host", netloc), *kept]


def _header_dict(headers: list[tuple[str, str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in headers:
        out[key] = f"{out[key]}, {value}" if key in out else value
    return out


def _is_event_stream(headers: list[tuple[str, str]]) -> bool:
    return (_header(headers, "content-type") or "").lower().startswith("text/event-stream")


# -- writing responses to the child ------------------------------------------------------------------


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _head(status: int, reason: str, headers: list[tuple[str, str]]) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}\r\n", *(f"{k}: {v}\r\n" for k, v in headers), "\r\n"]
    return "".join(lines).encode("latin-1")


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _error_response(status: int, message: str, code: str, keep_alive: bool) -> bytes:
    import json

    # "type"/"error.type" for the Anthropic SDK, "error.message"/"error.code" for the OpenAI SDK.
    body = json.dumps({"type": "error", "error": {"type": "api_error", "code": code, "message": message}}).encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body))), ("X-Agitlog-Proxy", "error")]
    if not keep_alive:
        headers.append(("Connection", "close"))
    return _head(status, _reason(status), headers) + body


def _send_quietly(client: socket.socket, data: bytes) -> None:
    try:
        client.sendall(data)
    except OSError:
        pass


class _Clock:
    """Milliseconds since the proxy had the whole request."""

    def __init__(self) -> None:
        self._start = time.perf_counter()

    def ms(self) -> float:
        return (time.perf_counter() - self._start) * 1000.0


def _serve_reply(client: socket.socket, incoming: _Incoming, reply: LLMReply, clock: _Clock,
                 report: Callable[[LLMResult], None] | None = None) -> tuple[LLMResult, bool]:
    headers = _end_to_end(list(reply.headers.items()))
    stream = _is_event_stream(headers)
    keep = incoming.keep_alive
    first: float | None = None
    error = None

    def result() -> LLMResult:
        return LLMResult(reply.status, dict(reply.headers), reply.body, stream, clock.ms(), first, error, True)

    try:
        if stream and incoming.http11:
            client.sendall(_head(reply.status, _reason(reply.status), [*headers, ("Transfer-Encoding", "chunked")]))
            for event in _split_events(reply.body):
                client.sendall(_chunk(event))
                first = clock.ms() if first is None else first
            if report:
                report(result())
            client.sendall(b"0\r\n\r\n")
        else:
            if report:
                report(result())
            length = [("Content-Length", str(len(reply.body)))]
            client.sendall(_head(reply.status, _reason(reply.status), headers + length) + reply.body)
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


def _forward(
    client: socket.socket,
    incoming: _Incoming,
    route: _Route,
    headers: list[tuple[str, str]],
    pool: _Pool,
    clock: _Clock,
    report: Callable[[LLMResult], None] | None = None,
) -> tuple[LLMResult, bool]:
    try:
        upstream, response = _send_upstream(pool, route, incoming.method, headers, incoming.body)
    except Exception as exc:  # noqa: BLE001 - any failure to reach the upstream becomes a 502/504
        return _unreachable(client, incoming, route, exc, clock)
    relay = _Relay(client, incoming, response, clock, report)
    try:
        relay.run()
    finally:
        pool.release(route, upstream, reusable=relay.complete and not response.will_close)
    return relay.result(), relay.keep_alive


def _send_upstream(
    pool: _Pool, route: _Route, method: str, headers: list[tuple[str, str]], body: bytes
) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    upstream, reused = pool.acquire(route)
    try:
        return upstream, _request(upstream, route.target, method, headers, body)
    except Exception as exc:
        pool.release(route, upstream, reusable=False)
        # RemoteDisconnected is a ConnectionResetError: a pooled connection the server had closed.
        if not (reused and isinstance(exc, _RETRYABLE)):
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
    client: socket.socket, incoming: _Incoming, route: _Route, exc: Exception, clock: _Clock
) -> tuple[LLMResult, bool]:
    timed_out = isinstance(exc, TimeoutError)
    status = 504 if timed_out else 502
    what = "timed out" if timed_out else "unreachable"
    message = f"agitlog proxy: upstream {route.scheme}://{route.netloc} {what}: {type(exc).__name__}: {exc}"
    keep = incoming.keep_alive
    try:
        client.sendall(_error_response(status, message, f"agitlog_upstream_{what.replace(' ', '_')}", keep))
    except OSError:
        keep = False
    return LLMResult(None, {}, b"", False, clock.ms(), None, message, False), keep


class _Relay:
    """Copies one upstream response to the child, recording the bytes as they pass."""

    def __init__(
        self, client: socket.socket, incoming: _Incoming, response: http.client.HTTPResponse, clock: _Clock,
        report: Callable[[LLMResult], None] | None = None,
    ) -> None:
        self._report = report  # called once, before the last bytes, when the framing allows it
        self._client = client
        self._incoming = incoming
        self._response = response
        self._clock = clock
        self._headers = response.getheaders()
        self._stream = _is_event_stream(self._headers)
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
        headers = _header_dict(self._headers)
        body = b"".join(self._pieces)
        first = self._first if self._stream else None
        return LLMResult(
            self._response.status, headers, body, self._stream, self._clock.ms(), first, self._error, False
        )

    def _has_no_body(self) -> bool:
        status = self._response.status
        return self._incoming.method == "HEAD" or status in (204, 304) or 100 <= status < 200

    def _relay_head_only(self) -> None:
        length = _header(self._headers, "content-length")  # describes the absent body: keep it
        framing = [("Content-Length", length)] if length is not None else []
        self._send(_head(self._response.status, self._response.reason, _end_to_end(self._headers) + framing))
        self.complete = True

    def _relay_whole(self) -> None:
        body = self._response.read()
        self._pieces.append(body)
        self._report_before_last_bytes()
        headers = [*_end_to_end(self._headers), ("Content-Length", str(len(body)))]
        self._send(_head(self._response.status, self._response.reason, headers) + body)
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
        self._send(_head(self._response.status, self._response.reason, _end_to_end(self._headers) + framing))
        while data := self._response.read1(_READ_SIZE):
            if self._first is None:
                self._first = self._clock.ms()
            self._pieces.append(data)
            self._send(_chunk(data) if chunked else data)
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


# -- upstream connection pool ------------------------------------------------------------------------


class _Pool:
    """Keep-alive connections per (scheme, host, port); TLS with the default context."""

    def __init__(self, *, timeout: float) -> None:
        self._timeout = timeout
        self._idle: dict[tuple[str, str, int], list[tuple[float, http.client.HTTPConnection]]] = {}
        self._busy: set[http.client.HTTPConnection] = set()
        self._lock = threading.Lock()
        self._closed = False

    def acquire(self, route: _Route, *, fresh: bool = False) -> tuple[http.client.HTTPConnection, bool]:
        """A connection to the route's host, and whether it was reused."""
        conn = None if fresh else self._pop_idle((route.scheme, route.host, route.port))
        reused = conn is not None
        if conn is None:
            conn = _connect(route, self._timeout)
        with self._lock:
            self._busy.add(conn)
        return conn, reused

    def release(self, route: _Route, conn: http.client.HTTPConnection, *, reusable: bool) -> None:
        with self._lock:
            self._busy.discard(conn)
            idle = self._idle.setdefault((route.scheme, route.host, route.port), [])
            if reusable and not self._closed and conn.sock is not None and len(idle) < _IDLE_PER_HOST:
                idle.append((time.monotonic(), conn))
                return
        conn.close()

    def abort_busy(self) -> None:
        """Unblock threads waiting on upstreams (used by close after the grace period)."""
        with self._lock:
            busy = list(self._busy)
        for conn in busy:
            if conn.sock is not None:
                _shutdown(conn.sock)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle = [conn for conns in self._idle.values() for _, conn in conns]
            self._idle.clear()
        for conn in idle:
            conn.close()

    def _pop_idle(self, key: tuple[str, str, int]) -> http.client.HTTPConnection | None:
        now = time.monotonic()
        while True:
            with self._lock:
                idle = self._idle.get(key)
                if not idle:
                    return None
                since, conn = idle.pop()
            if now - since < _IDLE_SECONDS and _looks_alive(conn):
                return conn
            conn.close()


def _looks_alive(conn: http.client.HTTPConnection) -> bool:
    # An idle keep-alive socket that is readable has been closed (or spoken to) by the server.
    sock = conn.sock
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


def _connect(route: _Route, timeout: float) -> http.client.HTTPConnection:
    import http.client

    if route.scheme == "https":
        return http.client.HTTPSConnection(route.host, route.port, timeout=timeout, context=_tls_context())
    return http.client.HTTPConnection(route.host, route.port, timeout=timeout)


_TLS_LOCK = threading.Lock()
_TLS: list[ssl.SSLContext] = []


def _tls_context() -> ssl.SSLContext:
    # Loading the CA store costs ~20 ms: do it once, lazily (or in the warm-up thread).
    with _TLS_LOCK:
        if not _TLS:
            import ssl

            _TLS.append(ssl.create_default_context())
        return _TLS[0]


def _warm_up(needs_tls: bool, closed: threading.Event) -> None:
    # A moment later, not at once: a child that makes no model call (or a short run) should not pay
    # for these imports competing with agitlog's own start-up; agents take far longer than this to
    # import their SDK and make a first call. Never once the proxy is closed: an import still running
    # while the interpreter shuts down can kill it.
    if closed.wait(_WARM_UP_DELAY):
        return
    import http.client  # noqa: F401 - loaded here so the first call does not pay for it

    if needs_tls:
        _tls_context()


# -- misc ----------------------------------------------------------------------------------------------


class _SafeHooks:
    """Calls the owner's hooks; an exception is reported once per hook on stderr and otherwise ignored."""

    def __init__(self, hooks: ProxyHooks) -> None:
        self._hooks = hooks
        self._reported: set[str] = set()

    def before_call(self, request: LLMRequest) -> LLMReply | None:
        try:
            reply = self._hooks.before_call(request)
        except Exception as exc:  # noqa: BLE001 - a hook must never break the agent's call
            self._report("before_call", exc)
            return None
        return reply if isinstance(reply, LLMReply) else None

    def after_call(self, request: LLMRequest, result: LLMResult) -> None:
        try:
            self._hooks.after_call(request, result)
        except Exception as exc:  # noqa: BLE001
            self._report("after_call", exc)

    def _report(self, name: str, exc: Exception) -> None:
        if name in self._reported:
            return
        self._reported.add(name)
        # The brief's one sanctioned stderr line: the recorder must not stay silent about lost calls.
        sys.stderr.write(f"agitlog: LLM proxy hook {name} failed ({type(exc).__name__}: {exc}); calls go on\n")


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _no_proxy_env(host: str) -> dict[str, str]:
    current = os.environ.get("NO_PROXY") or os.environ.get("no_proxy") or ""
    names = [name for name in current.split(",") if name.strip()]
    for local in (host, "127.0.0.1", "localhost"):
        if local not in names:
            names.append(local)
    value = ",".join(names)
    return {"NO_PROXY": value, "no_proxy": value}
