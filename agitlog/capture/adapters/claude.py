"""Claude Code under `agitlog run`: its hooks, passed with ``--settings`` for this run only.

Claude Code merges ``--settings`` (a file or a JSON string) with the user's own settings, so the
user's hooks keep running and no settings file is touched. Every hook runs ``agitlog hook claude``,
which reads the hook's JSON on stdin (fields as of Claude Code 2.1: ``session_id``,
``transcript_path``, ``hook_event_name``, and per event ``prompt``, ``tool_name``, ``tool_input``,
``tool_response``, ``tool_use_id``, ``agent_id``, ``agent_type``, ``reason``) and sends events:

    SessionStart      agent.session     {agent_session_id, transcript_path, source}
    UserPromptSubmit  user.prompt       {prompt, prompt_id}
    PreToolUse        tool.call         {tool, call_id, arguments}
    PostToolUse       tool.result       {tool, call_id, ok, result}   after a snapshot: its own step
    SubagentStart     span.start        {name, agent_id}               (a child span per subagent)
    SubagentStop      span.end          {name, agent_id, transcript_path}
    Stop              agent.stop        {last_assistant_message}
    SessionEnd        agent.session_end {reason}
    anything else     claude.<event>    the payload as is

``call_id`` is Claude's ``tool_use_id``; the recorder adds ``llm_response_seq``, the llm.response that
asked for the call. Fields the table does not name are kept under ``extra``. After the run the
transcripts the hooks named are attached to the session (``agent.transcript`` events).
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from agitlog.capture.adapters import HookDraft, Prepared, command_hooks
from agitlog.constants import ENV_SPAN

TYPE_CHECKING = False  # not typing: the hook process imports this module on every hook
if TYPE_CHECKING:
    from typing import Any

    from agitlog.capture.lifecycle import LiveSession

NAME = "claude"
HOOK_EVENTS = ("SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse", "PostToolUseFailure",
               "SubagentStart", "SubagentStop", "Stop", "SessionEnd")
_TOOL_EVENTS = ("PreToolUse", "PostToolUse", "PostToolUseFailure")
_COMMON = ("session_id", "transcript_path", "cwd", "hook_event_name", "permission_mode", "effort")
SETTINGS_FLAG = "--settings"


class ClaudeAdapter:
    name = NAME

    def prepare(self, command: Sequence[str], *, hook_command: str, env: Mapping[str, str] | None = None
                ) -> Prepared:
        """``claude ARGS`` -> ``claude --settings <ours merged with the user's> ARGS``."""
        args = list(command[1:])
        user_settings, args = _take_settings(args)
        settings = merge_hooks(user_settings, hook_settings(hook_command))
        return Prepared(command=[*_without_faketime_shared(env), command[0], SETTINGS_FLAG, json.dumps(settings), *args])

    def after_run(self, live: LiveSession) -> None:
        attach_transcripts(live)


ADAPTER = ClaudeAdapter()


def _without_faketime_shared(env: Mapping[str, str] | None) -> list[str]:
    """Under libfaketime 0.9.10 (a rerun on a later date), the clock state its first process shares
    with the rest (FAKETIME_SHARED) cannot be opened by Claude Code, a Bun-built binary, which then
    exits at start-up; started without it, Claude Code keeps a clock of its own with the same offset.
    Every other process keeps the shared state: a shell that creates its own loses it to the first
    subshell that exits (0.9.10's forked children clean up their parent's state)."""
    return ["env", "-u", FAKETIME_SHARED] if env is not None and FAKETIME_SHARED in env else []


FAKETIME_SHARED = "FAKETIME_SHARED"


def hook_settings(hook_command: str) -> dict[str, Any]:
    """Settings that run ``hook_command`` on every hook event agitlog records."""
    return command_hooks(hook_command, events=HOOK_EVENTS, tool_events=_TOOL_EVENTS)


def merge_hooks(user: dict[str, Any] | None, ours: dict[str, Any]) -> dict[str, Any]:
    """The user's ``--settings`` with our hook entries appended to theirs, event by event."""
    merged = dict(user or {})
    hooks = dict(merged.get("hooks") or {}) if isinstance(merged.get("hooks"), dict) else {}
    for event, entries in ours["hooks"].items():
        existing = hooks.get(event)
        hooks[event] = (list(existing) if isinstance(existing, list) else []) + entries
    merged["hooks"] = hooks
    return merged


def _take_settings(args: list[str]) -> tuple[dict[str, Any] | None, list[str]]:
    """Remove the user's own ``--settings VALUE`` from argv and return what it held."""
    for i, arg in enumerate(args):
        if arg == "--":
            break
        if arg == SETTINGS_FLAG and i + 1 < len(args):
            return _load_settings(args[i + 1]), args[:i] + args[i + 2:]
        if arg.startswith(SETTINGS_FLAG + "="):
            return _load_settings(arg.partition("=")[2]), args[:i] + args[i + 1:]
    return None, args


def _load_settings(value: str) -> dict[str, Any]:
    from pathlib import Path

    from agitlog.errors import UsageError

    try:
        text = value if value.lstrip().startswith("{") else Path(value).read_text(encoding="utf-8")
        loaded = json.loads(text)
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read claude --settings {value!r}: {exc}") from None
    if not isinstance(loaded, dict):
        raise UsageError(f"claude --settings {value!r} is not a JSON object")
    return loaded


# --- the hook process -----------------------------------------------------------------------------

def hook_drafts(payload: Mapping[str, Any], env: Mapping[str, str]) -> list[HookDraft]:
    """The events one hook invocation records (its JSON payload parsed)."""
    event = str(payload.get("hook_event_name") or "")
    builder = _BUILDERS.get(event)
    if builder is None:
        kind = "claude." + (_snake(event) or "hook")
        return [HookDraft({"type": kind, "data": dict(payload)})]
    kind, data, used = builder(payload)
    extra = {k: v for k, v in payload.items() if k not in used and k not in _COMMON}
    if extra:
        data["extra"] = extra
    draft: dict[str, Any] = {"type": kind, "data": data}
    draft.update(_subagent_span(payload, env))
    return [HookDraft(draft, snapshot=event in ("PostToolUse", "PostToolUseFailure"))]


def _session_start(p: Mapping[str, Any]) -> tuple[str, dict[str, Any], set[str]]:
    return "agent.session", {"agent": NAME, "agent_session_id": p.get("session_id"),
                             "transcript_path": p.get("transcript_path"), "source": p.get("source"),
                             "model": p.get("model")}, {"source", "model"}


def _prompt(p: Mapping[str, Any]) -> tuple[str, dict[str, Any], set[str]]:
    return "user.prompt", {"prompt": p.get("prompt"), "prompt_id": p.get("prompt_id"),
                           "agent_session_id": p.get("session_id")}, {"prompt", "prompt_id"}


def _tool_call(p: Mapping[str, Any]) -> tuple[str, dict[str, Any], set[str]]:
    return "tool.call", {"tool": p.get("tool_name"), "call_id": p.get("tool_use_id"),
                         "arguments": p.get("tool_input")}, {"tool_name", "tool_use_id", "tool_input", "prompt_id"}


def _tool_result(p: Mapping[str, Any]) -> tuple[str, dict[str, Any], set[str]]:
    data = {"tool": p.get("tool_name"), "call_id": p.get("tool_use_id"), "ok": True,
            "result": p.get("tool_response")}
    return "tool.result", data, {"tool_name", "tool_use_id", "tool_input", "tool_response", "prompt_id"}


def _tool_failure(p: Mapping[str, Any]) -> tuple[str, dict[str, Any], set[str]]:
    data = {"tool": p.get("tool_name"), "call_id": p.get("tool_use_id"), "ok": False, "error": p.get("error")}
    return "tool.result", data, {"tool_name", "tool_use_id", "tool_input", "error", "prompt_id"}


def _subagent_start(p: Mapping[str, Any]) -> tuple[str, dict[str, Any], set[str]]:
    return "span.start", {"name": p.get("agent_type") or "subagent", "agent_id": p.get("agent_id")}, \
        {"agent_type", "agent_id"}


def _subagent_stop(p: Mapping[str, Any]) -> tuple[str, dict[str, Any], set[str]]:
    data = {"name": p.get("agent_type") or "subagent", "agent_id": p.get("agent_id"), "ok": True,
            "transcript_path": p.get("agent_transcript_path")}
    return "span.end", data, {"agent_type", "agent_id", "agent_transcript_path", "stop_hook_active"}


def _stop(p: Mapping[str, Any]) -> tuple[str, dict[str, Any], set[str]]:
    return "agent.stop", {"last_assistant_message": p.get("last_assistant_message")}, \
        {"last_assistant_message", "stop_hook_active", "prompt_id"}


def _session_end(p: Mapping[str, Any]) -> tuple[str, dict[str, Any], set[str]]:
    return "agent.session_end", {"agent_session_id": p.get("session_id"), "reason": p.get("reason")}, \
        {"reason", "prompt_id"}


_BUILDERS = {"SessionStart": _session_start, "UserPromptSubmit": _prompt, "PreToolUse": _tool_call,
             "PostToolUse": _tool_result, "PostToolUseFailure": _tool_failure,
             "SubagentStart": _subagent_start, "SubagentStop": _subagent_stop, "Stop": _stop,
             "SessionEnd": _session_end}


def _subagent_span(payload: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """Events from inside a subagent carry its ``agent_id``: they go to a child span of the run's
    root span, derived from the id (hook processes share no state), under agent ``claude/<type>``."""
    agent_id = payload.get("agent_id")
    if not isinstance(agent_id, str) or not agent_id:
        return {}
    import hashlib
    import re

    span = hashlib.sha1(agent_id.encode()).hexdigest()[:16]
    fields: dict[str, Any] = {"span": span, "agent": f"{NAME}/{payload.get('agent_type') or agent_id}"}
    parent = env.get(ENV_SPAN, "")
    if re.fullmatch(r"[0-9a-f]{16}", parent):
        fields["parent_span"] = parent
    return fields


def _snake(name: str) -> str:
    import re

    return re.sub(r"[^a-z0-9_]", "", re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower())


# --- after the run --------------------------------------------------------------------------------

def attach_transcripts(live: LiveSession) -> None:
    from agitlog.capture.adapters import attach_named_transcripts

    attach_named_transcripts(live, agent=NAME)
