"""The sending side of wire protocol v1, used by the Python SDK and `agitlog emit`.

One connection per process, opened lazily from ``$AGITLOG_ADDR`` and ``$AGITLOG_TOKEN``. Outside a
recorded session every call is a cheap no-op. If the recorder goes away, the agent keeps running:
sends fail silently and recording stops for this process."""
from __future__ import annotations

import json
import os
import socket
import threading

from agitlog.constants import ENV_ADDR, ENV_AGENT, ENV_DECISION, ENV_SPAN, ENV_TOKEN

TYPE_CHECKING = False  # `agitlog emit` loads this module: importing typing would cost milliseconds
if TYPE_CHECKING:
    from typing import Any


def to_json(value: Any) -> Any:
    """Fallback for values json cannot encode: dataclasses, sets, bytes, paths, anything else as repr."""
    import dataclasses

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "backslashreplace")
    if hasattr(value, "model_dump"):
        try:
            return value.model_dump()
        except Exception:  # noqa: BLE001 - fall back to repr below
            pass
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return repr(value)


def process_draft(kind: str, data: dict[str, Any], *, span: str | None = None, parent_span: str | None = None,
                  agent: str | None = None, decision: str | None = None) -> dict[str, Any]:
    """A draft stamped with this process's time and pid; span, agent and the scoping decision default
    to the ones this process was started with (the environment of `agitlog run`, of a decision's
    scope). What happens inside a decision's scope is its doing: the draft names it."""
    from agitlog.store.events import utc_now

    decision = decision or os.environ.get(ENV_DECISION) or None
    if decision and "decision_id" not in data:
        data = {**data, "decision_id": decision}
    draft: dict[str, Any] = {"type": kind, "ts": utc_now(), "pid": os.getpid(), "data": data}
    span = span or os.environ.get(ENV_SPAN) or None
    agent = agent or os.environ.get(ENV_AGENT) or None
    if span:
        draft["span"] = span
    if parent_span:
        draft["parent_span"] = parent_span
    if agent:
        draft["agent"] = agent
    return draft


def encode_draft(draft: dict[str, Any]) -> bytes:
    """One wire line. Data that cannot be written as JSON (nested deeper than Python can encode, a
    cycle) is recorded as an ``error`` event saying so: the SDK never fails the agent."""
    try:
        text = json.dumps(draft, ensure_ascii=False, separators=(",", ":"), default=to_json)
    except (RecursionError, ValueError, TypeError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)[:200]
        text = json.dumps({**{k: v for k, v in draft.items() if k in ("snapshot", "ack", "ts")}, "type": "error",
                           "data": {"error": "event could not be encoded", "reason": reason,
                                    "event_type": str(draft.get("type"))[:200]}})
    return text.encode("utf-8", "surrogatepass") + b"\n"


class Client:
    """A connection to the recorder of the session this process belongs to."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._reader: Any = None
        self._failed = False
        self.addr = os.environ.get(ENV_ADDR)
        self.token = os.environ.get(ENV_TOKEN)

    @property
    def enabled(self) -> bool:
        return bool(self.addr and self.token) and not self._failed

    def configure(self, addr: str | None, token: str | None) -> None:
        with self._lock:
            self._close_locked()
            self.addr, self.token, self._failed = addr, token, False

    def send(self, draft: dict[str, Any], *, wait: bool = False) -> dict[str, Any] | None:
        """Send one event; with ``wait``, block until the recorder has recorded it (and snapshotted,
        if the draft asks for it) and return its reply."""
        if not self.enabled:
            return None
        wait = wait or bool(draft.get("snapshot"))  # the recorder answers every snapshot request
        if wait:
            draft = {**draft, "ack": True}
        data = encode_draft(draft)
        with self._lock:
            try:
                sock = self._sock or self._connect_locked()
                sock.sendall(data)
                return self._read_reply_locked() if wait else None
            except OSError:
                self._failed = True
                self._close_locked()
                return None

    def _connect_locked(self) -> socket.socket:
        host, _, port = (self.addr or "").rpartition(":")
        sock = socket.create_connection((host or "127.0.0.1", int(port)), timeout=30)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall((self.token or "").encode() + b"\n")
        self._sock = sock
        self._reader = sock.makefile("rb")
        return sock

    def _read_reply_locked(self) -> dict[str, Any] | None:
        line = self._reader.readline()
        if not line:
            raise OSError("recorder closed the connection")
        return json.loads(line)

    def _close_locked(self) -> None:
        if self._sock is not None:
            try:
                self._reader.close()
                self._sock.close()
            except OSError:
                pass
        self._sock = None
        self._reader = None

    def reset_after_fork(self) -> None:
        """A forked child must not write into its parent's connection; it opens its own."""
        self._lock = threading.Lock()
        self._sock = None
        self._reader = None


CLIENT = Client()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=CLIENT.reset_after_fork)
