"""Gemini CLI under `agitlog run`: its hooks, from a system-defaults settings file for this run only.

Gemini CLI reads ``GEMINI_CLI_SYSTEM_DEFAULTS_PATH`` as its lowest settings layer and concatenates
hook lists across layers, so the user's own hooks and settings keep working and none of their files
is edited. The file is written to a private directory (Gemini CLI refuses settings files under a
directory others can write: ``$XDG_RUNTIME_DIR/agitlog`` or ``~/.cache/agitlog``) and removed after
the run; a defaults file the user pointed at already is merged in. Hooks (Gemini CLI 0.61; JSON on
stdin with ``session_id``, ``transcript_path``, ``hook_event_name``, ``timestamp``):

    SessionStart  agent.session      {agent_session_id, transcript_path, source}
    BeforeAgent   user.prompt        {prompt}
    BeforeModel   llm.request        {model, messages, config}    (the model request as Gemini CLI sees it)
    AfterModel    llm.response       {model, text, usage}
    BeforeTool    tool.call          {tool, arguments}
    AfterTool     tool.result        {tool, ok, result}   after a snapshot: its own step
    AfterAgent    agent.stop         {last_assistant_message}
    SessionEnd    agent.session_end  {reason}
    anything else gemini.<event>     the payload as is

Gemini CLI's hooks name no tool call id, so tool.call/tool.result pair by order. The model traffic
itself does not go through agitlog's proxy (it speaks OpenAI and Anthropic): the hooks are the record.
"""
from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from agitlog.capture.adapters import HookDraft, Prepared, command_hooks

if TYPE_CHECKING:
    from agitlog.capture.lifecycle import LiveSession

NAME = "gemini"
ENV_DEFAULTS = "GEMINI_CLI_SYSTEM_DEFAULTS_PATH"
HOOK_EVENTS = ("SessionStart", "BeforeAgent", "BeforeModel", "AfterModel", "BeforeTool", "AfterTool", "AfterAgent",
               "SessionEnd")
_TOOL_EVENTS = ("BeforeTool", "AfterTool")
_COMMON = ("session_id", "transcript_path", "cwd", "hook_event_name", "timestamp")


class GeminiAdapter:
    name = NAME

    def __init__(self) -> None:
        self.settings_file: Path | None = None
        self.problem: str | None = None

    def prepare(self, command: Sequence[str], *, hook_command: str, env: Mapping[str, str]) -> Prepared:
        directory = private_dir(env)
        if directory is None:
            self.problem = ("no private directory for Gemini CLI's hook settings (it refuses files under "
                            "directories others can write); set XDG_RUNTIME_DIR: only the session is recorded")
            return Prepared(command=list(command))
        settings = _merge(_read(env.get(ENV_DEFAULTS)), hook_settings(hook_command))
        self.settings_file = directory / f"gemini-settings-{os.getpid()}.json"
        fd = os.open(self.settings_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(settings, handle)
        return Prepared(command=list(command), env={ENV_DEFAULTS: str(self.settings_file)})

    def after_run(self, live: LiveSession) -> None:
        from agitlog.capture.adapters import attach_named_transcripts

        if self.problem:
            live.recorder.record({"type": "error", "data": {"error": self.problem}})
        if self.settings_file is not None:
            self.settings_file.unlink(missing_ok=True)
        attach_named_transcripts(live, agent=NAME)


ADAPTER = GeminiAdapter()


def private_dir(env: Mapping[str, str]) -> Path | None:
    """A directory only this user can write, all the way up (what Gemini CLI checks)."""
    home = Path(env.get("HOME") or Path.home())
    candidates = [Path(env["XDG_RUNTIME_DIR"]) / "agitlog"] if env.get("XDG_RUNTIME_DIR") else []
    candidates.append(Path(env.get("XDG_CACHE_HOME") or home / ".cache") / "agitlog")
    for directory in candidates:
        try:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chmod(directory, 0o700)
        except OSError:
            continue
        if all(_private(p) for p in (directory, *directory.parents)):
            return directory
    return None


def _private(path: Path) -> bool:
    info = path.stat()
    return not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and info.st_uid in (0, os.getuid())


def _read(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def hook_settings(hook_command: str) -> dict[str, Any]:
    """Settings that run ``hook_command`` on every hook event agitlog records."""
    return command_hooks(hook_command, events=HOOK_EVENTS, tool_events=_TOOL_EVENTS)


def _merge(user: dict[str, Any], ours: dict[str, Any]) -> dict[str, Any]:
    from agitlog.capture.adapters.claude import merge_hooks

    return merge_hooks(user, ours)


def hook_drafts(payload: Mapping[str, Any], env: Mapping[str, str]) -> list[HookDraft]:
    event = str(payload.get("hook_event_name") or "")
    builder = _BUILDERS.get(event)
    if builder is None:
        kind = "gemini." + (re.sub(r"[^a-z0-9_]", "", re.sub(r"(?<!^)(?=[A-Z])", "_", event).lower()) or "hook")
        return [HookDraft({"type": kind, "data": dict(payload)})]
    kind, data, used = builder(payload)
    extra = {k: v for k, v in payload.items() if k not in used and k not in _COMMON}
    if extra:
        data["extra"] = extra
    return [HookDraft({"type": kind, "data": data}, snapshot=event == "AfterTool")]


def _request(p: Mapping[str, Any]) -> dict[str, Any]:
    request = p.get("llm_request")
    return request if isinstance(request, dict) else {}


def _llm_request(p: Mapping[str, Any]) -> tuple[str, dict[str, Any], set[str]]:
    request = _request(p)
    return "llm.request", {"model": request.get("model"), "messages": request.get("messages"),
                           "config": request.get("config"), "source": "gemini hook"}, {"llm_request"}


def _llm_response(p: Mapping[str, Any]) -> tuple[str, dict[str, Any], set[str]]:
    response = p.get("llm_response") if isinstance(p.get("llm_response"), dict) else {}
    usage = response.get("usageMetadata") if isinstance(response.get("usageMetadata"), dict) else {}
    data = {"model": _request(p).get("model"), "text": response.get("text"),
            "usage": {"input_tokens": usage.get("promptTokenCount"), "output_tokens": usage.get("candidatesTokenCount")},
            "candidates": response.get("candidates"), "source": "gemini hook"}
    return "llm.response", data, {"llm_request", "llm_response"}


_BUILDERS = {
    "SessionStart": lambda p: ("agent.session", {"agent": NAME, "agent_session_id": p.get("session_id"),
                                                 "transcript_path": p.get("transcript_path"),
                                                 "source": p.get("source")}, {"source"}),
    "BeforeAgent": lambda p: ("user.prompt", {"prompt": p.get("prompt"), "agent_session_id": p.get("session_id")},
                              {"prompt"}),
    "BeforeModel": _llm_request,
    "AfterModel": _llm_response,
    "BeforeTool": lambda p: ("tool.call", {"tool": p.get("tool_name"), "arguments": p.get("tool_input")},
                             {"tool_name", "tool_input"}),
    "AfterTool": lambda p: ("tool.result", {"tool": p.get("tool_name"), "ok": True, "result": p.get("tool_response")},
                            {"tool_name", "tool_input", "tool_response"}),
    "AfterAgent": lambda p: ("agent.stop", {"last_assistant_message": p.get("prompt_response")},
                             {"prompt", "prompt_response", "stop_hook_active"}),
    "SessionEnd": lambda p: ("agent.session_end", {"agent_session_id": p.get("session_id"),
                                                   "reason": p.get("reason")}, {"reason"}),
}
