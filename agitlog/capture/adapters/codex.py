"""Codex CLI under `agitlog run`, with no user configuration: ``-c`` overrides for this run only.

- Model traffic: a stock Codex ignores ``OPENAI_BASE_URL``, so the run passes a model provider of
  its own whose ``base_url`` is the recording proxy's (``wire_api = "responses"``, as the stock
  OpenAI provider uses, key from ``OPENAI_API_KEY``). Only when the user authenticates with
  ``OPENAI_API_KEY`` and chose no provider themselves: a ChatGPT sign-in talks to another backend
  with its own tokens, and is left alone (the rollout is still attached).
- Turns: Codex's ``notify`` program (it runs it with one JSON argument after each turn) is
  ``agitlog hook codex``, unless the user configured their own ``notify`` (Codex runs only one):
  ``agent-turn-complete`` records the turn's prompts (``user.prompt``) and ``agent.stop`` after a
  snapshot, so each turn that changed files is its own step.
- After the run the rollout files Codex wrote for this repository during the run
  (``$CODEX_HOME/sessions/**/rollout-*.jsonl``) are attached (``agent.transcript``).

- Tool calls: Codex (0.124 and later; tested 0.171.0) runs ``PreToolUse``/``PostToolUse`` command
  hooks, given here as ``-c hooks.<Event>=[...]`` (the session-flags config layer). Codex runs a
  hook only after the user reviewed and trusted its exact definition in ``/hooks``, except with
  ``--dangerously-bypass-hook-trust``, which trusts every enabled hook for that invocation. So the
  tool hooks and that flag are added only when no one else's hooks could be trusted by it: none in
  ``$CODEX_HOME`` (``hooks.json``, ``[hooks]`` in ``config.toml``, plugins), in the project's
  ``.codex/``, in ``/etc/codex``, or on the command line, and hooks not turned off. Then
  ``PreToolUse`` records ``tool.call`` and ``PostToolUse`` a snapshot and ``tool.result`` (``call_id``
  is Codex's ``tool_use_id``, the model's function ``call_id``): each tool call that changed files
  is its own step. Otherwise the turn's changes become a step at the next model call, as before.
"""
from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from agitlog.capture.adapters import HookDraft, Prepared

if TYPE_CHECKING:
    from agitlog.capture.lifecycle import LiveSession

NAME = "codex"
PROVIDER_ID = "agitlog"
TOOL_HOOK_EVENTS = ("PreToolUse", "PostToolUse")
BYPASS_HOOK_TRUST = "--dangerously-bypass-hook-trust"


class CodexAdapter:
    name = NAME

    def __init__(self) -> None:
        self.rollouts_before: dict[Path, tuple[int, int]] = {}

    def prepare(self, command: Sequence[str], *, hook_command: str, env: Mapping[str, str]) -> Prepared:
        from agitlog.capture.importers.codex import codex_home

        self.rollouts_before = rollout_stamps(codex_home(env))
        overrides: list[str] = []
        user_config = _user_config(env)
        base_url = env.get("OPENAI_BASE_URL")
        if base_url and env.get("OPENAI_API_KEY") and not _chooses_provider(command, user_config):
            provider = {"name": "OpenAI (recorded by agitlog)", "base_url": base_url, "wire_api": "responses",
                        "env_key": "OPENAI_API_KEY"}
            overrides += ["-c", f"model_provider={PROVIDER_ID}", "-c",
                          f"model_providers.{PROVIDER_ID}={_toml_inline(provider)}"]
        if "notify" not in user_config:
            overrides += ["-c", f"notify={json.dumps(shlex.split(hook_command))}"]
        if not _hooks_of_others(command, env, user_config):
            overrides += tool_hook_overrides(hook_command)
        return Prepared(command=[command[0], *overrides, *command[1:]])

    def after_run(self, live: LiveSession) -> None:
        """Attach the rollouts; turns whose notify came too late (Codex does not wait for its notify
        program, so the last turn of `codex exec` often ends with the run) are taken from them."""
        from agitlog.capture.importers.codex import codex_home  # not on the hook's path

        for path in rollouts_written(codex_home(os.environ), before=self.rollouts_before, repo_root=live.agent_root):
            _attach(live, path)
            _record_missed_turns(live, path)


ADAPTER = CodexAdapter()


def _user_config(env: Mapping[str, str]) -> dict[str, Any]:
    import tomllib

    from agitlog.capture.importers.codex import codex_home

    try:
        return tomllib.loads((codex_home(env) / "config.toml").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def tool_hook_overrides(hook_command: str) -> list[str]:
    """``-c`` overrides running ``hook_command`` on every tool call, and the flag that lets Codex run
    them without a review in its TUI (see the module docstring for when this is safe)."""
    entry = f'[{{matcher = "*", hooks = [{{type = "command", command = {json.dumps(hook_command)}}}]}}]'
    return [arg for event in TOOL_HOOK_EVENTS for arg in ("-c", f"hooks.{event}={entry}")] + [BYPASS_HOOK_TRUST]


def _hooks_of_others(command: Sequence[str], env: Mapping[str, str], user_config: Mapping[str, Any]) -> bool:
    """Whether hooks other than ours could run (or hooks are off): then the trust bypass is not ours to give."""
    from agitlog.capture.importers.codex import codex_home

    features = user_config.get("features") if isinstance(user_config.get("features"), dict) else {}
    if features.get("hooks") is False or features.get("codex_hooks") is False or "hooks" in user_config:
        return True
    if any(arg.startswith("hooks") or arg == BYPASS_HOOK_TRUST for arg in command[1:]):  # -c hooks.X=…
        return True
    home = codex_home(env)
    project = Path(env.get("AGITLOG_REPO") or os.getcwd()) / ".codex"
    places = (home / "hooks.json", home / "plugins", project / "hooks.json", Path("/etc/codex"))
    return any(place.exists() for place in places) or _has_hooks_table(project / "config.toml")


def _has_hooks_table(path: Path) -> bool:
    import tomllib

    try:
        return "hooks" in tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False


def _chooses_provider(command: Sequence[str], config: Mapping[str, Any]) -> bool:
    return "model_provider" in config or any("model_provider" in arg for arg in command[1:])


def _toml_inline(table: Mapping[str, str]) -> str:
    return "{" + ", ".join(f"{key} = {json.dumps(value)}" for key, value in table.items()) + "}"


def hook_drafts(payload: Mapping[str, Any], env: Mapping[str, str]) -> list[HookDraft]:
    """Codex's notify payload (``type``: ``agent-turn-complete``, ``input-messages``,
    ``last-assistant-message``, ``turn-id``, ``thread-id``), or a tool hook's (``hook_event_name``,
    ``tool_name``, ``tool_input``, ``tool_response``, ``tool_use_id``, ``turn_id``, ``session_id``)."""
    if payload.get("hook_event_name") in TOOL_HOOK_EVENTS:
        return [_tool_draft(payload)]
    if payload.get("type") != "agent-turn-complete":
        return [HookDraft({"type": "codex.notify", "data": dict(payload)})]
    prompts = payload.get("input-messages")
    drafts = [HookDraft({"type": "user.prompt", "data": {"prompt": text, "turn_id": payload.get("turn-id"),
                                                          "agent_session_id": payload.get("thread-id")}})
              for text in (prompts if isinstance(prompts, list) else []) if isinstance(text, str)]
    drafts.append(HookDraft({"type": "agent.stop", "data": {
        "last_assistant_message": payload.get("last-assistant-message"), "turn_id": payload.get("turn-id"),
        "agent_session_id": payload.get("thread-id")}}, snapshot=True))
    return drafts


def _tool_draft(payload: Mapping[str, Any]) -> HookDraft:
    common = {"tool": payload.get("tool_name"), "call_id": payload.get("tool_use_id"),
              "turn_id": payload.get("turn_id"), "agent_session_id": payload.get("session_id")}
    if payload.get("hook_event_name") == "PreToolUse":
        return HookDraft({"type": "tool.call", "data": {**common, "arguments": payload.get("tool_input")}})
    return HookDraft({"type": "tool.result", "data": {**common, "ok": True, "arguments": payload.get("tool_input"),
                                                      "result": payload.get("tool_response")}}, snapshot=True)


def rollout_stamps(home: Path) -> dict[Path, tuple[int, int]]:
    """Every rollout file under ``home`` with its modification time (ns) and size."""
    stamps = {}
    for path in (home / "sessions").glob("**/rollout-*.jsonl"):
        try:
            info = path.stat()
        except OSError:
            continue
        stamps[path] = (info.st_mtime_ns, info.st_size)
    return stamps


def rollouts_written(home: Path, *, before: Mapping[Path, tuple[int, int]], repo_root: Path) -> list[Path]:
    """Rollout files new or changed since ``before`` whose session ran in this repository. (Not a
    time window: a rerun started within a second of its original would take the original's too.)"""
    return [path for path, stamp in sorted(rollout_stamps(home).items())
            if before.get(path) != stamp and _inside(rollout_cwd(path), repo_root.resolve())]


def rollout_cwd(path: Path) -> Path | None:
    """The working directory in a rollout's first line (``session_meta``)."""
    try:
        with open(path, "rb") as handle:
            first = json.loads(handle.readline() or b"{}")
    except (OSError, ValueError):
        return None
    payload = first.get("payload") if isinstance(first, dict) else None
    cwd = payload.get("cwd") if isinstance(payload, dict) else None
    return Path(cwd) if isinstance(cwd, str) else None


def _inside(path: Path | None, root: Path) -> bool:
    return path is not None and (path == root or root in path.parents)


def _attach(live: LiveSession, path: Path) -> None:
    from agitlog.capture.adapters import attach_file

    attach_file(live, path, agent=NAME)


def _record_missed_turns(live: LiveSession, path: Path) -> None:
    from agitlog.capture.importers.codex import read_rollout
    from agitlog.store.models import parse_events
    from agitlog.store.journal import read_events_tolerant

    complete, _ = read_events_tolerant(live.journal)
    events = list(parse_events(complete, live.id))
    seen = {e["data"].get("turn_id") for e in events if e["type"] == "agent.stop"}
    # As the notify hook would have: from the Codex process, so a turn reads the same in every run
    # (compare orders events per process) whether its notify came in time or not.
    codex = next(({"pid": e["pid"]} for e in reversed(events) if e["type"] == "llm.request" and "pid" in e), {})
    transcript = read_rollout(path, repo_root=live.agent_root.resolve())
    for item in transcript.items if transcript else []:
        data = item.draft["data"]
        if item.draft["type"] in ("user.prompt", "agent.stop") and data.get("turn_id") not in seen:
            live.recorder.record({**item.draft, **codex, "ts": item.ts, "data": {**data, "from_rollout": True}})
