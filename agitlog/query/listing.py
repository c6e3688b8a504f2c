"""Read-side views for `log` and `show`: plain data, no rendering."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from agitlog import git
from agitlog.constants import STATUSES
from agitlog.datatypes import datatype, field
from agitlog.errors import UsageError
from agitlog.store.events import matches_type
from agitlog.store.models import Event, ModelUsage, SessionMeta
from agitlog.store.sessions import Session, SessionStore

TYPE_CHECKING = False  # typing costs start-up; only checkers need it
if TYPE_CHECKING:
    from typing import Any, Mapping, Sequence

_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str, *, now: datetime | None = None) -> datetime:
    """"7d", "12h", "30m", "2w", or an ISO date/time (UTC unless it says otherwise)."""
    now = now or datetime.now(timezone.utc)
    match = _RELATIVE.match(text.strip())
    if match:
        try:
            return now - timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])
        except (OverflowError, ValueError):  # further back than datetime can count (year 1)
            raise UsageError(f"time out of range: {text!r}", hint='use a smaller span, e.g. "3650d"') from None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"cannot read time {text!r}", hint='use "7d", "12h", "30m" or a date like 2026-11-01') from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def check_statuses(statuses: Sequence[str]) -> tuple[str, ...]:
    """``statuses`` when each is a session status; UsageError (exit 2) naming the valid ones if not."""
    unknown = [s for s in statuses if s not in STATUSES]
    if unknown:
        raise UsageError(f"unknown status {unknown[0]!r}", hint=f"use one of: {', '.join(STATUSES)}")
    return tuple(statuses)


@datatype(frozen=True)
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
    meta: SessionMeta = field(repr=False)
    damage: str | None = None   # why the record failed validation (status "damaged")


def session_cost(meta: SessionMeta, prices: dict[str, dict[str, float]]) -> float | None:
    """Cost from the config's price table (per million tokens); None when a model has no price."""
    return models_cost(meta.stats.models, prices)


def models_cost(models: Mapping[str, ModelUsage], prices: dict[str, dict[str, float]]) -> float | None:
    from agitlog.query.costs import usage_cost

    return usage_cost(tuple((model, u.input_tokens, u.output_tokens) for model, u in models.items()), prices)


def session_rows(
    repo: git.Repo,
    *,
    limit: int | None = None,
    status: Sequence[str] = (),
    since: datetime | None = None,
    agent: str | None = None,
) -> list[LogRow]:
    """One row per session, newest first, filtered; with ``limit`` only the sessions shown are read."""
    store = SessionStore.open(repo)
    limit = None if limit is not None and limit >= 1 << 62 else limit  # more than any repository holds: all
    sessions = store.list(limit=limit, status=status, agent=agent, since=since)
    prices = _prices(repo) if sessions else {}
    return [log_row(session, prices) for session in sessions]


def _prices(repo: git.Repo) -> dict[str, dict[str, float]]:
    from agitlog.config import load_config  # only when there is a session to price

    return load_config(repo.root).prices


def log_row(session: Session, prices: dict[str, dict[str, float]]) -> LogRow:
    """A session's `log` row, priced with ``prices`` (the config's price table)."""
    meta = session.meta
    stats = meta.stats
    return LogRow(
        id=session.id, started_at=meta.started_at, duration_s=meta.duration_s,
        title=f"(damaged: {meta.damage})" if meta.damage else meta.title, agent=meta.agent,
        status=meta.status, exit_code=meta.exit_code, steps=meta.steps.count, files_changed=stats.files_changed,
        input_tokens=stats.input_tokens, output_tokens=stats.output_tokens,
        cost=session_cost(meta, prices), meta=meta, damage=meta.damage,
    )


@datatype(frozen=True)
class StepChange:
    """The step commit an event produced, and what it changed."""

    step: int
    commit: str
    files: list[tuple[int | None, int | None, str]]
    decision: int | None = None  # seq of the decision the change belongs to (query.attribution)


@datatype
class SessionView:
    session: Session
    events: list[Event]
    step_changes: dict[int, StepChange]  # keyed by the seq of the event that produced the step
    prices: dict[str, dict[str, float]] = field(default_factory=dict)
    prompt: str | None = None            # what the user asked (first user message sent to a model)


def show_session(repo: git.Repo, query: str | None, *, types: Sequence[str] = (), with_diffstat: bool = True,
                 name: str | None = None, agents: Sequence[str] = ()) -> SessionView:
    """A session's metadata and events (optionally only some types, or of some agents: framework
    agents own the model calls their spans made), with the step each event produced.
    A damaged session is shown too (its metadata says why, it has no events), so it can be looked at."""
    from agitlog.query.agents import attribute_model_calls, of_agents

    store = SessionStore.open(repo)
    session = store.resolve(query, name=name, intact=False)
    events = attribute_model_calls(store.events(session))
    changes = step_changes(repo, events) if with_diffstat else {}
    from agitlog.query.prompts import first_user_prompt

    prompt = first_user_prompt(events)
    if types:
        events = [event for event in events if matches_type(event, types)]
    events = of_agents(events, agents)
    return SessionView(session=session, events=events, step_changes=changes, prices=_prices(repo),
                       prompt=prompt)


def step_changes(repo: git.Repo, events: Sequence[Event]) -> dict[int, StepChange]:
    """For each event after which a new step commit is in effect: that step and its diffstat (one
    git process for all of them)."""
    produced = _produced_steps(events)
    diffstats = git.diff_tree_numstat_many(repo, [(old, new) for _, old, new in produced])
    from agitlog.query.attribution import attribute_steps

    decisions = attribute_steps(list(events))
    return {event["seq"]: StepChange(step=event["step"] or 0, commit=new, files=files,
                                     decision=_decision_seq(decisions, event["step"]))
            for (event, _, new), files in zip(produced, diffstats)}


def step_producers(events: Sequence[Event]) -> dict[int, int]:
    """step -> the seq of the event that produced it: what ``step_changes`` says of the steps,
    without the diffstats (no git process; `diff` needs only this)."""
    by_seq = {event["seq"]: event["step"] or 0 for event, _, _ in _produced_steps(events)}
    return {step: seq for seq, step in by_seq.items()}


def _produced_steps(events: Sequence[Event]) -> list[tuple[Event, str, str]]:
    """(event, previous step commit, its commit) for each event after which a new step commit is
    in effect."""
    produced: list[tuple[Event, str, str]] = []
    previous: str | None = None
    for event in events:
        commit = event["commit"]
        if commit and commit != previous:
            if previous is not None:
                produced.append((event, previous, commit))
            previous = commit
    return produced


def _decision_seq(decisions: dict[int, Any], step: int | None) -> int | None:
    found = decisions.get(step) if isinstance(step, int) else None
    return found.decision_seq if found else None
