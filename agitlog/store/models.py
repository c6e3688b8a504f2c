"""Typed session metadata and events: the one place where stored (untrusted) data becomes trusted.

Every session a user reads may come from a teammate's machine through ``git fetch``, so nothing in a
record is believed until it passes through here. ``SessionMeta.from_toml`` checks a record's
``session.toml`` (types, finite numbers, ranges, string lengths, the format version) and never
raises: a record that fails is returned *damaged*, with the reason, so it can still be listed and
removed while every other session keeps working. ``parse_events`` does the same for
``events.jsonl``, one line at a time: a line that is not a valid event (not JSON, nested too deep,
a non-finite number, wrong envelope types) becomes an ``error`` event in its place.

Code past this module trusts what it is given: attribute access, no ``dict.get(..., default)``
chains. The rules are documented in docs/format.md ("Validation"). The datatypes are read-only by
convention, not ``frozen``: a frozen one costs ten times as much to build, and a full `log`
builds one per session.
"""
from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping

from agitlog.constants import EVENT_VERSION, FORMAT_VERSION, STATUS_DAMAGED, STATUSES

TYPE_CHECKING = False  # typing costs start-up; only checkers need it
if TYPE_CHECKING:
    from typing import Any, Iterator, TypedDict
from agitlog.datatypes import datatype, field

MAX_SHORT = 256            # identifiers: status, agent, host, user, versions, timestamps, ids
MAX_TEXT = 65_536          # free text: name, each command argument, cwd, branch, reason
MAX_ITEMS = 10_000         # command arguments, environment names, models in stats
MAX_DEPTH = 64             # nesting of an event's JSON
MAX_INT = 2 ** 63 - 1      # counters and ids stored as integers
MAX_DURATION_S = 10 * 366 * 86400.0

_OID = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
_HEX16 = re.compile(r"^[0-9a-f]{16}$")
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
_TYPE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")
SESSION_ID = re.compile(r"^[0-9a-z][0-9a-z-]{0,127}$")


class Invalid(ValueError):
    """Why a stored value is not acceptable (the message is the reason shown to the user)."""


# --- session metadata -----------------------------------------------------------------------------

@datatype(slots=True)
class GitInfo:
    base_commit: str | None = None   # None: the session started on an unborn branch
    branch: str | None = None        # None: HEAD was detached
    worktree: str = "main"


@datatype(slots=True)
class StepRange:
    count: int = 0
    first: str | None = None         # step 0's commit
    last: str | None = None          # the last step's commit


@datatype(slots=True)
class ModelUsage:
    input_tokens: int = 0
    output_tokens: int = 0
    calls: int = 0


@datatype(slots=True)
class SessionStats:
    events: int = 0
    llm_calls: int = 0
    tool_calls: int = 0
    model_tool_calls: int = 0     # tool calls the models asked for (llm.response tool_calls)
    decisions: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    files_changed: int = 0
    insertions: int = 0
    deletions: int = 0
    models: Mapping[str, ModelUsage] = field(default_factory=dict)


_STAT_KEYS = ("events", "llm_calls", "tool_calls", "model_tool_calls", "decisions", "errors", "input_tokens",
              "output_tokens", "files_changed", "insertions", "deletions")


@datatype(frozen=True, slots=True)
class ImportInfo:
    """``[import]``: the session was made by `agitlog import AGENT` from the agent's own transcript."""

    agent: str
    agent_version: str | None = None
    agent_session_id: str | None = None
    sources: tuple[str, ...] = ()
    lines: int = 0           # complete lines read: a grown transcript is imported again
    partial: bool = False    # its last line was still being written
    reconstructed: bool = True

    def to_dict(self) -> dict[str, Any]:
        out = {"agent": self.agent, "agent_version": self.agent_version, "agent_session_id": self.agent_session_id,
               "sources": list(self.sources), "lines": self.lines, "partial": self.partial,
               "reconstructed": self.reconstructed}
        return {k: v for k, v in out.items() if v is not None}


@datatype(frozen=True, slots=True)
class ForkInfo:
    """``[fork]``: a rerun that followed the recording up to model call ``at`` and went its own way
    there: ``how`` is ``live`` (the real model from that call on), ``answer`` (a given answer at it),
    ``request`` (a given request sent instead) or ``edit`` (fields of the agent's request changed:
    ``paths``)."""

    at: int
    how: str
    paths: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"at": self.at, "how": self.how}
        if self.paths:
            out["paths"] = list(self.paths)
        return out


FORK_KINDS = ("live", "answer", "request", "edit")


@datatype(slots=True)
class SessionMeta:
    """A session's session.toml, checked. ``damage`` is set (and most fields are defaults) when the
    record failed validation; such a session is listed and removable, never read further."""

    id: str
    status: str
    started_at: str = ""
    format: int = FORMAT_VERSION
    name: str | None = None
    agent: str = "main"
    command: tuple[str, ...] = ()
    cwd: str = "."
    ended_at: str | None = None
    duration_s: float | None = None
    exit_code: int | None = None
    signal: int | None = None
    host: str | None = None
    user: str | None = None
    pid: int | None = None
    agitlog_version: str | None = None
    trace_id: str | None = None
    root_span: str | None = None
    parent_span: str | None = None
    parent_session: str | None = None
    rerun_of: str | None = None
    reason: str | None = None
    env_names: tuple[str, ...] = ()
    git: GitInfo = field(default_factory=GitInfo)
    steps: StepRange = field(default_factory=StepRange)
    stats: SessionStats = field(default_factory=SessionStats)
    damage: str | None = None
    adapter: str | None = None               # [adapter] name: the coding-agent adapter of `agitlog run`
    imported: ImportInfo | None = None       # [import]
    fork: ForkInfo | None = None             # [fork]: a rerun that forked from its original

    @property
    def damaged(self) -> bool:
        return self.damage is not None

    @property
    def title(self) -> str:
        return self.name or " ".join(self.command) or self.id

    @classmethod
    def broken(cls, session_id: str, reason: str) -> SessionMeta:
        """The metadata of a session whose record failed validation."""
        return cls(id=session_id, status=STATUS_DAMAGED, damage=reason)

    @classmethod
    def from_toml(cls, blob: bytes | None, session_id: str) -> SessionMeta:
        """A record's session.toml, validated; damaged (never an exception) when it is not valid."""
        if blob is None:
            return cls.broken(session_id, "the record has no session.toml")
        from agitlog.store import metatoml  # read commands only; `agitlog run` never parses a record

        try:
            text = blob.decode("utf-8")
            data = metatoml.loads(text)  # the layout agitlog writes, without tomllib's import cost
            if data is None:
                import tomllib

                data = tomllib.loads(text)
        except (UnicodeDecodeError, RecursionError, ValueError) as exc:  # TOMLDecodeError is a ValueError
            return cls.broken(session_id, f"session.toml is unreadable: {_short(str(exc))}")
        return cls.from_dict(data, session_id)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], session_id: str, *, live: bool = False) -> SessionMeta:
        """Metadata from parsed TOML (or a journal's start.json when ``live``), validated; damaged when
        it is not valid. The ref name is the truth for the id."""
        try:
            return _meta(data, session_id, live=live)
        except Invalid as exc:
            return cls.broken(session_id, str(exc))

    def to_dict(self) -> dict[str, Any]:
        """The TOML shape (as docs/format.md shows it), keys with no value left out: what `--json` prints."""
        if self.damage is not None:
            return {"id": self.id, "status": self.status, "damage": self.damage}
        out: dict[str, Any] = {}
        for name in _TOP_FIELDS:
            value = getattr(self, name)
            if value is not None:
                out[name] = list(value) if isinstance(value, tuple) else value
        out["git"] = {k: v for k, v in (("base_commit", self.git.base_commit), ("branch", self.git.branch),
                                        ("worktree", self.git.worktree)) if v is not None}
        out["steps"] = {k: v for k, v in (("count", self.steps.count), ("first", self.steps.first),
                                          ("last", self.steps.last)) if v is not None}
        stats: dict[str, Any] = {key: getattr(self.stats, key) for key in _STAT_KEYS}
        stats["models"] = {model: {"input_tokens": u.input_tokens, "output_tokens": u.output_tokens, "calls": u.calls}
                           for model, u in self.stats.models.items()}
        out["stats"] = stats
        if self.adapter is not None:
            out["adapter"] = {"name": self.adapter}
        if self.imported is not None:
            out["import"] = self.imported.to_dict()
        if self.fork is not None:
            out["fork"] = self.fork.to_dict()
        return out

    def to_row(self) -> tuple[Any, ...]:
        """Every field as nested tuples, in declaration order: what the metadata cache stores (compact,
        and the fastest shape to load and to rebuild from)."""
        stats = self.stats
        return (*(getattr(self, name) for name in _ROW_FIELDS),
                (self.git.base_commit, self.git.branch, self.git.worktree),
                (self.steps.count, self.steps.first, self.steps.last),
                tuple(getattr(stats, key) for key in _STAT_KEYS),
                {m: (u.input_tokens, u.output_tokens, u.calls) for m, u in stats.models.items()}, self.damage,
                self.adapter, astuple_import(self.imported),
                None if self.fork is None else (self.fork.at, self.fork.how, self.fork.paths))

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> SessionMeta:
        """Rebuild from ``to_row()`` output this module produced itself (the metadata cache); no checks."""
        *top, git_row, steps_row, stats_row, models, damage, adapter, imported, fork = row
        usage = {model: ModelUsage(*counts) for model, counts in models.items()}
        return cls(*top, GitInfo(*git_row), StepRange(*steps_row), SessionStats(*stats_row, usage), damage,
                   adapter, ImportInfo(*imported) if imported is not None else None,
                   ForkInfo(*fork) if fork is not None else None)


def astuple_import(info: ImportInfo | None) -> tuple[Any, ...] | None:
    """An ImportInfo as the metadata cache stores it."""
    if info is None:
        return None
    return (info.agent, info.agent_version, info.agent_session_id, info.sources, info.lines, info.partial,
            info.reconstructed)


_ROW_FIELDS = ("id", "status", "started_at", "format", "name", "agent", "command", "cwd", "ended_at", "duration_s",
               "exit_code", "signal", "host", "user", "pid", "agitlog_version", "trace_id", "root_span",
               "parent_span", "parent_session", "rerun_of", "reason", "env_names")
_TOP_FIELDS = ("format", "id", "name", "agent", "command", "cwd", "started_at", "ended_at", "duration_s", "status",
               "exit_code", "signal", "host", "user", "pid", "agitlog_version", "trace_id", "root_span",
               "parent_span", "parent_session", "rerun_of", "reason", "env_names")


def _meta(data: Mapping[str, Any], session_id: str, *, live: bool) -> SessionMeta:
    if not isinstance(data, Mapping):
        raise Invalid("session.toml does not hold a table")
    version = _int(data, "format", 0, MAX_INT, required=True)
    if version != FORMAT_VERSION:
        raise Invalid(f"format {version} is not one this agitlog reads (format {FORMAT_VERSION})"
                      + ("; upgrade agitlog" if version and version > FORMAT_VERSION else ""))
    status = "running" if live else _str(data, "status", MAX_SHORT, required=True)
    if status not in STATUSES or status == STATUS_DAMAGED:
        raise Invalid(f"unknown status {_short(status)!r}")
    return SessionMeta(
        id=session_id, status=status, format=version,
        started_at=_match(data, "started_at", _TS, required=True) or "",
        name=_str(data, "name", MAX_TEXT), agent=_str(data, "agent", MAX_SHORT) or "main",
        command=_str_list(data, "command"), cwd=_str(data, "cwd", MAX_TEXT) or ".",
        ended_at=_match(data, "ended_at", _TS), duration_s=_duration(data),
        exit_code=_int(data, "exit_code", -(2 ** 31), 2 ** 31 - 1), signal=_int(data, "signal", 0, 255),
        host=_str(data, "host", MAX_SHORT), user=_str(data, "user", MAX_SHORT),
        pid=_int(data, "pid", 0, 2 ** 31 - 1), agitlog_version=_str(data, "agitlog_version", MAX_SHORT),
        trace_id=_match(data, "trace_id", _HEX32), root_span=_match(data, "root_span", _HEX16),
        parent_span=_match(data, "parent_span", _HEX16), parent_session=_match(data, "parent_session", SESSION_ID),
        rerun_of=_match(data, "rerun_of", SESSION_ID), reason=_str(data, "reason", MAX_TEXT),
        env_names=_str_list(data, "env_names"), git=_git(_table(data, "git")), steps=_steps(_table(data, "steps")),
        stats=_stats(_table(data, "stats")),
        adapter=_str(_table(data, "adapter"), "name", MAX_SHORT, where="adapter."),
        imported=_import(_table(data, "import")) if "import" in data else None,
        fork=_fork(_table(data, "fork")) if "fork" in data else None,
    )


def _fork(data: Mapping[str, Any]) -> ForkInfo:
    how = _str(data, "how", MAX_SHORT, required=True, where="fork.") or ""
    if how not in FORK_KINDS:
        raise Invalid(f"fork.how is not one of {', '.join(FORK_KINDS)}")
    return ForkInfo(at=_int(data, "at", 0, MAX_INT, required=True, where="fork.") or 0, how=how,
                    paths=_str_list(data, "paths"))


def _import(data: Mapping[str, Any]) -> ImportInfo:
    flags = {}
    for key, default in (("partial", False), ("reconstructed", True)):
        value = data.get(key, default)
        if not isinstance(value, bool):
            raise Invalid(f"import.{key} is not a boolean")
        flags[key] = value
    return ImportInfo(agent=_str(data, "agent", MAX_SHORT, required=True, where="import.") or "",
                      agent_version=_str(data, "agent_version", MAX_SHORT, where="import."),
                      agent_session_id=_str(data, "agent_session_id", MAX_SHORT, where="import."),
                      sources=_str_list(data, "sources"), lines=_int(data, "lines", 0, MAX_INT, where="import.") or 0,
                      **flags)


def _git(data: Mapping[str, Any]) -> GitInfo:
    worktree = _str(data, "worktree", MAX_SHORT) or "main"
    return GitInfo(base_commit=_match(data, "base_commit", _OID, where="git."),
                   branch=_str(data, "branch", MAX_TEXT, where="git."), worktree=worktree)


def _steps(data: Mapping[str, Any]) -> StepRange:
    return StepRange(count=_int(data, "count", 0, MAX_INT, where="steps.") or 0,
                     first=_match(data, "first", _OID, where="steps."), last=_match(data, "last", _OID, where="steps."))


def _stats(data: Mapping[str, Any]) -> SessionStats:
    counts = {key: _int(data, key, 0, MAX_INT, where="stats.") or 0 for key in _STAT_KEYS}
    models = _table(data, "models", where="stats.")
    if len(models) > MAX_ITEMS:
        raise Invalid("stats.models has too many entries")
    usage = {}
    for model, row in models.items():
        if len(model) > MAX_SHORT or not isinstance(row, Mapping):
            raise Invalid("stats.models holds an entry that is not a table of counts")
        usage[model] = ModelUsage(**{key: _int(row, key, 0, MAX_INT, where=f"stats.models.{_short(model)}.") or 0
                                     for key in ("input_tokens", "output_tokens", "calls")})
    return SessionStats(**counts, models=usage)


def _table(data: Mapping[str, Any], key: str, *, where: str = "") -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise Invalid(f"{where}{key} is not a table")
    return value


def _str(data: Mapping[str, Any], key: str, limit: int, *, required: bool = False, where: str = "") -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            raise Invalid(f"{where}{key} is missing")
        return None
    if not isinstance(value, str):
        raise Invalid(f"{where}{key} is not a string")
    if len(value) > limit:
        raise Invalid(f"{where}{key} is longer than {limit} characters")
    return value


def _match(data: Mapping[str, Any], key: str, pattern: re.Pattern[str], *, required: bool = False,
           where: str = "") -> str | None:
    value = _str(data, key, MAX_SHORT, required=required, where=where)
    if value is not None and not pattern.match(value):
        raise Invalid(f"{where}{key} is not a valid value: {_short(value)!r}")
    return value


def _int(data: Mapping[str, Any], key: str, low: int, high: int, *, required: bool = False,
         where: str = "") -> int | None:
    value = data.get(key)
    if value is None:
        if required:
            raise Invalid(f"{where}{key} is missing")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid(f"{where}{key} is not an integer")
    if not low <= value <= high:
        raise Invalid(f"{where}{key} is out of range")
    return value


def _duration(data: Mapping[str, Any]) -> float | None:
    value = data.get("duration_s")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Invalid("duration_s is not a number")
    if not math.isfinite(value) or not 0 <= value <= MAX_DURATION_S:
        raise Invalid("duration_s is out of range")
    return float(value)


def _str_list(data: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = data.get(key, [])
    if not isinstance(value, list) or len(value) > MAX_ITEMS:
        raise Invalid(f"{key} is not a list of at most {MAX_ITEMS} strings")
    if not all(isinstance(item, str) and len(item) <= MAX_TEXT for item in value):
        raise Invalid(f"{key} holds something that is not a string of at most {MAX_TEXT} characters")
    return tuple(value)


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- events ---------------------------------------------------------------------------------------

if TYPE_CHECKING:
    class Event(TypedDict):
        """A stored event (docs/events.md) as readers get it: every envelope field has its documented
        type, ``data`` is always an object, the JSON is at most MAX_DEPTH deep and every number finite."""

        v: int
        seq: int
        ts: str
        session: str
        type: str
        agent: str
        pid: int | None
        span: str | None
        parent_span: str | None
        step: int | None
        commit: str | None
        data: dict[str, Any]
else:
    Event = dict  # at run time an event is a plain dict: typing.TypedDict costs start-up


def parse_events(data: bytes, session_id: str) -> Iterator[Event]:
    """Events from a stored events.jsonl (complete lines only). A line that is not a valid event is
    replaced by an ``error`` event that says why and keeps (a bounded part of) the raw line."""
    position = 0
    for line in data.splitlines():
        if line.strip():
            yield parse_event_line(line, position, session_id)
            position += 1


def parse_event_line(line: bytes, position: int, session_id: str) -> Event:
    try:
        raw = json.loads(line, parse_constant=_reject_constant, parse_float=_finite_float, parse_int=_bounded_int)
        if not isinstance(raw, dict):
            raise Invalid("a stored event must be a JSON object")
        if line.count(b"[") + line.count(b"{") > MAX_DEPTH:
            _check_depth(raw)
        return _event(raw, position, session_id)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, Invalid, int too large are ValueErrors
        reason = f"nested deeper than {MAX_DEPTH} levels" if isinstance(exc, RecursionError) else str(exc)
        return _stand_in(line, position, session_id, reason)


def _reject_constant(name: str) -> float:
    raise Invalid(f"non-finite number {name}")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise Invalid(f"non-finite number {_short(text)}")
    return value


def _bounded_int(text: str) -> int:
    value = int(text)
    if not -MAX_INT - 1 <= value <= MAX_INT:
        raise Invalid("an integer out of the 64-bit range")
    return value


def _check_depth(value: Any) -> None:
    """Raise Invalid when ``value`` nests deeper than MAX_DEPTH (iteratively: no recursion to blow)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise Invalid(f"nested deeper than {MAX_DEPTH} levels")
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))


def _event(raw: dict[str, Any], position: int, session_id: str) -> Event:
    seq = raw.get("seq")
    kind = raw.get("type")
    data = raw.get("data")
    return Event(
        v=_opt_int(raw.get("v")) or EVENT_VERSION,
        seq=seq if isinstance(seq, int) and not isinstance(seq, bool) and 0 <= seq <= MAX_INT else position,
        ts=_text(raw.get("ts"), _TS) or "",
        session=session_id,
        type=kind if isinstance(kind, str) and len(kind) <= MAX_SHORT and _TYPE.match(kind) else "unknown",
        agent=_text(raw.get("agent")) or "main",
        pid=_opt_int(raw.get("pid")),
        span=_text(raw.get("span"), _HEX16),
        parent_span=_text(raw.get("parent_span"), _HEX16),
        step=_opt_int(raw.get("step")),
        commit=_text(raw.get("commit"), _OID),
        data=data if isinstance(data, dict) else ({} if data is None else {"value": data}),
    )


def _opt_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_INT else None


def _text(value: Any, pattern: re.Pattern[str] | None = None) -> str | None:
    if not isinstance(value, str) or len(value) > MAX_SHORT or (pattern is not None and not pattern.match(value)):
        return None
    return value


def _stand_in(line: bytes, position: int, session_id: str, reason: str) -> Event:
    raw = line[:4096].decode("utf-8", "backslashreplace")
    return Event(v=EVENT_VERSION, seq=position, ts="", session=session_id, type="error", agent="agitlog", pid=None,
                 span=None, parent_span=None, step=None, commit=None,
                 data={"error": "malformed stored event", "reason": _short(reason, 200), "raw": raw})
