"""Read-side views for `log` and `show`: plain data, no rendering."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Sequence

from agitlog import git
from agitlog.config import load_config
from agitlog.errors import UsageError
from agitlog.store.events import matches_type, parse_ts
from agitlog.capture.lifecycle import recover_sessions
from agitlog.store.records import SessionInfo, list_sessions, load_events, resolve_session

_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str, *, now: datetime | None = None) -> datetime:
    """"7d", "12h", "30m", "2w", or an ISO date/time (UTC unless it says otherwise)."""
    now = now or datetime.now(timezone.utc)
    match = _RELATIVE.match(text.strip())
    if match:
        return now - timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"cannot read time {text!r}", hint='use "7d", "12h", "30m" or a date like 2026-11-01') from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class LogRow:
    id: str
    started_at: str
    duration_s: float | None
    title: str
    agent: str
    status: str
    exit_code: int | None
    steps: int
    files_changed: int
    input_tokens: int
    output_tokens: int
    cost: float | None
    meta: dict[str, Any] = field(repr=False)


def session_cost(meta: dict[str, Any], prices: dict[str, dict[str, float]]) -> float | None:
    """Cost from the config's price table (per million tokens); None when a model has no price."""
    models = meta.get("stats", {}).get("models", {})
    if not prices or not models:
        return None
    total = 0.0
    for model, usage in models.items():
        price = prices.get(model)
        if price is None:
            return None
        total += (usage.get("input_tokens", 0) * float(price.get("input", 0))
                  + usage.get("output_tokens", 0) * float(price.get("output", 0))) / 1_000_000
    return total


def session_rows(
    repo: git.Repo,
    *,
    limit: int | None = None,
    status: Sequence[str] = (),
    since: datetime | None = None,
    agent: str | None = None,
) -> list[LogRow]:
    """One row per session, newest first, filtered."""
    recover_sessions(repo)
    prices = load_config(repo.root).prices
    rows = []
    for session in list_sessions(repo):
        meta = session.meta
        if status and meta.get("status") not in status:
            continue
        if agent and meta.get("agent") != agent:
            continue
        if since and _started(meta) < since:
            continue
        rows.append(_row(session, prices))
        if limit and len(rows) >= limit:
            break
    return rows


def _started(meta: dict[str, Any]) -> datetime:
    try:
        return parse_ts(meta.get("started_at", ""))
    except ValueError:
        return datetime.min.replace(tzinfo=timezone.utc)


def _row(session: SessionInfo, prices: dict[str, dict[str, float]]) -> LogRow:
    meta = session.meta
    stats = meta.get("stats", {})
    return LogRow(
        id=session.id, started_at=meta.get("started_at", ""), duration_s=meta.get("duration_s"),
        title=meta.get("name") or " ".join(meta.get("command", [])), agent=meta.get("agent", ""),
        status=meta.get("status", "?"), exit_code=meta.get("exit_code"),
        steps=meta.get("steps", {}).get("count", 0), files_changed=stats.get("files_changed", 0),
        input_tokens=stats.get("input_tokens", 0), output_tokens=stats.get("output_tokens", 0),
        cost=session_cost(meta, prices), meta=meta,
    )


@dataclass(frozen=True)
class StepChange:
    """The step commit an event produced, and what it changed."""

    step: int
    commit: str
    files: list[tuple[int | None, int | None, str]]


@dataclass
class SessionView:
    session: SessionInfo
    events: list[dict[str, Any]]
    step_changes: dict[int, StepChange]  # keyed by the seq of the event that produced the step
    prices: dict[str, dict[str, float]] = field(default_factory=dict)


def show_session(repo: git.Repo, query: str | None, *, types: Sequence[str] = (), with_diffstat: bool = True,
                 agents: Sequence[str] = ()) -> SessionView:
    """A session's metadata and events (optionally only some types, or of some agents: framework
    agents own the model calls their spans made), with the step each event produced."""
    from agitlog.query.agents import attribute_model_calls

    recover_sessions(repo)
    session = resolve_session(repo, query)
    events = attribute_model_calls(load_events(repo, session))
    changes = step_changes(repo, events) if with_diffstat else {}
    if types:
        events = [event for event in events if matches_type(event, types)]
    if agents:
        events = [event for event in events if event.get("agent") in agents]
    return SessionView(session=session, events=events, step_changes=changes, prices=load_config(repo.root).prices)


def step_changes(repo: git.Repo, events: list[dict[str, Any]]) -> dict[int, StepChange]:
    """For each event after which a new step commit is in effect: that step and its diffstat (one
    git process for all of them)."""
    produced: list[tuple[dict[str, Any], str, str]] = []  # (event, previous step commit, its commit)
    previous: str | None = None
    for event in events:
        commit = event.get("commit")
        if commit and commit != previous:
            if previous is not None:
                produced.append((event, previous, commit))
            previous = commit
    diffstats = git.diff_tree_numstat_many(repo, [(old, new) for _, old, new in produced])
    return {event["seq"]: StepChange(step=event.get("step", 0), commit=new, files=files)
            for (event, _, new), files in zip(produced, diffstats)}
