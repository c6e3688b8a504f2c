"""Where two sessions diverge: the first event that differs (ignoring what always differs between
runs: times, ids, pids, durations) and the difference of their final trees."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from agitlog import git
from agitlog.jsondiff import FieldChange, json_changes
from agitlog.store.records import SessionInfo, load_events

_VOLATILE_EVENT_FIELDS = ("v", "seq", "ts", "session", "pid", "span", "parent_span", "step", "commit")
_VOLATILE_DATA_FIELDS = frozenset({
    "duration_ms", "latency_ms", "first_chunk_ms", "call_id", "ended_at", "duration_s", "started_at",
    "body_ref", "served_from_recording", "base_commit", "branch", "trace_id", "parent_session", "host", "user",
    "agitlog_version", "name", "traceback", "replayed",
})


def normalize_event(event: dict[str, Any]) -> dict[str, Any]:
    """The parts of an event that a faithful re-execution reproduces. Non-model traffic (``http.*``)
    is compared by method and path: a trace upload's body carries ids and times of its own run."""
    core = {k: v for k, v in event.items() if k not in _VOLATILE_EVENT_FIELDS}
    data = event.get("data") or {}
    volatile = _VOLATILE_DATA_FIELDS | {"body"} if event.get("type") == "http.request" else _VOLATILE_DATA_FIELDS
    core["data"] = {k: v for k, v in data.items() if k not in volatile}
    return core


@dataclass
class EventDifference:
    index: int                     # position among the compared events
    a: dict[str, Any] | None       # None: session A has no event there
    b: dict[str, Any] | None
    fields: list[str]              # top-level keys (data.* for payload keys) that differ
    changes: list[FieldChange] = field(default_factory=list)  # each differing leaf, by JSON path


@dataclass
class Comparison:
    a: SessionInfo
    b: SessionInfo
    first_difference: EventDifference | None
    trees_equal: bool
    tree_changes: list[tuple[int | None, int | None, str]] = field(default_factory=list)
    patch: str = ""

    @property
    def identical(self) -> bool:
        return self.first_difference is None and self.trees_equal


def compare_sessions(repo: git.Repo, a: SessionInfo, b: SessionInfo, *, with_patch: bool = True,
                     ignore_paths: frozenset[str] = frozenset(),
                     substitutions: tuple[tuple[str, str], ...] = ()) -> Comparison:
    """``ignore_paths``: files left out of the final trees' comparison (a rerun's code under test);
    ``substitutions``: (as B says it, as A said it) text replaced in B's events first (a rerun's date)."""
    events_a = [e for e in load_events(repo, a) if e["type"] != "snapshot.skip"]
    events_b = [_substituted(e, substitutions) for e in load_events(repo, b) if e["type"] != "snapshot.skip"]
    difference = first_difference(events_a, events_b)
    last_a, last_b = _last_step(a), _last_step(b)
    same_tree = bool(last_a and last_b and git.tree_of(repo, last_a) == git.tree_of(repo, last_b))
    changes = [] if same_tree or not (last_a and last_b) else git.diff_tree_numstat(repo, last_a, last_b)
    changes = [change for change in changes if change[2] not in ignore_paths]
    trees_equal = bool(last_a and last_b) and not changes
    patch = git.diff_patch(repo, last_a, last_b, exclude=sorted(ignore_paths)).decode("utf-8", "backslashreplace") \
        if with_patch and changes else ""
    return Comparison(a=a, b=b, first_difference=difference, trees_equal=trees_equal, tree_changes=changes,
                      patch=patch)


def _substituted(event: dict[str, Any], substitutions: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    if not substitutions:
        return event
    text = json.dumps(event, ensure_ascii=False)
    for seen, recorded in substitutions:
        text = text.replace(json.dumps(seen)[1:-1], json.dumps(recorded)[1:-1])
    return json.loads(text)


def first_difference(events_a: list[dict[str, Any]], events_b: list[dict[str, Any]]) -> EventDifference | None:
    """The first event that differs. Non-model traffic (``http.*``) is not ordered against the rest
    (a connectivity check's answer may be recorded after the agent's next request): those events are
    compared as a set, after the ordered ones."""
    ordered = _first_ordered_difference([e for e in events_a if not _is_http(e)],
                                        [e for e in events_b if not _is_http(e)])
    return ordered or _first_unordered_difference([e for e in events_a if _is_http(e)],
                                                  [e for e in events_b if _is_http(e)])


def _is_http(event: dict[str, Any]) -> bool:
    return str(event.get("type", "")).startswith("http.")


def _first_unordered_difference(events_a: list[dict[str, Any]], events_b: list[dict[str, Any]]
                                ) -> EventDifference | None:
    def key(event: dict[str, Any]) -> str:
        return json.dumps(normalize_event(event), sort_keys=True, default=str)

    return _first_ordered_difference(sorted(events_a, key=key), sorted(events_b, key=key))


def _first_ordered_difference(events_a: list[dict[str, Any]], events_b: list[dict[str, Any]]
                              ) -> EventDifference | None:
    for index in range(max(len(events_a), len(events_b))):
        a = events_a[index] if index < len(events_a) else None
        b = events_b[index] if index < len(events_b) else None
        if a is None or b is None:
            return EventDifference(index=index, a=a, b=b, fields=["(missing)"])
        na, nb = normalize_event(a), normalize_event(b)
        if na != nb:
            return EventDifference(index=index, a=a, b=b, fields=_differing_fields(na, nb),
                                   changes=json_changes(na, nb))
    return None


def _differing_fields(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    fields = [k for k in a.keys() | b.keys() if k != "data" and a.get(k) != b.get(k)]
    data_a, data_b = a.get("data", {}), b.get("data", {})
    fields += [f"data.{k}" for k in data_a.keys() | data_b.keys() if data_a.get(k) != data_b.get(k)]
    return sorted(fields)


def _last_step(session: SessionInfo) -> str | None:
    return session.meta.get("steps", {}).get("last") or session.commit
