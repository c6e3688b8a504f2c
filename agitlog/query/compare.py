"""Where two sessions diverge: the first event that differs (ignoring what always differs between
runs: times, ids, pids, durations) and the difference of their final trees."""
from __future__ import annotations

import json

from agitlog import git
from agitlog.constants import VOLATILE_REQUEST_FIELDS, VOLATILE_REQUEST_PATHS
from agitlog.datatypes import datatype, field
from agitlog.jsondiff import FieldChange, json_changes, without_paths, without_volatile_text
from agitlog.store.events import marked_caller_stream
from agitlog.store.models import ForkInfo
from agitlog.store.sessions import Session, SessionStore

TYPE_CHECKING = False  # typing costs start-up; only checkers need it
if TYPE_CHECKING:
    from typing import Any

_VOLATILE_EVENT_FIELDS = ("v", "seq", "ts", "session", "pid", "span", "parent_span", "step", "commit")
_VOLATILE_DATA_FIELDS = frozenset({
    "duration_ms", "latency_ms", "first_chunk_ms", "call_id", "ended_at", "duration_s", "started_at",
    "body_ref", "served_from_recording", "base_commit", "branch", "trace_id", "parent_session", "host", "user",
    "agitlog_version", "name", "traceback", "replayed", "decision_id", "parent_decision_id",
    # a coding agent's own ids for its session, thread and turn, and where it keeps its transcript
    "agent_session_id", "session_id", "thread_id", "turn_id", "prompt_id", "transcript_path",
    "caller",  # which process called the proxy: its pid and arguments hold run-specific addresses
    "from_rollout",  # how agitlog learnt of a Codex turn (its notify came in time, or the rollout told)
})


# Fields that name what a run made for itself: the commit an agent made (its id holds the commit
# time), the coding agent's own session id and transcript file (random per run).
_VOLATILE_BY_TYPE = {
    # linked: whether the commit got the trailer depends on the git hooks installed, and a rerun's
    # sandbox runs none of them (docs/commands/rerun.md)
    "git.commit": frozenset({"commit", "parent", "tree", "linked"}),
    "agent.session": frozenset({"session_id", "transcript", "transcript_path", "path"}),
    "agent.session_end": frozenset({"session_id", "transcript", "transcript_path", "path"}),
    "agent.transcript": frozenset({"session_id", "transcript", "transcript_path", "path", "blob", "body_ref", "size",
                                   "lines"}),
}


# Timings, wherever they sit in an event's data (a coding agent's tool result carries its own).
_TIMING_KEYS = frozenset({"duration_ms", "durationMs", "latency_ms", "elapsed_ms", "duration_s", "started_at",
                          "ended_at", "timestamp"})


def _without_timings(value: Any, depth: int = 0) -> Any:
    if depth > 32:
        return value
    if isinstance(value, dict):
        return {k: _without_timings(v, depth + 1) for k, v in value.items() if k not in _TIMING_KEYS}
    if isinstance(value, list):
        return [_without_timings(v, depth + 1) for v in value]
    return value


def normalize_event(event: dict[str, Any], request_ignore: tuple[str, ...] = ()) -> dict[str, Any]:
    """The parts of an event that a faithful re-execution reproduces. A model request's body is
    compared as a rerun matches it (without VOLATILE_REQUEST_FIELDS and the ``request_ignore`` JSON
    paths); non-model traffic (``http.*``) by method and path: a trace upload's body carries ids and
    times of its own run."""
    core = {k: v for k, v in event.items() if k not in _VOLATILE_EVENT_FIELDS}
    data = event.get("data") or {}
    if event.get("type") == "http.request":
        core["data"] = {k: data.get(k) for k in ("method", "path")}
        return core
    if event.get("type") == "http.response":
        core["data"] = {}  # an unreachable tracing endpoint in one run is a served 502 in the other
        return core
    volatile = _VOLATILE_DATA_FIELDS | _VOLATILE_BY_TYPE.get(str(event.get("type")), frozenset())
    core["data"] = {k: _without_timings(v) for k, v in data.items() if k not in volatile}
    if event.get("type") == "llm.request" and isinstance(core["data"].get("body"), dict):
        body = {k: v for k, v in core["data"]["body"].items() if k not in VOLATILE_REQUEST_FIELDS}
        core["data"]["body"] = without_paths(body, VOLATILE_REQUEST_PATHS + tuple(request_ignore))
    # the run-specific text an agent's tools report (a process id, a wall time) is in its tool
    # results as much as in the request that carries them back to the model
    core["data"] = json.loads(without_volatile_text(json.dumps(core["data"], ensure_ascii=False)))
    return core


@datatype
class EventDifference:
    index: int                     # the event's seq in A (in B where A has none there)
    a: dict[str, Any] | None       # None: session A has no event there
    b: dict[str, Any] | None
    fields: list[str]              # top-level keys (data.* for payload keys) that differ
    changes: list[FieldChange] = field(default_factory=list)  # each differing leaf, by JSON path


@datatype
class Comparison:
    a: Session
    b: Session
    first_difference: EventDifference | None
    trees_equal: bool
    tree_changes: list[tuple[int | None, int | None, str]] = field(default_factory=list)
    patch: str = ""
    # each session's events from the first difference on (at most TAIL_EVENTS): the two runs side by side
    tail_a: list[dict[str, Any]] = field(default_factory=list)
    tail_b: list[dict[str, Any]] = field(default_factory=list)
    fork: ForkInfo | None = None  # one session is a fork of the other (`rerun --fork-at`): the tails start there

    @property
    def identical(self) -> bool:
        return self.first_difference is None and self.trees_equal


def compare_named(repo: git.Repo, a: str, b: str, *, with_patch: bool = True) -> Comparison:
    """Compare the sessions two ids (or prefixes) name (``with_patch``: the final trees' full patch too)."""
    from agitlog.config import load_config

    store = SessionStore.open(repo)
    return compare_sessions(store, store.resolve(a), store.resolve(b), with_patch=with_patch,
                            request_ignore=load_config(repo.root).rerun_ignore)


def compare_sessions(store: SessionStore, a: Session, b: Session, *, with_patch: bool = True,
                     ignore_paths: frozenset[str] = frozenset(),
                     substitutions: tuple[tuple[str, str], ...] = (),
                     request_ignore: tuple[str, ...] = ()) -> Comparison:
    """``ignore_paths``: files left out of the final trees' comparison (a rerun's code under test);
    ``substitutions``: (as B says it, as A said it) text replaced in B's events first (a rerun's date)."""
    repo = store.repo
    events_a: list[dict[str, Any]] = [dict(e) for e in store.events(a) if e["type"] != "snapshot.skip"]
    events_b = [_substituted(dict(e), substitutions) for e in store.events(b) if e["type"] != "snapshot.skip"]
    difference = first_difference(events_a, events_b, request_ignore)
    last_a, last_b = _last_step(a), _last_step(b)
    same_tree = bool(last_a and last_b and git.tree_of(repo, last_a) == git.tree_of(repo, last_b))
    changes = [] if same_tree or not (last_a and last_b) else git.diff_tree_numstat(repo, last_a, last_b)
    changes = [change for change in changes if change[2] not in ignore_paths]
    trees_equal = bool(last_a and last_b) and not changes
    patch = git.diff_patch(repo, last_a, last_b, exclude=sorted(ignore_paths)).decode("utf-8", "backslashreplace") \
        if with_patch and changes else ""
    fork = _fork_between(a, b)
    if fork is not None and difference is not None:  # side by side from the fork, not from where they first differ
        start_a, start_b = _model_call_start(events_a, fork.at), _model_call_start(events_b, fork.at)
        tail_a, tail_b = events_a[start_a:start_a + TAIL_EVENTS], events_b[start_b:start_b + TAIL_EVENTS]
    else:
        tail_a, tail_b = _tails(events_a, events_b, difference)
    return Comparison(a=a, b=b, first_difference=difference, trees_equal=trees_equal, tree_changes=changes,
                      patch=patch, tail_a=tail_a, tail_b=tail_b, fork=fork)


TAIL_EVENTS = 40


def _tails(events_a: list[dict[str, Any]], events_b: list[dict[str, Any]], difference: EventDifference | None
           ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Both sessions' events from where they part: from the first differing event, or in a fork from
    the same position in B as the differing event has in A."""
    if difference is None:
        return [], []

    def start(events: list[dict[str, Any]], event: dict[str, Any] | None) -> int:
        if event is not None and event in events:
            return events.index(event)
        return next((i for i, e in enumerate(events) if e.get("seq", -1) >= difference.index), len(events))

    begin_a, begin_b = start(events_a, difference.a), start(events_b, difference.b)
    return events_a[begin_a:begin_a + TAIL_EVENTS], events_b[begin_b:begin_b + TAIL_EVENTS]


def _fork_between(a: Session, b: Session) -> ForkInfo | None:
    """The fork one of the two sessions made from the other, if it is one (``rerun --fork-at``)."""
    for fork, original in ((b, a), (a, b)):
        if fork.meta.fork is not None and fork.meta.rerun_of == original.id:
            return fork.meta.fork
    return None


def _model_call_start(events: list[dict[str, Any]], call: int) -> int:
    """Where model call ``call`` (numbered from 0 as a rerun numbers them: by their answers' order)
    begins: its llm.request; the end when the session made fewer calls."""
    answered = [e["data"].get("call_id") for e in events if e.get("type") == "llm.response"]
    wanted = answered[call] if call < len(answered) else None
    requests = [i for i, e in enumerate(events) if e.get("type") == "llm.request"]
    found = next((i for i in requests if events[i]["data"].get("call_id") == wanted), None) if wanted else None
    if found is not None:
        return found
    return requests[call] if call < len(requests) else len(events)


def _substituted(event: dict[str, Any], substitutions: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    if not substitutions:
        return event
    text = json.dumps(event, ensure_ascii=False)
    for seen, recorded in substitutions:
        text = text.replace(json.dumps(seen)[1:-1], json.dumps(recorded)[1:-1])
    return json.loads(text)


def first_difference(events_a: list[dict[str, Any]], events_b: list[dict[str, Any]],
                     request_ignore: tuple[str, ...] = ()) -> EventDifference | None:
    """The first event that differs. Events are a partial order: each process's events are compared in
    order, but concurrent processes (two workers) may interleave differently in each run; a process
    is known across runs by its agent and, where the proxy saw it call a model, its arguments.
    Non-model traffic (``http.*``) is not ordered at all (a connectivity check's answer may be
    recorded after the agent's next request): it is compared as a set, after the rest."""
    lanes_a = _lanes([e for e in events_a if not _is_http(e)])
    lanes_b = _lanes([e for e in events_b if not _is_http(e)])
    for key in [*lanes_a, *(k for k in lanes_b if k not in lanes_a)]:
        difference = _first_ordered_difference(lanes_a.get(key, []), lanes_b.get(key, []), request_ignore)
        if difference is not None:
            return difference
    return _first_unordered_difference([e for e in events_a if _is_http(e)], [e for e in events_b if _is_http(e)],
                                       request_ignore)


def _lanes(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Events by the process that produced them, keyed the same way in every run of the session:
    agent and calling arguments (from the proxy's attribution), else agent and order of appearance."""
    streams = {e.get("pid"): marked_caller_stream(e["data"]["caller"]["stream"]) for e in events
               if e.get("type") == "llm.request" and isinstance((e.get("data") or {}).get("caller"), dict)
               and isinstance(e["data"]["caller"].get("stream"), str)}
    seen: dict[str, dict[Any, int]] = {}
    lanes: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        agent, pid = str(event.get("agent")), event.get("pid")
        if pid in streams:
            key = f"{agent}\0{streams[pid]}"
        else:
            order = seen.setdefault(agent, {})
            key = f"{agent}\0#{order.setdefault(pid, len(order))}"
        lanes.setdefault(key, []).append(event)
    return lanes


def _is_http(event: dict[str, Any]) -> bool:
    return str(event.get("type", "")).startswith("http.")


def _first_unordered_difference(events_a: list[dict[str, Any]], events_b: list[dict[str, Any]],
                                request_ignore: tuple[str, ...]) -> EventDifference | None:
    def key(event: dict[str, Any]) -> str:
        return json.dumps(normalize_event(event, request_ignore), sort_keys=True, default=str)

    return _first_ordered_difference(sorted(events_a, key=key), sorted(events_b, key=key), request_ignore)


def _first_ordered_difference(events_a: list[dict[str, Any]], events_b: list[dict[str, Any]],
                              request_ignore: tuple[str, ...]) -> EventDifference | None:
    for index in range(max(len(events_a), len(events_b))):
        a = events_a[index] if index < len(events_a) else None
        b = events_b[index] if index < len(events_b) else None
        if a is None or b is None:
            return EventDifference(index=_seq(a, b, index), a=a, b=b, fields=["(missing)"])
        na, nb = normalize_event(a, request_ignore), normalize_event(b, request_ignore)
        if na != nb:
            return EventDifference(index=_seq(a, b, index), a=a, b=b, fields=_differing_fields(na, nb),
                                   changes=json_changes(na, nb))
    return None


def _seq(a: dict[str, Any] | None, b: dict[str, Any] | None, fallback: int) -> int:
    """The event's number in its session (A's, else B's): the # column of `agitlog show`."""
    for event in (a, b):
        if event is not None and isinstance(event.get("seq"), int):
            return event["seq"]
    return fallback


def _differing_fields(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    fields = [k for k in a.keys() | b.keys() if k != "data" and a.get(k) != b.get(k)]
    data_a, data_b = a.get("data", {}), b.get("data", {})
    fields += [f"data.{k}" for k in data_a.keys() | data_b.keys() if data_a.get(k) != data_b.get(k)]
    return sorted(fields)


def _last_step(session: Session) -> str | None:
    return session.meta.steps.last or session.commit
