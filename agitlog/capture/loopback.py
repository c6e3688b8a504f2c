"""Loopback listening sockets for `agitlog run`, made without the ``socket`` module.

Every run binds three loopback ports before its child starts (the event channel, the LLM proxy, the
OTLP receiver), and most runs never see a connection on them. Importing ``socket`` costs 3-5 ms
(it builds its enums from ``_socket``'s constants), so the listeners are ``_socket.socket`` objects,
which bind, listen, select and close as well; ``socket`` is imported only when a connection comes
(``accept``) or a server takes a listener over (``adopt``).
"""
from __future__ import annotations

import _socket

TYPE_CHECKING = False  # typing costs `agitlog run` milliseconds to import
if TYPE_CHECKING:
    import socket

HOST = "127.0.0.1"
SHUT_RDWR = _socket.SHUT_RDWR
IPPROTO_TCP = _socket.IPPROTO_TCP
TCP_QUICKACK = getattr(_socket, "TCP_QUICKACK", None)


def listen(backlog: int = 128) -> _socket.socket:
    """A TCP socket listening on 127.0.0.1 at a free port (``socket.create_server((HOST, 0))``)."""
    sock = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
    try:
        sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
        sock.bind((HOST, 0))
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    return sock


def port(listener: _socket.socket) -> int:
    return listener.getsockname()[1]


def accept(listener: _socket.socket) -> socket.socket:
    """The next waiting connection (BlockingIOError when none waits on a non-blocking listener)."""
    fd, _address = listener._accept()
    import socket  # noqa: PLC0415 - only runs that are connected to pay for it

    return socket.socket(fileno=fd)


def adopt(listener: _socket.socket) -> socket.socket:
    """The same listening socket as a ``socket.socket``, for servers that accept on it themselves."""
    import socket  # noqa: PLC0415

    return socket.socket(fileno=listener.detach())
