"""Upstream connections kept alive per host (at most 8 idle, 30 s), a stale one retried once on a fresh
connection; `http.client` and the TLS context are loaded by a warm-up thread, off the start-up path."""

from __future__ import annotations

import select
import threading
import time
from typing import TYPE_CHECKING

from agitlog.capture.llm.proxy.framing import shutdown_quietly
from agitlog.capture.llm.proxy.routing import Route

if TYPE_CHECKING:
    import http.client
    import ssl


_IDLE_PER_HOST = 8
_IDLE_SECONDS = 30.0  # below common server keep-alive timeouts, so pooled sockets are rarely stale
_WARM_UP_DELAY = 0.15  # seconds
RETRYABLE = (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)


# -- upstream connection pool ------------------------------------------------------------------------


class Pool:
    """Keep-alive connections per (scheme, host, port); TLS with the default context."""

    def __init__(self, *, timeout: float) -> None:
        self._timeout = timeout
        self._idle: dict[tuple[str, str, int], list[tuple[float, http.client.HTTPConnection]]] = {}
        self._busy: set[http.client.HTTPConnection] = set()
        self._lock = threading.Lock()
        self._closed = False

    def acquire(self, route: Route, *, fresh: bool = False) -> tuple[http.client.HTTPConnection, bool]:
        """A connection to the route's host, and whether it was reused."""
        conn = None if fresh else self._pop_idle((route.scheme, route.host, route.port))
        reused = conn is not None
        if conn is None:
            conn = _connect(route, self._timeout)
        with self._lock:
            self._busy.add(conn)
        return conn, reused

    def release(self, route: Route, conn: http.client.HTTPConnection, *, reusable: bool) -> None:
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
                shutdown_quietly(conn.sock)

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


def _connect(route: Route, timeout: float) -> http.client.HTTPConnection:
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


def warm_up(needs_tls: bool, closed: threading.Event) -> None:
    # A moment later, not at once: a child that makes no model call (or a short run) should not pay
    # for these imports competing with agitlog's own start-up; agents take far longer than this to
    # import their SDK and make a first call. Never once the proxy is closed: an import still running
    # while the interpreter shuts down can kill it.
    if closed.wait(_WARM_UP_DELAY):
        return
    import http.client  # noqa: F401 - loaded here so the first call does not pay for it

    if needs_tls:
        _tls_context()


