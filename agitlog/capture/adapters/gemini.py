"""Gemini CLI under `agitlog run`: its model traffic through the recording proxy, its hooks from a
system-defaults settings file, and agitlog's commit hook for its git, all for this run only.

Model traffic: ``GOOGLE_GEMINI_BASE_URL`` points at the proxy's ``/gemini`` route (upstream: what the
user had there, else the Gemini API), so each ``generateContent`` call is an ``llm.request`` /
``llm.response`` with the exact bytes, which is what lets `agitlog rerun` serve Gemini's answers
offline (docs/agents.md says why BeforeModel's synthetic answers cannot: in 0.61 they carry text
only, no function calls, and never enter the chat history). A Google sign-in or Vertex AI talks to
other endpoints: then the hooks' model events below are the only record of the model calls.

Hooks: Gemini CLI reads ``GEMINI_CLI_SYSTEM_DEFAULTS_PATH`` as its lowest settings layer and
concatenates hook lists across layers, so the user's own hooks and settings keep working and none of
their files is edited. The file is written to a private directory (Gemini CLI refuses settings files
under a directory others can write: ``$XDG_RUNTIME_DIR/agitlog`` or ``~/.cache/agitlog``) and removed
after the run; a defaults file the user pointed at already is merged in. Hooks (Gemini CLI 0.61; JSON
on stdin with ``session_id``, ``transcript_path``, ``hook_event_name``, ``timestamp``):

    SessionStart  agent.session      {agent_session_id, transcript_path, source}
    BeforeAgent   user.prompt        {prompt}
    BeforeModel   gemini.before_model {model, messages, config}  (Gemini's text-only view of the request;
                  llm.request when the traffic does not cross the proxy)
    AfterModel    gemini.after_model  {model, text, usage}  (llm.response when not through the proxy)
    BeforeTool    tool.call          {tool, arguments}
    AfterTool     tool.result        {tool, ok, result}   after a snapshot: its own step
    AfterAgent    agent.stop         {last_assistant_message}
    SessionEnd    agent.session_end  {reason}
    anything else gemini.<event>     the payload as is

Gemini CLI's hooks name no tool call id, so tool.call/tool.result pair by order.

Commits: Gemini CLI runs every shell command with ``core.hooksPath=""`` appended to
``GIT_CONFIG_COUNT`` (and its checkpoint shadow repository with a clean git environment), so no git
hook runs for the agent's ``git commit``. When agitlog's prepare-commit-msg hook is installed in the
repository, the run adds ``core.hooksPath`` pointing at a directory (under ``.git/agitlog``) that holds
that one hook, through ``GIT_CONFIG_PARAMETERS`` (which git reads after ``GIT_CONFIG_COUNT``, and which Gemini CLI
passes on to shell commands): the agent's commits get their ``Agent-Session:`` trailer, and no other
hook of the repository runs, as Gemini CLI intends.
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
ENV_BASE_URL = "GOOGLE_GEMINI_BASE_URL"
ENV_VIA_PROXY = "AGITLOG_GEMINI_VIA_PROXY"  # "1": the proxy records the model calls, the hooks only Gemini's view
ENV_GIT_CONFIG = "GIT_CONFIG_PARAMETERS"
COMMIT_HOOK = "prepare-commit-msg"
HOOK_EVENTS = ("SessionStart", "BeforeAgent", "BeforeModel", "AfterModel", "BeforeTool", "AfterTool", "AfterAgent",
               "SessionEnd")
_TOOL_EVENTS = ("BeforeTool", "AfterTool")
_COMMON = ("session_id", "transcript_path", "cwd", "hook_event_name", "timestamp")


class GeminiAdapter:
    name = NAME

    def __init__(self) -> None:
        self.settings_file: Path | None = None
        self.git_hooks: Path | None = None
        self.problem: str | None = None

    def prepare(self, command: Sequence[str], *, hook_command: str, env: Mapping[str, str]) -> Prepared:
        from agitlog.capture.llm.proxy import PROXY_ENV

        self.settings_file = self.git_hooks = None
        self.problem = None
        extra = {ENV_BASE_URL: f"{env[PROXY_ENV]}/{NAME}", ENV_VIA_PROXY: "1"} if env.get(PROXY_ENV) else {}
        self.git_hooks = commit_hook_dir(env)
        if self.git_hooks is not None:
            extra[ENV_GIT_CONFIG] = with_git_config(env.get(ENV_GIT_CONFIG), "core.hooksPath", str(self.git_hooks))
        directory = private_dir(env)
        if directory is None:
            self.problem = ("no private directory for Gemini CLI's hook settings (it refuses files under "
                            "directories others can write); set XDG_RUNTIME_DIR: no prompts or per-tool steps, only "
                            "the model calls and the session are recorded")
            return Prepared(command=list(command), env=extra)
        settings = _merge(_read(env.get(ENV_DEFAULTS)), hook_settings(hook_command))
        self.settings_file = directory / f"gemini-settings-{os.getpid()}.json"
        fd = os.open(self.settings_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(settings, handle)
        extra[ENV_DEFAULTS] = str(self.settings_file)
        return Prepared(command=list(command), env=extra)

    def after_run(self, live: LiveSession) -> None:
        import shutil

        from agitlog.capture.adapters import attach_named_transcripts

        if self.problem:
            live.recorder.record({"type": "error", "data": {"error": self.problem}})
        if self.settings_file is not None:
            self.settings_file.unlink(missing_ok=True)
        if self.git_hooks is not None:
            shutil.rmtree(self.git_hooks, ignore_errors=True)
        _note_unproxied_model_calls(live)
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


def _note_unproxied_model_calls(live: LiveSession) -> None:
    """Say so when Gemini CLI's model calls went around the proxy (a Google sign-in or Vertex AI):
    the hooks' text-only view is then all there is, and `agitlog rerun` cannot serve the answers."""
    from agitlog.store.journal import read_events_tolerant
    from agitlog.store.models import parse_events

    complete, _ = read_events_tolerant(live.journal)
    kinds = {event.get("type") for event in parse_events(complete, live.id)}
    if "gemini.after_model" in kinds and "llm.response" not in kinds:
        live.recorder.record({"type": "error", "data": {"error": (
            "Gemini CLI's model calls did not go through agitlog's proxy (it honours GOOGLE_GEMINI_BASE_URL "
            "only with a Gemini API key): they are recorded from its hooks as gemini.after_model events, "
            "text only, and `agitlog rerun` cannot answer them offline")}})


def commit_hook_dir(env: Mapping[str, str]) -> Path | None:
    """A hooks directory (in the repository's private agitlog directory) holding only agitlog's
    prepare-commit-msg as installed in the recorded repository; None when it is not installed
    there: the agent's commits are then like the user's, without a trailer."""
    from agitlog import git
    from agitlog.constants import ENV_REPO, HOOK_MARKER
    from agitlog.errors import AgitlogError

    root = env.get(ENV_REPO)
    if not root:
        return None
    try:
        repo = git.find_repo(Path(root))
        script = (git.hooks_dir(repo) / COMMIT_HOOK).read_bytes()
    except (OSError, AgitlogError):
        return None
    if HOOK_MARKER.encode() not in script[:400]:
        return None  # someone else's hook: Gemini CLI turned hooks off, and only ours is turned back on
    directory = repo.state_dir / f"gemini-git-hooks-{os.getpid()}"
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    # The copy finds no "$0.agitlog-legacy" next to it: a hook agitlog's install kept stays off too.
    target = directory / COMMIT_HOOK
    target.write_bytes(script)
    target.chmod(0o700)
    return directory


def with_git_config(existing: str | None, key: str, value: str) -> str:
    """``GIT_CONFIG_PARAMETERS`` (what ``git -c`` sets) with ``key=value`` added after what was there."""
    def quote(text: str) -> str:
        return "'" + text.replace("'", "'\\''") + "'"

    entry = f"{quote(key)}={quote(value)}"
    return f"{existing} {entry}" if existing else entry


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
        return [HookDraft({"type": _own_kind(event), "data": dict(payload)})]
    kind, data, used = builder(payload)
    if kind.startswith("llm.") and env.get(ENV_VIA_PROXY) == "1":
        kind = _own_kind(event)  # the proxy's llm.* events hold the exact call; this is Gemini's text-only view
    extra = {k: v for k, v in payload.items() if k not in used and k not in _COMMON}
    if extra:
        data["extra"] = extra
    return [HookDraft({"type": kind, "data": data}, snapshot=event == "AfterTool")]


def _own_kind(event: str) -> str:
    """``gemini.before_model`` for ``BeforeModel``: a hook event under Gemini CLI's own name."""
    return "gemini." + (re.sub(r"[^a-z0-9_]", "", re.sub(r"(?<!^)(?=[A-Z])", "_", event).lower()) or "hook")


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
