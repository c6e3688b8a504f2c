"""The event channel: wire protocol v1 (docs/events.md), spoken by the SDK, `agitlog emit`, and any
language that can open a TCP socket.

A process connects to ``$AGITLOG_ADDR`` (loopback), sends ``$AGITLOG_TOKEN`` on the first line, then
one JSON event per line. An event with ``"snapshot": true`` or ``"ack": true`` gets one reply line,
``{"ok": true, "seq": N, "step": S, "commit": "..."}``, once it is recorded (after the snapshot), so
the sender can wait for it. A line that is not an event is recorded as an ``error`` event.
"""
from __future__ import annotations

import json
import secrets
import socket
import threading
from collections import deque
from typing import Any, Iterator

from agitlog.events import MalformedEvent, draft_from_line, malformed_draft
from agitlog.recorder import Recorder
from agitlog.replaybook import ReplayBook

_READ_SIZE = 1 << 16
_IDLE_AFTER_CLOSE = 0.2  # seconds a connection may stay silent once the run is over


class ChannelServer:
    """Accepts wire-protocol connections on 127.0.0.1 and feeds their events to a recorder."""

    def __init__(self, recorder: Recorder, *, replay: ReplayBook | None = None) -> None:
        self.recorder = recorder
        self.replay = replay  # answers `"replay": true` tool calls with recorded results (rerun --replay-tools)
        self.token = secrets.token_hex(16)
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        self._closing = threading.Event()
        self._threads: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept_loop, name="agitlog-accept", daemon=True)

    @property
    def port(self) -> int:
        return self._listener.getsockname()[1]

    def start(self) -> None:
        self._acceptor.start()

    def close(self, *, timeout: float = 2.0) -> None:
        """Stop accepting, drain what connected processes already sent, then stop."""
        self._closing.set()
        self._listener.setblocking(False)
        while True:  # connections still in the backlog were made before the run ended: serve them too
            try:
                self._start_handler(self._listener.accept()[0])
            except OSError:
                break
        self._listener.shutdown(socket.SHUT_RDWR)  # wakes the acceptor blocked in accept()
        self._acceptor.join(timeout)
        for thread in list(self._threads):
            thread.join(timeout)
        self._listener.close()

    def _accept_loop(self) -> None:
        while not self._closing.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self._start_handler(conn)

    def _start_handler(self, conn: socket.socket) -> None:
        conn.setblocking(True)
        thread = threading.Thread(target=self._serve, args=(conn,), name="agitlog-conn", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(_IDLE_AFTER_CLOSE)
            reader = _LineReader(conn, self._closing)
            first = reader.next_line()
            if first is None or first.strip() != self.token.encode():
                return
            pending: list[dict[str, Any]] = []
            for line in reader:
                if not line.strip():
                    continue
                reply_wanted = self._handle(line, pending)
                if reply_wanted is not None:
                    _send(conn, reply_wanted)
                elif not reader.has_buffered_line():
                    self.recorder.record_many(pending)
                    pending.clear()
            self.recorder.record_many(pending)

    def _handle(self, line: bytes, pending: list[dict[str, Any]]) -> dict[str, Any] | None:
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
        ack = self.recorder.record(draft, snapshot=wants_snapshot)
        reply: dict[str, Any] = {"ok": True, "seq": ack.seq, "step": ack.step, "commit": ack.commit}
        if wants_replay and self.replay is not None:
            reply["replay"] = self.replay.next_tool_result(str((draft.get("data") or {}).get("tool")))
        return reply


def _send(conn: socket.socket, reply: dict[str, Any]) -> None:
    try:
        conn.sendall(json.dumps(reply).encode() + b"\n")
    except OSError:
        pass  # the sender went away; its event is recorded all the same


def _ack_quickly(conn: socket.socket) -> None:
    """Senders that cannot turn off Nagle (a shell's /dev/tcp) hold each small write until the previous
    one is ACKed; without quick ACKs that is a 40 ms delayed-ACK stall per line, and events from other
    processes overtake them. Linux clears the flag after an ACK, so it is set before every read."""
    if _QUICKACK is not None:
        try:
            conn.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
        except OSError:
            pass


_QUICKACK = getattr(socket, "TCP_QUICKACK", None)


class _LineReader:
    """Lines from a socket until EOF, or until the run is over and the peer has gone quiet."""

    def __init__(self, conn: socket.socket, closing: threading.Event) -> None:
        self._conn = conn
        self._closing = closing
        self._lines: deque[bytes] = deque()
        self._partial: list[bytes] = []  # pieces of an unfinished line; joined once, when it ends
        self._eof = False

    def has_buffered_line(self) -> bool:
        return bool(self._lines)

    def next_line(self) -> bytes | None:
        while not self._lines:
            if self._eof or not self._fill():
                rest = b"".join(self._partial)
                self._partial.clear()
                return rest or None
        return self._lines.popleft()

    def __iter__(self) -> Iterator[bytes]:
        while (line := self.next_line()) is not None:
            yield line

    def _fill(self) -> bool:
        chunk = self._receive()
        if not chunk:
            return False
        if b"\n" not in chunk:
            self._partial.append(chunk)
            return True
        parts = chunk.split(b"\n")
        self._partial.append(parts[0])
        self._lines.append(b"".join(self._partial))
        self._lines.extend(parts[1:-1])
        self._partial = [parts[-1]] if parts[-1] else []
        return True

    def _receive(self) -> bytes:
        while True:
            try:
                _ack_quickly(self._conn)
                chunk = self._conn.recv(_READ_SIZE)
            except TimeoutError:
                if self._closing.is_set():
                    return b""
                continue
            except OSError:
                chunk = b""
            if not chunk:
                self._eof = True
            return chunk
