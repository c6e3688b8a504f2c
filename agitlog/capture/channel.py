"""The event channel: wire protocol v1 (docs/events.md), spoken by the SDK, `agitlog emit`, and any
language that can open a TCP socket.

A process connects to ``$AGITLOG_ADDR`` (loopback), sends ``$AGITLOG_TOKEN`` on the first line, then
one JSON event per line. An event with ``"snapshot": true`` or ``"ack": true`` gets one reply line,
``{"ok": true, "seq": N, "step": S, "commit": "..."}``, once it and every event before it on the
connection is durable (the journal fsynced, after the snapshot), so the sender can wait for it. A line that is not an event is recorded as an ``error`` event.

Each connection is read by its own thread, but any thread may drain it (``settle``): the LLM proxy
does, before it records a model call, so events a process sent before calling the model are never
recorded after that call.
"""
from __future__ import annotations

import json
import os
import select
import threading

from agitlog.store.events import MalformedEvent, draft_from_line, malformed_draft
from agitlog.capture import loopback
from agitlog.capture.recorder import Recorder

TYPE_CHECKING = False  # typing costs `agitlog run` milliseconds to import
if TYPE_CHECKING:
    import socket
    from typing import Any

    from agitlog.capture.replaybook import ReplayBook

_READ_SIZE = 1 << 16
_POLL = 0.2  # seconds between checks for the end of the run while a connection is silent


class ChannelServer:
    """Accepts wire-protocol connections on 127.0.0.1 and feeds their events to a recorder."""

    def __init__(self, recorder: Recorder, *, replay: ReplayBook | None = None) -> None:
        self.recorder = recorder
        self.replay = replay  # answers `"replay": true` tool calls with recorded results (rerun --replay-tools)
        self.token = os.urandom(16).hex()  # os.urandom, as secrets does, without importing it
        self._listener = loopback.listen()
        self._listener.setblocking(False)  # accepted by whichever thread gets there first (see settle)
        self._accept_lock = threading.Lock()
        self._accepting = True  # under _accept_lock: False once close() took the backlog
        self._closing = threading.Event()
        self._connections: list[_Connection] = []
        self._threads: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept_loop, name="agitlog-accept", daemon=True)

    @property
    def port(self) -> int:
        return loopback.port(self._listener)

    def start(self) -> None:
        self._acceptor.start()

    def settle(self) -> None:
        """Record everything connected processes have already sent (what is in the sockets now),
        including a connection still waiting to be accepted: a process's first event travels on a
        new connection, and must not be overtaken by the model call it made next."""
        self._accept_pending()
        for connection in list(self._connections):
            connection.drain()

    def close(self, *, timeout: float = 2.0) -> None:
        """Stop accepting, record everything connected processes already sent, then stop. ``timeout``
        bounds the wait for processes that are still connected (a daemon the agent left behind), never
        the reading of what was sent: on a loaded machine, 100,000 events can take longer than that
        to record, and none may be lost."""
        self._closing.set()
        with self._accept_lock:
            self._accept_backlog()  # connections still in the backlog were made before the run ended
            self._accepting = False
        # The acceptor can add nothing now, so it is not waited for: on a busy machine a woken thread
        # can wait tens of milliseconds for a CPU, and this is every run's way out.
        self._listener.shutdown(loopback.SHUT_RDWR)  # wakes it from select(); it finds nothing to do
        for thread in list(self._threads):
            thread.join(timeout)
        for connection in list(self._connections):
            connection.drain()  # waits for its own thread's drain, then reads the rest
        self._listener.close()

    def _accept_loop(self) -> None:
        while not self._closing.is_set():
            try:
                readable, _, _ = select.select([self._listener], [], [], _POLL)
            except (OSError, ValueError):
                return
            if readable:
                self._accept_pending()

    def _accept_pending(self) -> None:
        """Accept every connection waiting in the backlog (non-blocking; from any thread)."""
        with self._accept_lock:
            if self._accepting:
                self._accept_backlog()

    def _accept_backlog(self) -> None:
        """``_accept_pending``'s work; the caller holds ``_accept_lock``."""
        while True:
            try:
                conn = loopback.accept(self._listener)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # the listener is closed
            self._start_handler(conn)

    def _start_handler(self, sock: socket.socket) -> None:
        connection = _Connection(sock, self)
        self._connections.append(connection)
        thread = threading.Thread(target=self._serve, args=(connection,), name="agitlog-conn", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _serve(self, connection: _Connection) -> None:
        try:
            while not connection.finished:
                readable, _, _ = select.select([connection.sock], [], [], _POLL)
                if readable:
                    connection.drain()
                elif self._closing.is_set():
                    break  # the run is over and this process has gone quiet
        except (OSError, ValueError):
            pass
        finally:
            connection.close()
            self._connections.remove(connection)

    def handle_line(self, line: bytes, pending: list[dict[str, Any]]) -> dict[str, Any] | None:
        """Queue an ordinary event; record a synchronous one at once and return its reply."""
        try:
            draft = draft_from_line(line)
        except MalformedEvent as exc:
            pending.append(malformed_draft(line, str(exc)))
            return None
        wants_snapshot = bool(draft.pop("snapshot", False))
        wants_ack = bool(draft.pop("ack", False))
        wants_replay = bool(draft.pop("replay", False))
        if not (wants_snapshot or wants_ack or wants_replay):
            pending.append(draft)
            return None
        self.recorder.record_many(pending)
        pending.clear()
        ack = self.recorder.record(draft, snapshot=wants_snapshot, durable=True)  # a reply promises durability
        reply: dict[str, Any] = {"ok": True, "seq": ack.seq, "step": ack.step, "commit": ack.commit}
        if wants_replay and self.replay is not None:
            reply["replay"] = self.replay.next_tool_result(str((draft.get("data") or {}).get("tool")))
        return reply


class _Connection:
    """One process's connection. Reading and recording happen under its lock, by its own thread or
    by ``settle``, so nothing is read twice or recorded out of order."""

    def __init__(self, sock: socket.socket, server: ChannelServer) -> None:
        sock.setblocking(False)
        self.sock = sock
        self.server = server
        self.finished = False
        self._authenticated = False
        self._partial: list[bytes] = []  # pieces of an unfinished line; joined once, when it ends
        self._lock = threading.Lock()

    def drain(self) -> None:
        """Read and record everything the socket holds right now."""
        with self._lock:
            while not self.finished:
                chunk = self._receive()
                if chunk is None:
                    return
                self._process(chunk)

    def close(self) -> None:
        with self._lock:
            self.finished = True
            try:
                self.sock.close()
            except OSError:
                pass

    def _receive(self) -> bytes | None:
        """Bytes available now; b"" at end of stream (the rest is processed), None when nothing is waiting."""
        _ack_quickly(self.sock)
        try:
            chunk = self.sock.recv(_READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return None
        except OSError:
            chunk = b""
        if not chunk:
            self.finished = True
            rest = b"".join(self._partial)
            self._partial.clear()
            return rest + b"\n" if rest else b""
        return chunk

    def _process(self, chunk: bytes) -> None:
        if b"\n" not in chunk:
            self._partial.append(chunk)
            return
        parts = chunk.split(b"\n")
        self._partial.append(parts[0])
        lines = [b"".join(self._partial), *parts[1:-1]]
        self._partial = [parts[-1]] if parts[-1] else []
        pending: list[dict[str, Any]] = []
        for line in lines:
            if not self._authenticated:
                if line.strip() != self.server.token.encode():
                    self.finished = True  # not one of ours: drop the connection unread
                    return
                self._authenticated = True
            elif line.strip():
                reply = self.server.handle_line(line, pending)
                if reply is not None:
                    _send(self.sock, reply)
        self.server.recorder.record_many(pending)


def _send(sock: socket.socket, reply: dict[str, Any]) -> None:
    try:
        sock.setblocking(True)
        sock.sendall(json.dumps(reply).encode() + b"\n")
    except OSError:
        pass  # the sender went away; its event is recorded all the same
    finally:
        try:
            sock.setblocking(False)
        except OSError:
            pass


def _ack_quickly(sock: socket.socket) -> None:
    """Senders that cannot turn off Nagle (a shell's /dev/tcp) hold each small write until the previous
    one is ACKed; without quick ACKs that is a 40 ms delayed-ACK stall per line, and events from other
    processes overtake them. Linux clears the flag after an ACK, so it is set before every read."""
    if loopback.TCP_QUICKACK is not None:
        try:
            sock.setsockopt(loopback.IPPROTO_TCP, loopback.TCP_QUICKACK, 1)
        except OSError:
            pass
