"""Finishing sessions: the record commit on top of the last step, for a run that ended (capture calls
``finalize``) and for one whose recorder died (``recover_sessions``, run once by SessionStore.open).

Finalising is idempotent, so a kill at any point leaves something the next agitlog command turns into
exactly one well-formed session:

1. ``end.json`` and ``session.end`` are in the journal (a run that ended) or are added now (recovery);
2. the blobs, trees and the record commit are written (unreferenced objects until step 3);
3. the session ref moves from the last step to the record commit (compare-and-swap);
4. the journal is renamed away, then deleted (agitlog.store.journal.remove_journal).

A journal whose ref already points at a record commit was killed between 3 and 4: recovery only
removes the journal; it never stacks a second record commit.
"""
from __future__ import annotations

import os

from agitlog import git
from agitlog.constants import KIND_RECORD, STATUS_CRASHED, TRAILER_KIND
from agitlog.datatypes import datatype, field
from agitlog.errors import AgitlogError
from agitlog.private import write_private
from agitlog.store.events import encode_event, finish_event, malformed_draft, utc_now
from agitlog.store.faults import crash_point
from agitlog.store.journal import (
    Journal, clean_stale_journals, iter_journals, read_events_tolerant, remove_journal, try_lock_abandoned,
)
from agitlog.store.records import session_ref, write_record

TYPE_CHECKING = False  # typing costs start-up; only checkers need it
if TYPE_CHECKING:  # the models load only when a crashed session is recovered
    from typing import Any
    from agitlog.store.models import Event


@datatype
class Stats:
    """Running totals kept in session.toml, so `log` never has to read events."""

    events: int = 0
    llm_calls: int = 0
    tool_calls: int = 0
    model_tool_calls: int = 0     # tool calls the models asked for (llm.response tool_calls)
    decisions: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    tokens_by_model: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, event: dict[str, Any]) -> None:
        self.events += 1
        kind = event["type"]
        if kind == "llm.response":
            self._add_llm(event.get("data") or {})
        elif kind == "tool.call":
            self.tool_calls += 1
        elif kind == "decision":
            self.decisions += 1
        elif kind == "error":
            self.errors += 1

    def _add_llm(self, data: dict[str, Any]) -> None:
        self.llm_calls += 1
        if isinstance(data.get("tool_calls"), list):
            self.model_tool_calls += len(data["tool_calls"])
        usage = data.get("usage") or {}
        if not isinstance(usage, dict):
            return
        model = str(data.get("model") or "unknown")
        per_model = self.tokens_by_model.setdefault(model, {"input_tokens": 0, "output_tokens": 0, "calls": 0})
        per_model["calls"] += 1
        for key in ("input_tokens", "output_tokens"):
            value = usage.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                setattr(self, key, getattr(self, key) + value)
                per_model[key] += value

    def as_dict(self) -> dict[str, Any]:
        return {"events": self.events, "llm_calls": self.llm_calls, "tool_calls": self.tool_calls,
                "model_tool_calls": self.model_tool_calls, "decisions": self.decisions, "errors": self.errors, "input_tokens": self.input_tokens,
                "output_tokens": self.output_tokens, "models": self.tokens_by_model}


def finalize(repo: git.Repo, journal: Journal, *, meta: dict[str, Any], stats: Stats, first: str | None,
             last: str | None, steps: int) -> str:
    """Write the record commit (steps 2-3 above), move the ref onto it and remove the journal; returns
    the record commit. ``meta`` gets its ``steps`` and ``stats`` tables here."""
    crash_point("finalize.start")
    if last is None or first is None:
        raise RuntimeError("a session always has a step 0")
    numstat = git.diff_tree_numstat(repo, first, last) if first != last else []
    meta["steps"] = {"count": steps, "first": first, "last": last}
    meta["stats"] = {**stats.as_dict(), "files_changed": len(numstat),
                     "insertions": sum(a or 0 for a, _, _ in numstat),
                     "deletions": sum(d or 0 for _, d, _ in numstat)}
    commit = write_record(repo, journal=journal, meta=meta, last_step=last)
    crash_point("finalize.ref-updated")
    remove_journal(journal)
    return commit


# --- recovery -------------------------------------------------------------------------------------

@datatype
class Recovery:
    recovered: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # journals that could not be read; left for a human
    cleaned: list[str] = field(default_factory=list)   # leftovers of interrupted removals, deleted


def recover_sessions(repo: git.Repo) -> Recovery:
    """Finish every session whose recorder is gone, and delete stale journal directories. Cheap when
    there are none; a journal that cannot be read is reported, never deleted, and never stops the
    command that asked."""
    report = Recovery(cleaned=clean_stale_journals(repo.state_dir))
    for journal in iter_journals(repo.state_dir):
        fd = try_lock_abandoned(journal)
        if fd is None:
            continue
        try:
            _recover(repo, journal)
            report.recovered.append(journal.session_id)
        except (AgitlogError, OSError, ValueError, KeyError, TypeError) as exc:
            report.problems.append(journal.describe_problem(exc))
        finally:
            os.close(fd)
    return report


def _recover(repo: git.Repo, journal: Journal) -> None:
    crash_point("recover.start")
    meta = journal.read_start()
    session_id = journal.session_id
    last = git.resolve_commit(repo, session_ref(session_id))
    if last is None:
        remove_journal(journal)  # died before step 0: nothing was recorded
        return
    if _is_record(repo, last):
        remove_journal(journal)  # finalised, killed before the journal was removed: nothing left to do
        return
    complete, partial = read_events_tolerant(journal)
    from agitlog.store.models import parse_events

    events = list(parse_events(complete, session_id))
    end = journal.read_end() or _recorded_end(events, partial) or {
        "status": STATUS_CRASHED, "exit_code": None, "ended_at": utc_now(),
        "reason": "the recorder stopped before the session ended (killed, or the machine stopped)"}
    base = (meta.get("git") or {}).get("base_commit")
    steps = git.rev_list(repo, last, stop_at=base if isinstance(base, str) else None)
    stats = _close_events(journal, complete, partial, events, meta=meta, end=end, step=len(steps) - 1, commit=last)
    crash_point("recover.events-written")
    finalize(repo, journal, meta={**meta, **end, "id": session_id}, stats=stats, first=steps[-1], last=last,
             steps=len(steps))


def _is_record(repo: git.Repo, commit: str) -> bool:
    return KIND_RECORD in git.commit_trailers(repo, [commit]).get(commit, {}).get(TRAILER_KIND, [])


def _recorded_end(events: list[Event], partial: bytes) -> dict[str, Any] | None:
    """How the run ended, from its session.end event, when the recorder died after recording it."""
    if partial or not events or events[-1]["type"] != "session.end":
        return None
    data = events[-1]["data"]
    return {key: data[key] for key in ("status", "exit_code", "signal", "ended_at", "duration_s") if key in data}


def _close_events(journal: Journal, complete: bytes, partial: bytes, events: list[Event], *, meta: dict[str, Any],
                  end: dict[str, Any], step: int, commit: str) -> Stats:
    """Rewrite the journal's events as complete lines ending in session.end (a cut-off last line kept
    as an error event); atomically, so a second recovery after a kill here sees the same events."""
    extra: list[dict[str, Any]] = []
    if partial:
        extra.append(malformed_draft(partial, "cut short when the recorder stopped"))
    if not events or events[-1].get("type") != "session.end":
        extra.append({"type": "session.end", "data": dict(end)})
    stats = Stats()
    for event in events:
        stats.add(event)  # type: ignore[arg-type]
    tail = b""
    for offset, draft in enumerate(extra):
        event = finish_event({**draft, "agent": "agitlog"}, seq=len(events) + offset, session=journal.session_id,
                             step=step, commit=commit, default_span=meta.get("root_span") or "0" * 16,
                             default_pid=os.getpid())
        stats.add(event)
        tail += encode_event(event)
    if extra or partial:
        write_private(journal.events_file, complete + tail)
    return stats
