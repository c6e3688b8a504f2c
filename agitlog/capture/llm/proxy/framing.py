"""HTTP/1.1 framing on the child's side: reading a request (headers, length-delimited or chunked body),
the header rules of a proxy hop (hop-by-hop headers dropped, Accept-Encoding narrowed), and writing
status lines, chunks and error bodies. Bounded: a header line over 64 KiB or more than 256 headers is
a 400."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import BinaryIO

from agitlog.capture.llm.encoding import narrow_accept_encoding


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
_MAX_LINE = 65536
_MAX_HEADERS = 256
READ_SIZE = 65536


# -- reading requests from the child -----------------------------------------------------------------


class BadRequest(Exception):
    pass


@dataclass
class Incoming:
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes
    keep_alive: bool
    http11: bool


def read_request(reader: BinaryIO, client: socket.socket) -> Incoming | None:
    line = reader.readline(_MAX_LINE)
    while line in (b"\r\n", b"\n"):  # tolerated between requests (RFC 9112 2.2)
        line = reader.readline(_MAX_LINE)
    if not line:
        return None
    parts = line.decode("latin-1").split()
    if len(parts) != 3 or not line.endswith(b"\n") or not parts[2].startswith("HTTP/1."):
        raise BadRequest(f"malformed request line {line[:100]!r}")
    method, target, version = parts
    headers = _read_headers(reader)
    http11 = version != "HTTP/1.0"
    connection = (find_header(headers, "connection") or "").lower()
    keep_alive = "close" not in connection if http11 else "keep-alive" in connection
    if http11 and (find_header(headers, "expect") or "").lower() == "100-continue":
        client.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
    body = _read_body(reader, headers)
    return Incoming(method, target, headers, body, keep_alive, http11)


def _read_headers(reader: BinaryIO) -> list[tuple[str, str]]:
    headers: list[tuple[str, str]] = []
    while True:
        line = reader.readline(_MAX_LINE)
        if line in (b"\r\n", b"\n"):
            return headers
        if not line.endswith(b"\n") or len(headers) >= _MAX_HEADERS:
            raise BadRequest("truncated or oversized header block")
        name, sep, value = line.decode("latin-1").partition(":")
        if not sep or not name or name != name.strip():
            raise BadRequest(f"malformed header line {line[:100]!r}")
        headers.append((name, value.strip()))


def _read_body(reader: BinaryIO, headers: list[tuple[str, str]]) -> bytes:
    if "chunked" in (find_header(headers, "transfer-encoding") or "").lower():
        return _read_chunked(reader)
    length = find_header(headers, "content-length")
    if length is None:
        return b""
    if not length.isdigit():
        raise BadRequest(f"bad Content-Length {length!r}")
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
            raise BadRequest(f"bad chunk size line {size_line[:40]!r}") from None
        if size == 0:
            _read_headers(reader)  # trailers: read and dropped
            return b"".join(pieces)
        piece = reader.read(size + 2)
        if len(piece) != size + 2:
            raise OSError("client closed the connection mid-body")
        pieces.append(piece[:size])


# -- headers -----------------------------------------------------------------------------------------


def find_header(headers: list[tuple[str, str]], name: str) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def end_to_end(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    named = {
        token.strip().lower() for key, value in headers if key.lower() == "connection" for token in value.split(",")
    }
    return [(k, v) for k, v in headers if k.lower() not in _HOP_BY_HOP and k.lower() not in named]


def forward_headers(headers: list[tuple[str, str]], netloc: str) -> list[tuple[str, str]]:
    kept = [(k, narrow_accept_encoding(v) if k.lower() == "accept-encoding" else v)
            for k, v in end_to_end(headers) if k.lower() != "host"]
    return [("Host", netloc), *kept]


def header_dict(headers: list[tuple[str, str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in headers:
        out[key] = f"{out[key]}, {value}" if key in out else value
    return out


def is_event_stream(headers: list[tuple[str, str]]) -> bool:
    return (find_header(headers, "content-type") or "").lower().startswith("text/event-stream")


# -- writing responses to the child ------------------------------------------------------------------


def reason_phrase(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def status_head(status: int, reason: str, headers: list[tuple[str, str]]) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}\r\n", *(f"{k}: {v}\r\n" for k, v in headers), "\r\n"]
    return "".join(lines).encode("latin-1")


def chunk_frame(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def error_response(status: int, message: str, code: str, keep_alive: bool) -> bytes:
    import json

    # "type"/"error.type" for the Anthropic SDK, "error.message"/"error.code" for the OpenAI SDK.
    body = json.dumps({"type": "error", "error": {"type": "api_error", "code": code, "message": message}}).encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body))), ("X-Agitlog-Proxy", "error")]
    if not keep_alive:
        headers.append(("Connection", "close"))
    return status_head(status, reason_phrase(status), headers) + body


def send_quietly(client: socket.socket, data: bytes) -> None:
    try:
        client.sendall(data)
    except OSError:
        pass


def shutdown_quietly(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
