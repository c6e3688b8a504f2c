"""HTTP content codings the recorder can read: bodies are decoded before they are parsed, redacted
and stored, because a secret inside compressed bytes is invisible to redaction (issue 11).

gzip and deflate come with the standard library; br and zstd are read when the ``brotli`` and
``zstandard`` modules happen to be installed. The proxy narrows the ``Accept-Encoding`` it forwards
to the codings this module can read (`narrow_accept_encoding`), so a well-behaved upstream never
answers in one it cannot.
"""
from __future__ import annotations

import functools
import importlib
import importlib.util
import zlib

_STDLIB_CODINGS = ("gzip", "x-gzip", "deflate", "identity")
_OPTIONAL = {"br": "brotli", "zstd": "zstandard"}


@functools.cache
def readable_codings() -> frozenset[str]:
    """The content codings `decode_content` can undo in this environment."""
    extra = {coding for coding, module in _OPTIONAL.items() if importlib.util.find_spec(module) is not None}
    return frozenset(_STDLIB_CODINGS) | extra


def decode_content(body: bytes, coding: str | None) -> bytes | None:
    """``body`` with its ``Content-Encoding`` undone (codings applied in order, undone in reverse);
    None when a coding is unknown here or the bytes do not decode."""
    codings = [c.strip().lower() for c in (coding or "").split(",") if c.strip()]
    try:
        for name in reversed(codings):
            body = _decode_one(body, name)
    except (zlib.error, _Unreadable, ValueError, OSError, EOFError):
        return None
    return body


class _Unreadable(Exception):
    pass


def _decode_one(body: bytes, coding: str) -> bytes:
    if coding == "identity":
        return body
    if coding in ("gzip", "x-gzip"):
        return zlib.decompress(body, 16 + zlib.MAX_WBITS)
    if coding == "deflate":
        try:
            return zlib.decompress(body)
        except zlib.error:
            return zlib.decompress(body, -zlib.MAX_WBITS)  # raw deflate, as some servers send
    if coding in readable_codings() and coding in _OPTIONAL:
        module = importlib.import_module(_OPTIONAL[coding])
        if coding == "br":
            return module.decompress(body)
        return module.ZstdDecompressor().decompressobj().decompress(body)
    raise _Unreadable(coding)


def narrow_accept_encoding(value: str) -> str:
    """An ``Accept-Encoding`` value with only the codings `decode_content` can read (``identity``
    when none is left): the client still gets a coding it asked for, and the recorder can read it."""
    readable = readable_codings()
    kept = [part.strip() for part in value.split(",")
            if part.strip() and part.split(";", 1)[0].strip().lower() in readable]
    return ", ".join(kept) or "identity"
