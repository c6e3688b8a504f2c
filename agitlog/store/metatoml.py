"""session.toml in the layout agitlog writes it (tomli_w's), read without tomllib.

Importing tomllib costs a read command about 5 ms (it loads typing), more than parsing one record.
``loads`` reads exactly the lines tomli_w writes for a session's metadata: ``[a.b."c"]`` headers,
``key = value`` with one space either side, basic strings, integers, floats, booleans, and arrays
of those (``[]`` or one item a line, four spaces in, a comma after each). Anything else, however
valid as TOML (comments, other spacing, dotted keys, inline tables, literal strings, dates, a
duplicate key), returns None and the caller parses the text with tomllib. So whenever ``loads``
returns a value it is the one ``tomllib.loads`` returns (tests/test_metatoml.py checks both on
tomli_w's output and on damaged text); the record is untrusted either way and is validated after.
"""
from __future__ import annotations

import re

TYPE_CHECKING = False  # typing costs start-up; only checkers need it
if TYPE_CHECKING:
    from typing import Any

_STRING = r'"(?:[^"\\\x00-\x08\x0a-\x1f\x7f]|\\(?:[btnfr"\\]|u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}))*"'
_KEY = re.compile(rf"[A-Za-z0-9_-]+|{_STRING}")  # one pattern for keys and string values: compiling costs
_INTEGER = re.compile(r"[+-]?(?:0|[1-9][0-9]*)")
_FLOAT = re.compile(r"[+-]?(?:0|[1-9][0-9]*)(?:\.[0-9]+(?:[eE][+-]?[0-9]+)?|[eE][+-]?[0-9]+)")
_ESCAPE = re.compile(r"\\(?:u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8})|(.))")
_SIMPLE_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "\\": "\\"}


class _Other(Exception):
    """The text is not in the layout ``loads`` reads (tomllib decides what it is)."""


def loads(text: str) -> dict[str, Any] | None:
    """The TOML document ``text`` as tomllib would return it, or None when ``text`` is not laid out
    as tomli_w writes it (then ask tomllib)."""
    try:
        return _parse(text)
    except _Other:
        return None


def _parse(text: str) -> dict[str, Any]:
    if "\r" in text:
        raise _Other
    root: dict[str, Any] = {}
    table = root
    lines = iter(text.split("\n"))
    for line in lines:
        if not line:
            continue
        if line[0] == "[" and line[-1] == "]":
            table = _open_table(root, _dotted_key(line[1:-1]))
            continue
        found = _KEY.match(line)
        if not found or line[found.end():found.end() + 3] != " = ":
            raise _Other
        key = _key(found.group(0))
        if key in table:
            raise _Other  # a duplicate: tomllib's error to report
        raw = line[found.end() + 3:]
        table[key] = _array(lines) if raw == "[" else [] if raw == "[]" else _scalar(raw)
    return root


def _open_table(root: dict[str, Any], path: list[str]) -> dict[str, Any]:
    table = root
    for part in path[:-1]:
        table = table.setdefault(part, {})
        if not isinstance(table, dict):
            raise _Other
    if path[-1] in table:
        raise _Other  # defined twice, or over a key: tomllib's to judge
    table[path[-1]] = new = {}
    return new


def _dotted_key(text: str) -> list[str]:
    """``a."b.c".d`` -> ["a", "b.c", "d"]; no spaces around the dots (tomli_w writes none)."""
    parts, position = [], 0
    while True:
        found = _KEY.match(text, position)
        if not found:
            raise _Other
        parts.append(_key(found.group(0)))
        position = found.end()
        if position == len(text):
            return parts
        if text[position] != ".":
            raise _Other
        position += 1


def _key(text: str) -> str:
    return _string(text) if text.startswith('"') else text


def _array(lines: Any) -> list[Any]:
    items = []
    for line in lines:
        if line == "]":
            return items
        if not (line.startswith("    ") and line.endswith(",")):
            raise _Other
        items.append(_scalar(line[4:-1]))
    raise _Other  # no closing bracket


def _scalar(raw: str) -> Any:
    if raw.startswith('"'):
        if not _KEY.fullmatch(raw):  # one complete string (a bare key never starts with a quote)
            raise _Other
        return _string(raw)
    if raw == "true" or raw == "false":
        return raw == "true"
    if _INTEGER.fullmatch(raw):
        return int(raw)
    if _FLOAT.fullmatch(raw):
        return float(raw)
    raise _Other


def _string(quoted: str) -> str:
    body = quoted[1:-1]
    return _ESCAPE.sub(_unescape, body) if "\\" in body else body


def _unescape(match: re.Match[str]) -> str:
    code = match.group(1) or match.group(2)
    if code is None:
        return _SIMPLE_ESCAPES[match.group(3)]  # the string pattern admits only these
    value = int(code, 16)
    if 0xD800 <= value <= 0xDFFF or value > 0x10FFFF:
        raise _Other  # not a Unicode scalar value: tomllib rejects it
    return chr(value)
