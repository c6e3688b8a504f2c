"""Agent adapters: what `agitlog run` adds when the command it starts is a known coding agent
(docs/agents.md).

An adapter turns the agent's own extension points (hooks, provider settings) on for this run only,
by changing the child's argv and environment; it never edits the user's settings files. It is chosen
by the basename of the command (``claude``, ``codex``, ``gemini``, ``aider``) or by
``agitlog run --adapter NAME`` (``none`` turns it off). The hook processes the agent starts call
``agitlog hook AGENT EVENT``, which turns the agent's hook payload into wire-protocol events
(``hook_drafts``) and sends them to the recorder.
"""
from __future__ import annotations

import importlib
import os
from collections.abc import Mapping, Sequence

from agitlog.errors import UsageError

TYPE_CHECKING = False  # not typing: the hook process imports this module on every hook
if TYPE_CHECKING:
    from typing import Any, Protocol

    from agitlog.capture.lifecycle import LiveSession

    class Adapter(Protocol):
        name: str

        def prepare(self, command: Sequence[str], *, hook_command: str, env: Mapping[str, str]) -> Prepared:
            """argv and extra environment for the child; ``env`` is the child's environment so far."""

        def after_run(self, live: LiveSession) -> None:
            """Attach what the agent wrote, record what its hooks could not."""

ADAPTER_NONE = "none"
KNOWN = ("claude", "codex", "gemini", "aider")


# Plain classes, not dataclasses: the hook process imports this module on every hook, and dataclasses
# (through inspect) would be most of its start-up time.
class Prepared:
    """How the child is started under an adapter."""

    __slots__ = ("command", "env")

    def __init__(self, command: list[str], env: dict[str, str] | None = None) -> None:
        self.command = command
        self.env = env or {}


class HookDraft:
    """One event for the recorder; ``snapshot`` asks for a step commit first."""

    __slots__ = ("draft", "snapshot")

    def __init__(self, draft: dict[str, Any], snapshot: bool = False) -> None:
        self.draft = draft
        self.snapshot = snapshot


def choose_adapter(command: Sequence[str], requested: str | None) -> Adapter | None:
    """The adapter for ``command``: the one asked for, else the one its program name matches."""
    if requested == ADAPTER_NONE:
        return None
    name = requested or (os.path.basename(command[0]) if command else None)
    if name not in KNOWN:
        if requested:
            raise UsageError(f"unknown adapter: {requested}", hint=f"choose one of {', '.join(KNOWN)} or none")
        return None
    return load(name).ADAPTER


def load(name: str) -> Any:
    """The adapter module for an agent name (only known names are ever imported)."""
    if name not in KNOWN:
        raise UsageError(f"unknown agent: {name}", hint=f"choose one of {', '.join(KNOWN)}")
    return importlib.import_module(f"agitlog.capture.adapters.{name}")


def attach_named_transcripts(live: LiveSession, *, agent: str) -> None:
    """Attach each transcript the agent's hooks named (``transcript_path`` of agent.session and
    span.end events) as it is now, as ``agent.transcript`` events."""
    from pathlib import Path

    from agitlog.store.models import parse_events
    from agitlog.store.journal import read_events_tolerant

    complete, _ = read_events_tolerant(live.journal)
    paths: dict[str, str | None] = {}
    for event in parse_events(complete, live.id):
        data = event.get("data") or {}
        path = data.get("transcript_path")
        if event.get("type") in ("agent.session", "span.end") and isinstance(path, str):
            paths.setdefault(path, data.get("agent_id"))
    for path, agent_id in paths.items():
        attach_file(live, Path(path), agent=agent, agent_id=agent_id)


def attach_file(live: LiveSession, path: Any, *, agent: str, agent_id: str | None = None) -> None:
    """Keep an agent's file (transcript, rollout) with the session, redacted, as an attachment."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        live.recorder.record({"type": "error", "data": {"error": f"cannot read {agent} transcript {path}: {exc}"}})
        return
    text = live.recorder.redactor.redact_text(raw.decode("utf-8", "surrogateescape"))
    ref = live.recorder.attach(text.encode("utf-8", "surrogateescape"))
    live.recorder.record({"type": "agent.transcript", "data": {
        "agent": agent, "path": os.fspath(path), "agent_id": agent_id, "lines": raw.count(b"\n"), "body_ref": ref}})


def command_hooks(hook_command: str, *, events: Sequence[str], tool_events: Sequence[str]) -> dict[str, Any]:
    """``{"hooks": ...}`` settings that run ``hook_command`` on each of ``events`` (tool events with a
    match-everything matcher): the shape Claude Code and Gemini CLI both read."""
    hooks: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        entry: dict[str, Any] = {"hooks": [{"type": "command", "command": hook_command}]}
        if event in tool_events:
            entry["matcher"] = "*"
        hooks[event] = [entry]
    return {"hooks": hooks}
