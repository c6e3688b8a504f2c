"""Codex CLI rollouts -> sessions (`agitlog import codex`).

Codex writes one rollout per session, ``$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<time>-<id>.jsonl``
(``CODEX_HOME`` defaults to ``~/.codex``); each line is ``{"timestamp", "type", "payload"}``. Read
(as of Codex CLI 0.171.0):

    session_meta                      the session: id, cwd, cli_version -> agent.session
    event_msg item_completed          UserMessage -> user.prompt (with its turn_id)
    response_item message assistant   -> llm.response (text)
    response_item function_call / custom_tool_call                 -> tool.call
    response_item function_call_output / custom_tool_call_output   -> tool.result
    event_msg task_complete           -> agent.stop (turn_id, last message)
    the rest                          bookkeeping (developer messages, token counts, turn context,
                                      ...): kept in the attached rollout; unknown line types become
                                      codex.unknown

Codex changes files through shell commands and code it runs, whose records do not say what they
changed, so imported Codex sessions have no reconstructed steps (step 0 only).
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Mapping

from agitlog import git
from agitlog.capture.importers import Item, Transcript, decode_record, utc_timestamp
from agitlog.errors import AgitlogError

AGENT = "codex"
TESTED_VERSIONS = ("0.171.0",)
_KNOWN_LINES = {"session_meta", "event_msg", "response_item", "world_state", "turn_context", "token_usage_record",
                "compacted"}


def codex_home(env: Mapping[str, str]) -> Path:
    """Where Codex keeps its configuration and rollouts: $CODEX_HOME, else ~/.codex."""
    return Path(env.get("CODEX_HOME") or Path(env.get("HOME") or Path.home()) / ".codex")


def read_transcripts(repo: git.Repo, *, since: datetime | None, home: Path) -> Iterator[Transcript]:
    import os


    root = repo.root.resolve()
    sessions = codex_home({**os.environ, "HOME": str(home)}) / "sessions"
    for path in sorted(sessions.glob("**/rollout-*.jsonl")):
        if since is not None and datetime.fromtimestamp(path.stat().st_mtime, timezone.utc) < since:
            continue
        transcript = read_rollout(path, repo_root=root)
        if transcript is not None:
            yield transcript


def read_rollout(path: Path, *, repo_root: Path) -> Transcript | None:
    """One rollout; None when the session ran outside this repository."""
    data = path.read_bytes()
    cut = data.rfind(b"\n") + 1
    lines = [line for line in data[:cut].splitlines() if line.strip()]
    records = [decode_record(line) for line in lines]
    meta = next((r["payload"] for r in records if r.get("type") == "session_meta"
                 and isinstance(r.get("payload"), dict)), {})
    cwd = meta.get("cwd")
    if not isinstance(cwd, str) or not (Path(cwd) == repo_root or repo_root in Path(cwd).parents):
        if records and not any(r.get("type") in _KNOWN_LINES for r in records):
            _fail(path, records)
        return None
    items = [item for record in records if (item := _item(record)) is not None]
    return Transcript(agent=AGENT, agent_session_id=str(meta.get("id") or path.stem),
                      agent_version=meta.get("cli_version") if isinstance(meta.get("cli_version"), str) else None,
                      paths=[path], lines=len(lines), items=items, partial=bool(data[cut:].strip()),
                      title=next((i.draft["data"]["prompt"][:72] for i in items if i.draft["type"] == "user.prompt"),
                                 None))


def _fail(path: Path, records: list[dict[str, Any]]) -> None:
    version = next((r.get("payload", {}).get("cli_version") for r in records if isinstance(r.get("payload"), dict)
                    and r["payload"].get("cli_version")), None) or "unknown"
    raise AgitlogError(f"cannot read {path}: not a Codex rollout format this agitlog understands "
                       f"(Codex CLI {version}; tested: {', '.join(TESTED_VERSIONS)})",
                       hint="please report it with the Codex CLI version")


def _item(record: dict[str, Any]) -> Item | None:
    kind = record.get("type")
    payload = record.get("payload") if isinstance(record.get("payload"), dict) else {}
    ts = utc_timestamp(record.get("timestamp"))
    if kind == "session_meta":
        return Item(ts, {"type": "agent.session", "data": {
            "agent": AGENT, "agent_session_id": payload.get("id"), "cwd": payload.get("cwd"),
            "agent_version": payload.get("cli_version"), "originator": payload.get("originator")}})
    if kind == "event_msg":
        return _event_msg(payload, ts)
    if kind == "response_item":
        return _response_item(payload, ts)
    if kind in _KNOWN_LINES:
        return None
    return Item(ts, {"type": "codex.unknown", "data": {"record_type": kind, "record": record}})


def _event_msg(payload: dict[str, Any], ts: str) -> Item | None:
    kind = payload.get("type")
    item = payload.get("item") if isinstance(payload.get("item"), dict) else {}
    if kind == "item_completed" and item.get("type") == "UserMessage":
        text = "".join(c.get("text", "") for c in item.get("content") or [] if isinstance(c, dict)
                       and isinstance(c.get("text"), str))
        return Item(ts, {"type": "user.prompt", "data": {"prompt": text, "turn_id": payload.get("turn_id"),
                                                         "agent_session_id": payload.get("thread_id")}})
    if kind == "task_complete":
        return Item(ts, {"type": "agent.stop", "data": {"turn_id": payload.get("turn_id"),
                                                        "last_assistant_message": payload.get("last_agent_message")}})
    return None


def _response_item(payload: dict[str, Any], ts: str) -> Item | None:
    kind = payload.get("type")
    if kind == "message" and payload.get("role") == "assistant":
        text = "".join(c.get("text", "") for c in payload.get("content") or [] if isinstance(c, dict)
                       and isinstance(c.get("text"), str))
        return Item(ts, {"type": "llm.response", "data": {"text": text, "message_id": payload.get("id")}})
    if kind in ("function_call", "custom_tool_call"):
        arguments = payload.get("arguments") if kind == "function_call" else payload.get("input")
        return Item(ts, {"type": "tool.call", "data": {"tool": payload.get("name"), "call_id": payload.get("call_id"),
                                                       "arguments": arguments}})
    if kind in ("function_call_output", "custom_tool_call_output"):
        return Item(ts, {"type": "tool.result", "data": {"call_id": payload.get("call_id"),
                                                         "result": payload.get("output")}})
    return None
