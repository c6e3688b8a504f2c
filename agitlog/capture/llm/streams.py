"""Redacting a server-sent-event stream over what it assembles to, keeping its events.

A model streams its answer a few characters per event, so a credential in the answer never appears
whole in the raw bytes: redacting each event, or even the raw stream as one text, misses it while
anyone can join the pieces back (issue 11). Here the text fields that streams deliver piece by piece
(``content``, ``text``, ``arguments``, ``partial_json``...) are joined across events in order, the
joined text is redacted, and each redaction is written back into the event where it starts (the
other pieces lose their share of the secret). The events stay the events the server sent, so a rerun
still serves the stream one event per chunk; the stream as a whole is then redacted as text too, for
credentials in any other field.
"""
from __future__ import annotations

import bisect
import json
from typing import Any, Protocol

_DELTA_KEYS = frozenset({"content", "text", "partial_json", "arguments", "delta", "thinking", "refusal",
                         "reasoning_content", "output_text"})

_Leaf = tuple[Any, Any]  # (container, key) of a delta string


class _SpanRedactor(Protocol):
    def redact_text(self, text: str) -> str: ...
    def redact_spans(self, text: str) -> tuple[str, list[tuple[int, int, str]]]: ...


def redact_event_stream(text: str, redactor: _SpanRedactor) -> str:
    """``text`` (a whole ``text/event-stream`` body) with the secrets of its assembled deltas and of
    its raw text replaced by redaction markers; event boundaries are kept."""
    blocks = _blocks(text)
    values: dict[int, Any] = {}
    leaves: list[_Leaf] = []
    for index, block in enumerate(blocks):
        value = _data_json(block)
        if value is not None:
            values[index] = value
            _collect(value, leaves)
    pieces = [container[key] for container, key in leaves]
    _, spans = redactor.redact_spans("".join(pieces))
    if spans:
        for (container, key), piece in zip(leaves, _distribute(pieces, spans)):
            container[key] = piece
        blocks = [_with_data(block, values[i]) if i in values else block for i, block in enumerate(blocks)]
    return redactor.redact_text("".join(blocks))


def _blocks(text: str) -> list[str]:
    """Events with their terminating blank line, so joining them gives back ``text``."""
    sep = "\r\n\r\n" if "\r\n\r\n" in text else "\n\n"
    parts = text.split(sep)
    return [part + sep for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def _data_json(block: str) -> Any:
    lines = [line for line in block.splitlines() if line.startswith("data:")]
    if len(lines) != 1:
        return None
    try:
        value = json.loads(lines[0][5:])
    except ValueError:
        return None
    return value if isinstance(value, (dict, list)) else None


def _with_data(block: str, value: Any) -> str:
    newline = "\r\n" if "\r\n" in block else "\n"
    lines = block.split(newline)
    for i, line in enumerate(lines):
        if line.startswith("data:"):
            lines[i] = "data: " + json.dumps(value, ensure_ascii=False, separators=(",", ":"))
            break
    return newline.join(lines)


def _collect(value: Any, leaves: list[_Leaf]) -> None:
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        if isinstance(item, str):
            if isinstance(value, dict) and key in _DELTA_KEYS:
                leaves.append((value, key))
        elif isinstance(item, (dict, list)):
            _collect(item, leaves)


def _distribute(pieces: list[str], spans: list[tuple[int, int, str]]) -> list[str]:
    """Apply replacements of the joined text to its pieces: a piece loses the characters a span
    covers, and the marker goes to the piece where the span starts."""
    starts, position = [], 0
    for piece in pieces:
        starts.append(position)
        position += len(piece)
    out = list(pieces)
    for start, end, marker in reversed(spans):  # from the end: earlier offsets stay valid
        first = _owner(starts, pieces, start)
        for k in range(first, len(pieces)):
            lo, hi = starts[k], starts[k] + len(pieces[k])
            if lo >= end and k > first:
                break
            cut_lo, cut_hi = max(start, lo) - lo, min(end, hi) - lo
            insert = marker if k == first else ""
            out[k] = out[k][:max(cut_lo, 0)] + insert + out[k][max(cut_hi, cut_lo, 0):]
    return out


def _owner(starts: list[int], pieces: list[str], pos: int) -> int:
    """The first non-empty piece holding offset ``pos``."""
    k = max(bisect.bisect_right(starts, pos) - 1, 0)
    while k > 0 and not pieces[k]:
        k -= 1
    while k < len(pieces) - 1 and pos >= starts[k] + len(pieces[k]):
        k += 1
    return k
