"""Which process made a call through the proxy: attribution of model calls in multi-process runs.

The proxy only sees a TCP connection. On Linux the connection's client end is a socket owned by
some process: ``/proc/net/tcp[6]`` gives the socket's inode from its port, and the agent's
processes (agitlog's descendants) hold it as a file descriptor ``socket:[inode]``. From the
process, ``/proc/<pid>/environ`` gives the agent name and span agitlog exported to it (set when it
started), and ``/proc/<pid>/cmdline`` its arguments, which tell two workers of the same agent apart.

Elsewhere (macOS, Windows) the caller is unknown and events carry agitlog's own pid and the
session's agent, as before. A connection is identified once and cached, so keep-alive calls pay
nothing; a new connection costs a few small /proc reads.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

from agitlog.constants import ENV_AGENT, ENV_SPAN

_PROC = Path("/proc")


@dataclass(frozen=True)
class Caller:
    """The process at the other end of a proxy connection."""

    pid: int
    agent: str | None
    span: str | None
    argv: tuple[str, ...]

    @property
    def stream(self) -> str:
        """What tells this caller's calls apart from concurrent ones, the same in a rerun: its agent
        and its arguments (pids differ between runs)."""
        return "\0".join((self.agent or "", *self.argv))


class CallerFinder:
    """Finds and caches the process behind each client port of one proxy listening on ``port``."""

    def __init__(self, port: int, *, root_pid: int | None = None) -> None:
        self._port = port
        self._root_pid = root_pid if root_pid is not None else os.getpid()
        self._cache: dict[int, Caller | None] = {}
        self._lock = threading.Lock()
        self.available = (_PROC / "net" / "tcp").exists()

    def find(self, peer: tuple[str, int] | None) -> Caller | None:
        if peer is None or not self.available:
            return None
        with self._lock:
            if peer[1] not in self._cache:
                self._cache[peer[1]] = self._identify(peer[1])
            return self._cache[peer[1]]

    def forget(self, peer: tuple[str, int] | None) -> None:
        """The connection closed: its port may be reused by another process."""
        if peer is not None:
            with self._lock:
                self._cache.pop(peer[1], None)

    def _identify(self, client_port: int) -> Caller | None:
        inode = _socket_inode(client_port, self._port)
        if inode is None:
            return None
        target = f"socket:[{inode}]"
        for pid in _descendants(self._root_pid):
            if _holds(pid, target):
                return _describe(pid)
        return None


def _socket_inode(local_port: int, remote_port: int) -> str | None:
    """The inode of the TCP socket whose local port is the proxy's client and remote port the proxy."""
    wanted = (f"{local_port:04X}", f"{remote_port:04X}")
    for table in ("tcp", "tcp6"):
        try:
            lines = (_PROC / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and (fields[1].rsplit(":", 1)[1], fields[2].rsplit(":", 1)[1]) == wanted:
                return fields[9]
    return None


def _descendants(root: int) -> list[int]:
    """The processes below ``root``, breadth first (the agent and everything it started)."""
    found: list[int] = []
    queue = [root]
    while queue:
        pid = queue.pop(0)
        for task in _listdir(_PROC / str(pid) / "task"):
            try:
                children = (_PROC / str(pid) / "task" / task / "children").read_text().split()
            except OSError:
                continue
            for child in children:
                found.append(int(child))
                queue.append(int(child))
    return found


def _holds(pid: int, target: str) -> bool:
    fd_dir = _PROC / str(pid) / "fd"
    for fd in _listdir(fd_dir):
        try:
            if os.readlink(fd_dir / fd) == target:
                return True
        except OSError:
            continue
    return False


def _describe(pid: int) -> Caller:
    environ = _read_nul_separated(_PROC / str(pid) / "environ")
    values = dict(item.split("=", 1) for item in environ if "=" in item)
    argv = tuple(_read_nul_separated(_PROC / str(pid) / "cmdline"))
    return Caller(pid=pid, agent=values.get(ENV_AGENT) or None, span=values.get(ENV_SPAN) or None, argv=argv)


def _read_nul_separated(path: Path) -> list[str]:
    try:
        data = path.read_bytes()
    except OSError:
        return []
    return [part.decode("utf-8", "surrogateescape") for part in data.split(b"\0") if part]


def _listdir(path: Path) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []
