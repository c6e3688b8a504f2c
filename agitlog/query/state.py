"""Time travel: what the agent knew at event N.

``state_at`` folds the events up to and including N into: the conversation as the model last saw
it (the latest ``llm.request`` of that agent, and the response if it came), the ``state`` events
merged, the last decision, the spans still open, and the files changed since step 0.
"""
from __future__ import annotations

from agitlog import git
from agitlog.datatypes import datatype, field
from agitlog.query.prompts import Prompt, normalize_request
from agitlog.query.timeline import Replay, index_of_seq, load_replay

TYPE_CHECKING = False  # typing costs start-up; only checkers need it
if TYPE_CHECKING:
    from typing import Any, Sequence


@datatype(frozen=True)
class OpenSpan:
    span: str
    name: str
    agent: str
    started_seq: int


@datatype(frozen=True)
class FileChange:
    path: str
    added: int | None    # None for binary files
    deleted: int | None


@datatype
class StateAt:
    session_id: str
    seq: int
    agent: str
    step: int | None
    commit: str | None
    prompt: Prompt | None              # the conversation as the model last saw it
    prompt_seq: int | None
    response: dict[str, Any] | None    # the answer to that prompt, if it came by event N
    response_seq: int | None
    state: dict[str, Any]              # every `state` event up to N, merged
    decision: dict[str, Any] | None
    decision_seq: int | None
    open_spans: list[OpenSpan] = field(default_factory=list)
    files: list[FileChange] = field(default_factory=list)


def session_state(repo: git.Repo, *, session: str | None, at: int | None, name: str | None = None) -> StateAt:
    """The state at event ``at`` (None: the last event) of a session."""
    replay = load_replay(repo, session=session, name=name)
    return state_at(replay, at=at, repo=repo)


def state_at(replay: Replay, *, at: int | None, repo: git.Repo | None = None) -> StateAt:
    """Fold the replay's events up to ``at`` into a StateAt; files need ``repo``."""
    index = len(replay.events) - 1 if at is None else index_of_seq(replay, at)
    events = replay.events[: index + 1]
    current = events[-1] if events else {}
    agent = str(current.get("agent", ""))
    request, response = _conversation(events, agent)
    decision = _last(events, "decision")
    state = StateAt(
        session_id=replay.session.id, seq=current.get("seq", index), agent=agent,
        step=current.get("step"), commit=current.get("commit"),
        prompt=normalize_request(request.get("data") or {}) if request else None,
        prompt_seq=request.get("seq") if request else None,
        response=(response.get("data") or {}) if response else None,
        response_seq=response.get("seq") if response else None,
        state=merged_state(events), decision=(decision.get("data") or {}) if decision else None,
        decision_seq=decision.get("seq") if decision else None, open_spans=open_spans(events),
    )
    if repo is not None and replay.steps and state.commit:
        state.files = files_changed(repo, base=replay.steps[0], commit=state.commit)
    return state


def files_changed(repo: git.Repo, *, base: str, commit: str) -> list[FileChange]:
    """Files that differ between step 0 (``base``) and ``commit``, with line counts."""
    from agitlog.query.diffs import display_path

    return [FileChange(display_path(path), a, d) for a, d, path in git.diff_tree_numstat(repo, base, commit)]


def _conversation(events: Sequence[dict[str, Any]], agent: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The latest request of ``agent`` (else of anyone) and the response that followed it."""
    requests = [e for e in events if e.get("type") == "llm.request"]
    mine = [e for e in requests if e.get("agent") == agent] or requests
    if not mine:
        return None, None
    request = mine[-1]
    later = events[events.index(request) + 1:]
    answers = [e for e in later if e.get("type") == "llm.response" and e.get("agent") == request.get("agent")]
    same_span = [e for e in answers if e.get("span") == request.get("span")]
    return request, (same_span or answers or [None])[0]


def _last(events: Sequence[dict[str, Any]], kind: str) -> dict[str, Any] | None:
    return next((e for e in reversed(events) if e.get("type") == kind), None)


def merged_state(events: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Every ``state`` event merged in order: objects merge key by key (recursively), anything else
    replaces what was there. A non-object state is kept under the key "value"."""
    merged: dict[str, Any] = {}
    for event in events:
        if event.get("type") != "state":
            continue
        data = event.get("data") or {}
        value = data.get("state", {k: v for k, v in data.items() if k != "state"})
        merged = _merge(merged, value if isinstance(value, dict) else {"value": value})
    return merged


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    result = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = _merge(result[key], value)
        else:
            result[key] = value
    return result


def open_spans(events: Sequence[dict[str, Any]]) -> list[OpenSpan]:
    """Spans started and not yet ended, outermost first."""
    spans: dict[str, OpenSpan] = {}
    for event in events:
        span = event.get("span")
        if not span:
            continue
        if event.get("type") == "span.start":
            spans[span] = OpenSpan(span=span, name=str((event.get("data") or {}).get("name", "")),
                                   agent=str(event.get("agent", "")), started_seq=event.get("seq", 0))
        elif event.get("type") == "span.end":
            spans.pop(span, None)
    return list(spans.values())
