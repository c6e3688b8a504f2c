"""The LLM proxy and the OTLP receiver of one `agitlog run`, built when first needed.

Both listen on loopback ports that the child learns from its environment, so the ports must be
bound before the child starts. Their servers, though, load http, email, ssl and the proxy's own
modules: tens of milliseconds of CPU that a run whose child never calls a model (a shell script, a
test command, `true`) would pay for nothing. So at first only the two sockets exist (the kernel
queues connections on them), and one thread waits for whichever comes first:

- a connection to either socket: both servers are built on the bound sockets and take it over
  (the first model call waits for the imports once, tens of milliseconds next to a model's answer);
- the end of the run: nothing is built; the sockets are closed.

Building them in the background during every run instead would spend that CPU in runs that never
call a model, competing with the recording of their events.

Both are built together because they share one ``SpanRecorder`` (the OpenAI Agents SDK's trace
uploads arrive at the proxy, other frameworks' spans at the OTLP receiver, into one span tree).
"""
from __future__ import annotations

import os
import select
import sys
import threading

from agitlog.capture import loopback
from agitlog.capture.endpoints import (
    otlp_base_url, otlp_child_env, proxy_child_env, proxy_root_url, upstreams_from_env,
)

TYPE_CHECKING = False  # typing costs `agitlog run` milliseconds to import
if TYPE_CHECKING:
    from typing import Any

    from agitlog.capture.channel import ChannelServer
    from agitlog.capture.lifecycle import LiveSession
    from agitlog.capture.replaybook import ReplayBook

HOST = loopback.HOST


class CaptureServices:
    """The proxy and the OTLP receiver for one live session: ``child_env`` at once, servers on
    demand (see the module docstring). ``close`` after the child has exited."""

    def __init__(self, live: LiveSession, *, replay: ReplayBook | None, inject: bool, channel: ChannelServer) -> None:
        self._live = live
        self._replay = replay
        self._inject = inject
        self._channel = channel
        self._proxy_socket = loopback.listen()  # (a socket.socket once the servers take it over)
        self._otlp_socket = loopback.listen()
        self._secret = os.urandom(16).hex()  # the proxy's path secret (agitlog.capture.llm.proxy)
        self._token = os.urandom(16).hex()   # the OTLP receiver's
        self._lock = threading.Lock()
        self._closing = False
        self._gate_done = False             # under _lock: the gate thread is leaving, its pipe is closed
        self._servers: list[Any] = []       # the LLMCapture and the OtlpReceiver, once built
        self._llm: Any = None
        self._wake_read, self._wake_write = os.pipe()
        self._gate = threading.Thread(target=self._wait, name="agitlog-capture-gate", daemon=True)
        self._gate.start()

    @property
    def upstream_calls(self) -> int:
        """Calls the proxy forwarded to a real upstream (0 when it was never built)."""
        return self._llm.upstream_calls if self._llm is not None else 0

    @property
    def active(self) -> bool:
        """Whether the servers were built (a connection came)."""
        return bool(self._servers)

    def child_env(self) -> dict[str, str]:
        """The same variables the built servers' own ``child_env`` give (agitlog.capture.endpoints)."""
        env = proxy_child_env(proxy_root_url(HOST, loopback.port(self._proxy_socket), self._secret),
                              upstreams_from_env(os.environ), HOST)
        if self._inject:
            from agitlog.capture.llm.inject import inject_env  # light: pathlib only

            env.update(inject_env())
        env.update(otlp_child_env(otlp_base_url(HOST, loopback.port(self._otlp_socket), self._token), os.environ))
        return env

    def close(self) -> None:
        """Stop the servers (letting calls in flight finish, as they do), or close the unused sockets."""
        with self._lock:  # waits for a build in progress
            self._closing = True
            if not self._gate_done:
                os.write(self._wake_write, b"x")  # the gate thread leaves (not waited for: see _wait)
        for server in self._servers:
            server.close()
        self._proxy_socket.close()  # a no-op for a socket a server took over and closed
        self._otlp_socket.close()

    def _wait(self) -> None:
        """The gate thread. Once ``_closing`` is set it can build nothing, so ``close`` does not wait
        for it to leave (a woken thread can wait tens of milliseconds for a CPU on a busy machine);
        it closes its wake-up pipe itself, under the lock, so ``close`` never writes to a closed one."""
        try:
            ready, _, _ = select.select([self._proxy_socket, self._otlp_socket, self._wake_read], [], [])
            if self._wake_read not in ready:
                with self._lock:
                    if not self._closing:
                        self._build()
        except (OSError, ValueError):
            pass
        finally:
            with self._lock:
                self._gate_done = True
                os.close(self._wake_read)
                os.close(self._wake_write)

    def _build(self) -> None:
        """Both servers, on the bound sockets; a failure is recorded and the run goes on without them
        (the child's calls to the proxy's port then fail, which its own error handling reports)."""
        try:
            from agitlog.capture.llm.capture import LLMCapture  # noqa: PLC0415
            from agitlog.capture.otlp import OtlpReceiver, SpanRecorder  # noqa: PLC0415

            # Everything is wired before either starts serving: a connection is already waiting.
            self._proxy_socket = loopback.adopt(self._proxy_socket)
            self._otlp_socket = loopback.adopt(self._otlp_socket)
            spans = SpanRecorder(self._live.recorder)
            llm = LLMCapture(self._live, replay=self._replay, inject=self._inject, channel=self._channel,
                             spans=spans, listener=self._proxy_socket, secret=self._secret)
            spans.model_calls = lambda: list(llm.model_calls)
            otlp = OtlpReceiver(spans, env=os.environ, host=HOST, token=self._token, listener=self._otlp_socket)
            self._llm = llm
            self._servers.append(llm.start())
            self._servers.append(otlp.start())
        except Exception as exc:  # noqa: BLE001 - the recording goes on; the session says what failed
            sys.stderr.write(f"agitlog: warning: LLM and OTLP capture could not start: {exc}\n")
            self._live.recorder.record({"type": "error", "data": {
                "error": "LLM and OTLP capture could not start", "reason": f"{type(exc).__name__}: {exc}"}})
