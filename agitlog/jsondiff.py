"""Where two JSON values differ: the path of each differing field and the changed part of it.

Used wherever agitlog explains a difference between a recording and a run (a rerun's divergence,
`agitlog compare`): a model request is often thousands of characters on one line, so "these two
bodies differ" is useless, and so is a diff cut off before the change. Each difference names its
JSON path (``$.messages[2].content``) and, for strings, the changed substring with some context.
"""
from __future__ import annotations

import json

from agitlog.datatypes import datatype

TYPE_CHECKING = False  # typing costs start-up; only checkers need it
if TYPE_CHECKING:
    from typing import Any


class _Missing:
    def __repr__(self) -> str:
        return "(absent)"


MISSING: Any = _Missing()


@datatype(frozen=True)
class FieldChange:
    """One differing field: its JSON path and its value on each side (MISSING where absent)."""

    path: str
    before: Any
    after: Any

    def excerpts(self, context: int = 40) -> tuple[str, str]:
        """Both sides shortened around the change: ``…context[changed]context…``."""
        if isinstance(self.before, str) and isinstance(self.after, str):
            return _string_excerpts(self.before, self.after, context)
        return _value_text(self.before, context * 3), _value_text(self.after, context * 3)


def json_changes(before: Any, after: Any, *, limit: int = 20) -> list[FieldChange]:
    """The fields that differ between two JSON-like values, in document order, at most ``limit``."""
    changes: list[FieldChange] = []
    _walk(before, after, "$", changes, limit)
    return changes


def parse_or_text(text: str | None) -> Any:
    """A JSON document's value, or the text itself when it is not JSON (MISSING for None)."""
    if text is None:
        return MISSING
    try:
        return json.loads(text)
    except ValueError:
        return text


def describe_changes(changes: list[FieldChange], *, labels: tuple[str, str] = ("A", "B"),
                     indent: str = "  ", context: int = 40) -> list[str]:
    """Two or three lines per change: the path, then each side's excerpt."""
    width = max(len(label) for label in labels) + 1
    lines: list[str] = []
    for change in changes:
        before, after = change.excerpts(context)
        lines.append(f"{indent}{change.path}")
        lines.append(f"{indent}  {(labels[0] + ':').ljust(width)} {before}")
        lines.append(f"{indent}  {(labels[1] + ':').ljust(width)} {after}")
    return lines


def without_volatile_text(text: str) -> str:
    """``text`` with the run-specific parts constants.VOLATILE_REQUEST_TEXT names (a coding agent's
    tool-output header) replaced by placeholders: how a rerun matches requests and compare compares them."""
    import re

    from agitlog.constants import VOLATILE_REQUEST_TEXT

    for pattern, placeholder in VOLATILE_REQUEST_TEXT:
        text = re.sub(pattern, placeholder, text)
    return text


def without_paths(value: Any, paths: tuple[str, ...]) -> Any:
    """A copy of ``value`` without the fields ``paths`` name: ``$.key``, ``$.a.b``, ``$.list[2]``,
    ``$.list[*].id`` (every element), ``$["odd key"]``."""
    for path in paths:
        value = _drop(value, _parse_path(path))
    return value


_PATH_STEP = r'\.([^.\[]+)|\[(\*)\]|\[(-?\d+)\]|\[("(?:[^"\\]|\\.)*")\]'


def _parse_path(path: str) -> list[str | int | None]:
    """``$.a[*].b[0]["x y"]`` -> ["a", None, "b", 0, "x y"] (None: every element; ``[-1]``: the last)."""
    import re

    steps: list[str | int | None] = []
    for name, star, index, quoted in re.findall(_PATH_STEP, path[1:]):
        steps.append(name or (None if star else int(index) if index else json.loads(quoted)))
    return steps


def check_path(path: str) -> None:
    """Raise ValueError unless ``path`` is a whole JSON path of the form `without_paths` reads."""
    import re

    if not path.startswith("$") or re.fullmatch(f"(?:{_PATH_STEP})+", path[1:]) is None:
        raise ValueError(f"{path!r} is not a JSON path such as $.messages[0].content, $.tools[*].name or "
                         f'$["odd key"]')


def with_value(value: Any, path: str, new: Any) -> Any:
    """A copy of ``value`` with the field ``path`` names set to ``new`` (a missing object key is added;
    ``[*]`` sets it in every element, ``[-1]`` in the last). Raises ValueError when the path leads
    nowhere: a missing key in the middle, an index out of range, a step into a string or number."""
    check_path(path)
    return _set(value, _parse_path(path), new, path)


def _set(value: Any, steps: list[str | int | None], new: Any, path: str) -> Any:
    if not steps:
        return new
    head, rest = steps[0], steps[1:]
    if isinstance(value, dict) and isinstance(head, str) and (head in value or not rest):
        return {**value, head: _set(value.get(head), rest, new, path)}
    if isinstance(value, list) and head is None:
        return [_set(item, rest, new, path) for item in value]
    if isinstance(value, list) and isinstance(head, int) and -len(value) <= head < len(value):
        index = head % len(value)
        return [*value[:index], _set(value[index], rest, new, path), *value[index + 1:]]
    where = "an object without that key" if isinstance(value, dict) else \
        f"a list of {len(value)}" if isinstance(value, list) else f"a {type(value).__name__}"
    raise ValueError(f"{path}: step {_step_text(head)} leads nowhere (it meets {where})")


def _step_text(step: str | int | None) -> str:
    if step is None:
        return "[*]"
    return f"[{step}]" if isinstance(step, int) else _key_path(step)


def _drop(value: Any, steps: list[str | int | None]) -> Any:
    if not steps:
        return value
    head, rest = steps[0], steps[1:]
    if isinstance(value, dict) and isinstance(head, str):
        if head not in value:
            return value
        if not rest:
            return {k: v for k, v in value.items() if k != head}
        return {**value, head: _drop(value[head], rest)}
    if isinstance(value, list) and head is None:
        return [_drop(item, rest) for item in value] if rest else []
    if isinstance(value, list) and isinstance(head, int) and -len(value) <= head < len(value):
        head %= len(value)
        if not rest:
            return value[:head] + value[head + 1:]
        return [*value[:head], _drop(value[head], rest), *value[head + 1:]]
    return value


def _walk(a: Any, b: Any, path: str, out: list[FieldChange], limit: int, depth: int = 0) -> None:
    if len(out) >= limit or _same(a, b):
        return
    if depth < 64 and isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            _walk(a.get(key, MISSING), b.get(key, MISSING), f"{path}{_key_path(key)}", out, limit, depth + 1)
        return
    if depth < 64 and isinstance(a, list) and isinstance(b, list):
        for index in range(max(len(a), len(b))):
            left = a[index] if index < len(a) else MISSING
            right = b[index] if index < len(b) else MISSING
            _walk(left, right, f"{path}[{index}]", out, limit, depth + 1)
        return
    out.append(FieldChange(path=path, before=a, after=b))


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON: 1 and 1.0 (or True) differ. Containers are walked, not compared here."""
    if isinstance(a, (dict, list)) or isinstance(b, (dict, list)):
        return a is b
    return type(a) is type(b) and a == b


def _key_path(key: str) -> str:
    return f".{key}" if key.isidentifier() else f"[{json.dumps(key, ensure_ascii=False)}]"


def _string_excerpts(a: str, b: str, context: int) -> tuple[str, str]:
    prefix = 0
    limit = min(len(a), len(b))
    while prefix < limit and a[prefix] == b[prefix]:
        prefix += 1
    suffix = 0
    while suffix < limit - prefix and a[len(a) - 1 - suffix] == b[len(b) - 1 - suffix]:
        suffix += 1
    return _excerpt(a, prefix, len(a) - suffix, context), _excerpt(b, prefix, len(b) - suffix, context)


def _excerpt(text: str, start: int, end: int, context: int) -> str:
    changed = text[start:end]
    if len(changed) > context * 4:
        changed = changed[: context * 2] + "…" + changed[-context * 2:]
    head = text[max(0, start - context):start]
    tail = text[end:end + context]
    return (("…" if start > context else "") + json.dumps(head, ensure_ascii=False)[1:-1]
            + "[" + json.dumps(changed, ensure_ascii=False)[1:-1] + "]"
            + json.dumps(tail, ensure_ascii=False)[1:-1] + ("…" if end + context < len(text) else ""))


def _value_text(value: Any, limit: int) -> str:
    if value is MISSING:
        return "(absent)"
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"
