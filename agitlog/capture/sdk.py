"""The Python SDK: ``import agitlog`` and record prompts, responses, tool calls, decisions and state.

Under ``agitlog run`` every call records into the session; outside one, every call is a no-op that
costs next to nothing, unless the program opens ``with agitlog.session(): ...`` itself.

Tool calls and decisions are synchronous: the recorder snapshots the worktree before a tool starts,
after it returns, and when a decision is recorded, so each points at the step commit it produced.
"""
from __future__ import annotations

import contextvars
import functools
import os
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, TypeVar

from agitlog.capture.connection import CLIENT, process_draft
from agitlog.constants import ENV_AGENT, ENV_DECISION, ENV_REPLAY_TOOLS, ENV_SPAN, ENV_TRACEPARENT
from agitlog.store.events import new_span_id

F = TypeVar("F", bound=Callable[..., Any])

_span: contextvars.ContextVar[tuple[str, str | None, str] | None] = contextvars.ContextVar("agitlog_span", default=None)
_decision: contextvars.ContextVar[str | None] = contextvars.ContextVar("agitlog_decision", default=None)


def enabled() -> bool:
    """True when this process records into a session."""
    return CLIENT.enabled


def _current() -> tuple[str | None, str | None, str | None]:
    """(span, parent_span, agent) for the next event."""
    current = _span.get()
    if current is not None:
        return current
    # Outside any SDK span, events belong to the span this process was started in.
    return os.environ.get(ENV_SPAN) or None, None, os.environ.get(ENV_AGENT) or None


def _current_decision() -> str | None:
    """The id of the decision whose scope this code runs in (``with agitlog.decision``), if any."""
    return _decision.get() or os.environ.get(ENV_DECISION) or None


def _draft(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    span, parent, agent = _current()
    return process_draft(kind, data, span=span, parent_span=parent, agent=agent, decision=_current_decision())


def emit(kind: str, data: dict[str, Any] | None = None, *, snapshot: bool = False) -> dict[str, Any] | None:
    """Record an event of any type; with ``snapshot`` wait for a step snapshot and return the reply."""
    if not CLIENT.enabled:
        return None
    draft = _draft(kind, dict(data or {}))
    if snapshot:
        draft["snapshot"] = True
    return CLIENT.send(draft, wait=snapshot)


def _clean(extra: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in extra.items() if v is not None}


def prompt(content: Any = None, *, model: str | None = None, messages: list[Any] | None = None,
           system: str | None = None, tools: list[Any] | None = None, **extra: Any) -> None:
    """A prompt exactly as sent to a model (``llm.request``)."""
    if CLIENT.enabled:
        emit("llm.request", _clean({"model": model, "prompt": content, "messages": messages, "system": system,
                                    "tools": tools, **extra}))


def response(content: Any = None, *, model: str | None = None, input_tokens: int | None = None,
             output_tokens: int | None = None, finish_reason: str | None = None,
             tool_calls: list[Any] | None = None, **extra: Any) -> None:
    """A model's answer (``llm.response``); token counts use the OpenTelemetry GenAI names."""
    if CLIENT.enabled:
        usage = _clean({"input_tokens": input_tokens, "output_tokens": output_tokens,
                        **{k: extra.pop(k) for k in list(extra) if k.endswith("_tokens")}})
        emit("llm.response", _clean({"model": model, "text": content, "finish_reason": finish_reason,
                                     "tool_calls": tool_calls, "usage": usage or None, **extra}))


class decision:  # noqa: N801 - used as agitlog.decision(...), like a function
    """A decision and why it was taken (see "Which decision made a change" in docs/events.md).

    Called plainly, after acting, ``agitlog.decision("retry", reasoning="timeout")`` records it with
    a snapshot: the changes made since the previous snapshot are this decision's. As a context
    manager, before acting, ``with agitlog.decision("retry", reasoning="timeout"):`` scopes them:
    everything changed inside the block (its tool calls, the processes it starts) is this decision's,
    and a ``decision.end`` event snapshots the worktree when the block ends. Either way the decision
    event is recorded at once, with a snapshot of what changed before it."""

    def __init__(self, choice: str, *, reasoning: str | None = None, alternatives: list[Any] | None = None,
                 **extra: Any) -> None:
        self.id = new_span_id()
        self.choice = choice
        outer = _current_decision()
        data = _clean({"decision": choice, "reasoning": reasoning, "alternatives": alternatives,
                       "decision_id": self.id, "parent_decision_id": outer, **extra})
        self.reply = emit("decision", data, snapshot=True)  # the recorder's answer: seq, step, commit
        self._token: contextvars.Token[str | None] | None = None
        self._saved_env: dict[str, str | None] = {}

    def __enter__(self) -> decision:
        self._token = _decision.set(self.id)
        self._saved_env = {ENV_DECISION: os.environ.get(ENV_DECISION)}
        if CLIENT.enabled:
            os.environ[ENV_DECISION] = self.id  # processes started inside the scope inherit it
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, _tb: Any) -> None:
        if self._token is not None:
            _decision.reset(self._token)
        _restore_env(self._saved_env)
        data: dict[str, Any] = {"decision_id": self.id, "decision": self.choice, "ok": exc is None}
        if exc is not None:
            data["error"] = f"{type(exc).__name__}: {exc}"
        emit("decision.end", data, snapshot=True)


def state(value: Any, **extra: Any) -> None:
    """The agent's own state, for time travel (merged by ``agitlog state``)."""
    if CLIENT.enabled:
        emit("state", {"state": value, **extra})


def log(message: str, *, level: str = "info", **extra: Any) -> None:
    if CLIENT.enabled:
        emit("log", {"message": message, "level": level, **extra})


def error(message: Any, **extra: Any) -> None:
    """An error the agent saw; an exception is recorded with its type and traceback."""
    if not CLIENT.enabled:
        return
    if isinstance(message, BaseException):
        extra.setdefault("exception", type(message).__name__)
        extra.setdefault("traceback", "".join(traceback.format_exception(message)))
        message = str(message)
    emit("error", {"error": str(message), **extra})


@dataclass
class ToolCall:
    """The handle ``with agitlog.tool(...) as call`` gives: set ``call.result`` before the block ends.
    In ``agitlog rerun --replay-tools``, ``call.recorded`` holds the original run's result data (the
    block still runs: check ``call.recorded`` to skip side effects); decorated functions are not
    called at all."""

    name: str
    arguments: dict[str, Any]
    result: Any = None
    started: float = field(default_factory=time.perf_counter)
    call_id: str = field(default_factory=new_span_id)
    recorded: dict[str, Any] | None = None


class ReplayedToolError(Exception):
    """Raised by a replayed tool whose recorded call raised: ``exception`` names the original type."""

    def __init__(self, exception: str, message: str) -> None:
        super().__init__(f"{exception}: {message}")
        self.exception = exception


class tool:  # noqa: N801 - used as agitlog.tool(...), like a function
    """Record a tool call: ``with agitlog.tool("send_email", to=x) as call: call.result = ...``, or as
    a decorator, ``@agitlog.tool`` / ``@agitlog.tool("name")``. Records the arguments, the result or
    the exception, and the duration, with worktree snapshots before and after."""

    def __init__(self, name: str | Callable[..., Any], /, **arguments: Any) -> None:
        self._func: Callable[..., Any] | None = None
        if callable(name):
            self._func = name
            name = getattr(name, "__name__", "tool")
            functools.update_wrapper(self, self._func)
        self.name = name
        self.arguments = arguments
        self._call: ToolCall | None = None

    def __enter__(self) -> ToolCall:
        self._call = ToolCall(self.name, self.arguments)
        data = {"tool": self.name, "call_id": self._call.call_id, "arguments": self.arguments}
        if CLIENT.enabled and os.environ.get(ENV_REPLAY_TOOLS) == "1":
            draft = _draft("tool.call", data)
            reply = CLIENT.send({**draft, "snapshot": True, "replay": True}, wait=True) or {}
            self._call.recorded = reply.get("replay")
        else:
            emit("tool.call", data, snapshot=True)
        return self._call

    def __exit__(self, exc_type: Any, exc: BaseException | None, _tb: Any) -> None:
        call = self._call
        assert call is not None
        data: dict[str, Any] = {"tool": self.name, "call_id": call.call_id,
                                "duration_ms": round((time.perf_counter() - call.started) * 1000, 3)}
        if exc is not None:
            data.update(ok=False, exception=getattr(exc, "exception", type(exc).__name__), error=str(exc))
        else:
            data.update(ok=True, result=call.result)
        if call.recorded is not None:
            data["replayed"] = True
        emit("tool.result", data, snapshot=True)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._func is None:  # @agitlog.tool("name") -> decorate the function it is applied to
            func = args[0]
            wrapped = tool(func)
            wrapped.name = self.name
            return wrapped
        if not CLIENT.enabled:
            return self._func(*args, **kwargs)
        with tool(self.name, **_call_arguments(self._func, args, kwargs)) as call:
            if call.recorded is not None:  # rerun --replay-tools: the recorded outcome, no side effects
                if not call.recorded.get("ok", True):
                    raise ReplayedToolError(str(call.recorded.get("exception")), str(call.recorded.get("error")))
                call.result = call.recorded.get("result")
            else:
                call.result = self._func(*args, **kwargs)
            return call.result


def _call_arguments(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    import inspect

    try:
        bound = inspect.signature(func).bind(*args, **kwargs)
    except (TypeError, ValueError):
        return {"args": list(args), **kwargs}
    return dict(bound.arguments)


@contextmanager
def span(name: str, *, agent: str | None = None, **attributes: Any) -> Iterator[str]:
    """A nested span (a sub-task, or another agent): events inside carry its id and agent name, and
    so do processes started inside it."""
    parent, _, parent_agent = _current()
    span_id = new_span_id()
    agent_name = agent or parent_agent or os.environ.get(ENV_AGENT) or None
    token = _span.set((span_id, parent, agent_name))
    saved_env = _export_span(span_id, agent_name)
    emit("span.start", {"name": name, **attributes})
    try:
        yield span_id
    except BaseException as exc:
        emit("span.end", {"name": name, "ok": False, "error": f"{type(exc).__name__}: {exc}"})
        raise
    else:
        emit("span.end", {"name": name, "ok": True})
    finally:
        _span.reset(token)
        _restore_env(saved_env)


def _export_span(span_id: str, agent: str | None) -> dict[str, str | None]:
    """Processes started inside the span inherit it through the environment."""
    keys = (ENV_SPAN, ENV_AGENT, ENV_TRACEPARENT)
    saved = {key: os.environ.get(key) for key in keys}
    if not CLIENT.enabled:
        return saved
    os.environ[ENV_SPAN] = span_id
    if agent:
        os.environ[ENV_AGENT] = agent
    trace = (os.environ.get(ENV_TRACEPARENT) or "").split("-")
    if len(trace) == 4:
        os.environ[ENV_TRACEPARENT] = f"{trace[0]}-{trace[1]}-{span_id}-{trace[3]}"
    return saved


def _restore_env(saved: dict[str, str | None]) -> None:
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@contextmanager
def session(name: str | None = None, *, agent: str | None = None, repo: str | os.PathLike[str] | None = None
            ) -> Iterator[str]:
    """Record this program as a session of the repository around ``repo`` (default: the current
    directory), exactly as ``agitlog run`` would; yields the session id. Inside ``agitlog run`` it
    opens a span instead, since the process already records."""
    if CLIENT.enabled:
        with span(name or "session", agent=agent) as span_id:
            yield span_id
        return
    from agitlog.capture.inprocess import recorded_session

    with recorded_session(name=name, agent=agent, repo=repo) as session_id:
        yield session_id
