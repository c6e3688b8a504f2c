"""The proxy server: listening, one thread per client connection, authentication, and the
ordering of hooks (see the package docstring for the whole picture)."""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import BinaryIO, cast
from urllib.parse import urlsplit

from agitlog.capture.llm.proxy.exchange import LLMEditedRequest, LLMReply, LLMRequest, LLMResult, ProxyHooks
from agitlog.capture.llm.proxy.framing import (
    BadRequest, Incoming, READ_SIZE, UPSTREAM_HEADER, error_response, find_header, forward_headers,
    header_dict, read_request, send_quietly, shutdown_quietly,
)
from agitlog.capture.llm.proxy.routing import Refusal, Route, classify_url, make_route
from agitlog.capture.llm.proxy.relay import Clock, forward_call, serve_reply
from agitlog.capture.llm.proxy.pool import Pool, warm_up


DEFAULT_UPSTREAMS: dict[str, str] = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
    "gemini": "https://generativelanguage.googleapis.com",
}
BASE_URL_ENV: dict[str, str] = {"openai": "OPENAI_BASE_URL", "anthropic": "ANTHROPIC_BASE_URL"}
# Upstreams the proxy can reach but does not point every child at: only the Gemini CLI adapter sets
# GOOGLE_GEMINI_BASE_URL (to the proxy's /gemini route), where a rerun can serve Gemini's answers.
UPSTREAM_ENV: dict[str, str] = {**BASE_URL_ENV, "gemini": "GOOGLE_GEMINI_BASE_URL"}
PROXY_ENV = "AGITLOG_PROXY"
_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
_ORDER_WAIT = 60.0  # a hung after_call delays later calls at most this long


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
        secret: str | None = None,
    ) -> None:
        self._hooks = _SafeHooks(hooks)
        self._secret = secret or os.urandom(16).hex()
        self._prefix = f"/{self._secret}/".encode()
        chosen = DEFAULT_UPSTREAMS if upstreams is None else upstreams
        self._upstreams = {name: url.rstrip("/") for name, url in chosen.items()}
        self._host = host
        self._port = port
        self._pool = Pool(timeout=upstream_timeout)
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
        threading.Thread(target=warm_up, args=(needs_tls, self._closed), name="agitlog-proxy-warmup",
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
        shutdown_quietly(self._listener)  # wakes the blocked accept()
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
            shutdown_quietly(sock)  # idle keep-alive readers wake up with EOF
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
    def address(self) -> tuple[str, int]:
        """(host, port) the proxy listens on."""
        return self._host, self._port

    @property
    def port(self) -> int:
        return self._port

    @property
    def root_url(self) -> str:
        """The proxy's root, secret path segment included: every URL a client uses starts with it."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}/{self._secret}"

    def base_url(self, provider: str) -> str:
        """The base URL a client of `provider` ("openai", "anthropic" or "gemini") should use."""
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
        return {name: (env.get(var) or DEFAULT_UPSTREAMS[name]).rstrip("/") for name, var in UPSTREAM_ENV.items()}

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
        reader = cast(BinaryIO, client.makefile("rb", buffering=READ_SIZE))
        try:
            while not self._closing:
                incoming = read_request(reader, client)
                if incoming is None or not self._handle(client, incoming):
                    break
        except BadRequest as exc:
            send_quietly(client, error_response(400, str(exc), "agitlog_bad_request", keep_alive=False))
        except OSError:
            pass  # client went away
        finally:
            with self._lock:
                self._clients.discard(client)
            reader.close()
            client.close()

    def _handle(self, client: socket.socket, incoming: Incoming) -> bool:
        """Serve one request; returns whether the client connection stays open."""
        route = self._route(incoming)
        if isinstance(route, Refusal):
            client.sendall(error_response(route.status, route.message, route.code, incoming.keep_alive))
            return incoming.keep_alive
        headers = forward_headers(incoming.headers, route.netloc)
        request = LLMRequest(
            call_id="llm_" + os.urandom(10).hex(),
            provider=route.provider,
            method=incoming.method,
            url=route.url,
            path=route.path,
            headers=header_dict(headers),
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
        incoming: Incoming,
        route: Route,
        headers: list[tuple[str, str]],
        request: LLMRequest,
        report: Callable[[LLMResult], None],
    ) -> tuple[LLMResult, bool]:
        clock = Clock()
        reply = self._hooks.before_call(request)
        if isinstance(reply, LLMReply):
            return serve_reply(client, incoming, reply, clock, report)
        body = incoming.body
        if isinstance(reply, LLMEditedRequest):  # a fork: the edited body goes upstream, as identity
            body = request.body = reply.body
            headers = [(k, v) for k, v in headers if k.lower() != "content-encoding"]
        return forward_call(client, incoming, route, headers, self._pool, clock, report, body=body)

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

    def _route(self, incoming: Incoming) -> Route | Refusal:
        target = self._authenticated_target(incoming.target)
        if target is None:
            return Refusal(403, "agitlog proxy: this proxy serves only the session that started it "
                                 "(use the base URL agitlog put in the environment)", "agitlog_forbidden")
        explicit = find_header(incoming.headers, UPSTREAM_HEADER)
        if explicit:
            return self._explicit_route(explicit)
        path, _, query = target.partition("?")
        provider, _, rest = path.lstrip("/").partition("/")
        base = self._upstreams.get(provider)
        if base is None:
            known = ", ".join(f"/{name}/" for name in sorted(self._upstreams))
            return Refusal(404, f"agitlog proxy: no route for {path!r} (use {known} or {UPSTREAM_HEADER})")
        url = f"{base}/{rest}" + (f"?{query}" if query else "")
        return make_route(url, provider, "/" + rest)

    def _authenticated_target(self, target: str) -> str | None:
        """The request target without the secret segment; None when it does not carry it."""
        import hmac  # noqa: PLC0415 - after the first request it is a dict lookup; start-up stays light

        prefix = self._prefix
        given = target[:len(prefix)].encode("latin-1", "replace")
        if len(given) != len(prefix) or not hmac.compare_digest(given, prefix):
            return None
        return target[len(prefix) - 1:]

    def _explicit_route(self, url: str) -> Route | Refusal:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return Refusal(400, f"agitlog proxy: {UPSTREAM_HEADER} must be an absolute http(s) URL, got {url!r}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        if port == self._port and parts.hostname in (self._host, "localhost", "127.0.0.1", "::1"):
            return Refusal(508, "agitlog proxy: the upstream is this proxy itself", "agitlog_loop")
        provider, path = classify_url(parts.hostname, parts.path or "/")
        return make_route(url, provider, path)


def _peer(client: socket.socket) -> tuple[str, int] | None:
    try:
        address = client.getpeername()
    except OSError:
        return None
    return str(address[0]), int(address[1])


# -- misc ----------------------------------------------------------------------------------------------


class _SafeHooks:
    """Calls the owner's hooks; an exception is reported once per hook on stderr and otherwise ignored."""

    def __init__(self, hooks: ProxyHooks) -> None:
        self._hooks = hooks
        self._reported: set[str] = set()

    def before_call(self, request: LLMRequest) -> LLMReply | LLMEditedRequest | None:
        try:
            reply = self._hooks.before_call(request)
        except Exception as exc:  # noqa: BLE001 - a hook must never break the agent's call
            self._report("before_call", exc)
            return None
        return reply if isinstance(reply, (LLMReply, LLMEditedRequest)) else None

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


def _no_proxy_env(host: str) -> dict[str, str]:
    current = os.environ.get("NO_PROXY") or os.environ.get("no_proxy") or ""
    names = [name for name in current.split(",") if name.strip()]
    for local in (host, "127.0.0.1", "localhost"):
        if local not in names:
            names.append(local)
    value = ",".join(names)
    return {"NO_PROXY": value, "no_proxy": value}
