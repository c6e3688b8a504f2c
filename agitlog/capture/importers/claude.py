"""Claude Code transcripts -> sessions (`agitlog import claude`).

Claude Code keeps one JSONL file per session in ``~/.claude/projects/<project>/<session-id>.jsonl``,
``<project>`` being the working directory with every character other than a letter or digit
replaced by ``-``; subagents write ``<session-id>/subagents/agent-<id>.jsonl`` (older versions:
``agent-<id>.jsonl`` next to the session). Lines read (as of Claude Code 2.1.332):

    user       message.content: the prompt (text) or tool_result blocks; toolUseResult: the tool's
               structured result (Write: content; Edit: originalFile, old/new strings)
    assistant  message: one line per content block, grouped by message.id into one llm.response
               (text, tool_calls, usage, model), then one tool.call per tool_use block
    summary    the session's title
    the rest   bookkeeping (queue-operation, attachment, api-request*, cost-state, ...): not events,
               the attached transcript keeps them; a type not known at all becomes claude.unknown

File changes made by Write, Edit and MultiEdit become reconstructed steps; Bash and other tools that
change files cannot be reconstructed (their output does not say what they changed).
"""
from __future__ import annotations

import hashlib
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from agitlog import git
from agitlog.capture.importers import FileChange, Item, Transcript, decode_record, model_turn
from agitlog.errors import AgitlogError

AGENT = "claude"
TESTED_VERSIONS = ("2.1.332",)
_BOOKKEEPING = {"queue-operation", "attachment", "last-prompt", "atis-latch", "api-request-shape",
                "api-request-blob", "api-request", "tools-used", "cost-state", "file-history-snapshot",
                "system", "progress", "custom-title", "tag"}
_FILE_TOOLS = ("Write", "Edit", "MultiEdit")


def projects_dir(home: Path) -> Path:
    return home / ".claude" / "projects"


def project_name(path: Path) -> str:
    """Claude Code's directory name for a working directory."""
    return re.sub(r"[^A-Za-z0-9]", "-", str(path))


def read_transcripts(repo: git.Repo, *, since: datetime | None, home: Path) -> Iterator[Transcript]:
    """Transcripts of sessions whose working directory is this repository (or inside it)."""
    root = projects_dir(home)
    prefix = project_name(repo.root.resolve())
    try:
        dirs = sorted(d for d in root.iterdir() if d.is_dir() and (d.name == prefix or d.name.startswith(prefix + "-")))
    except OSError:
        return
    for directory in dirs:
        for path in sorted(directory.glob("*.jsonl")):
            if path.name.startswith("agent-"):
                continue  # an old-style subagent transcript: read with its session
            if since is not None and datetime.fromtimestamp(path.stat().st_mtime, timezone.utc) < since:
                continue
            transcript = read_transcript(path, repo_root=repo.root.resolve())
            if transcript is not None:
                yield transcript


def read_transcript(path: Path, *, repo_root: Path) -> Transcript | None:
    """One session and its subagents; None when it ran in another directory than this repository."""
    lines, partial = _complete_lines(path)
    records = [decode_record(line) for line in lines]
    cwd = next((r["cwd"] for r in records if isinstance(r.get("cwd"), str)), None)
    if cwd is not None and not _inside(Path(cwd), repo_root):
        return None  # a sibling directory whose name encodes to the same prefix
    _check_understood(path, records)
    session_id = next((r["sessionId"] for r in records if isinstance(r.get("sessionId"), str)), path.stem)
    reader = _Reader(repo_root)
    items = reader.items(records, agent=None)
    paths, count = [path], len(lines)
    for sub in _subagent_files(path, session_id):
        sub_lines, sub_partial = _complete_lines(sub)
        sub_records = [decode_record(line) for line in sub_lines]
        agent_id = next((r["agentId"] for r in sub_records if isinstance(r.get("agentId"), str)), sub.stem)
        items += reader.items(sub_records, agent=agent_id)
        paths.append(sub)
        count += len(sub_lines)
        partial = partial or sub_partial
    return Transcript(agent=AGENT, agent_session_id=session_id, agent_version=_version(records), paths=paths,
                      lines=count, items=items, partial=partial, title=reader.title,
                      branch=next((r["gitBranch"] for r in records if isinstance(r.get("gitBranch"), str)), None))


def _complete_lines(path: Path) -> tuple[list[bytes], bool]:
    """Lines up to the last newline: a transcript being written is read up to its last complete line."""
    data = path.read_bytes()
    cut = data.rfind(b"\n") + 1
    return [line for line in data[:cut].splitlines() if line.strip()], bool(data[cut:].strip())


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _version(records: list[dict[str, Any]]) -> str | None:
    return next((r["version"] for r in records if isinstance(r.get("version"), str)), None)


def _check_understood(path: Path, records: list[dict[str, Any]]) -> None:
    if not records or any(r.get("type") in ("user", "assistant") for r in records):
        return
    if any(isinstance(r.get("type"), str) and r.get("type") in _BOOKKEEPING for r in records):
        return  # a session that never got to a prompt
    version = _version(records) or "unknown"
    raise AgitlogError(
        f"cannot read {path}: not a Claude Code transcript format this agitlog understands "
        f"(written by Claude Code {version}; tested: {', '.join(TESTED_VERSIONS)})",
        hint="please report it with the Claude Code version; other transcripts were not imported")


def _subagent_files(path: Path, session_id: str) -> list[Path]:
    nested = sorted((path.parent / path.stem / "subagents").glob("*.jsonl"))
    legacy = [p for p in sorted(path.parent.glob("agent-*.jsonl")) if _first_session_id(p) == session_id]
    return nested + legacy


def _first_session_id(path: Path) -> str | None:
    try:
        with open(path, "rb") as handle:
            first = decode_record(handle.readline())
    except OSError:
        return None
    value = first.get("sessionId")
    return value if isinstance(value, str) else None


def _ts(value: Any) -> str | None:
    """Claude's "2026-11-30T04:29:40.245Z" in the event schema's form (microseconds)."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc)
    except ValueError:
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class _Reader:
    """Turns transcript records into items; file contents are followed across the session so an Edit
    whose result lacks the original file can still be applied."""

    def __init__(self, repo_root: Path) -> None:
        self.repo_root = repo_root
        self.files: dict[str, bytes] = {}
        self.title: str | None = None
        self._calls: dict[str, dict[str, Any]] = {}

    def items(self, records: list[dict[str, Any]], *, agent: str | None) -> list[Item]:
        items: list[Item] = []
        pending: list[dict[str, Any]] = []  # assistant lines of one model message
        last_ts = next((t for r in records if (t := _ts(r.get("timestamp")))), None) or "1970-01-01T00:00:00.000000Z"
        for record in records:
            ts = _ts(record.get("timestamp")) or last_ts
            last_ts = ts
            message = record.get("message") if isinstance(record.get("message"), dict) else {}
            kind = record.get("type")
            if pending and (kind == "user" or (kind == "assistant" and message.get("id") != pending[0]["message"].get("id"))):
                items += self._response(pending)  # bookkeeping lines between one message's blocks do not split it
                pending = []
            if kind == "assistant":
                pending.append({**record, "message": message, "ts": ts})
            elif kind == "user":
                items += self._user(record, message, ts)
            elif kind == "summary" and isinstance(record.get("summary"), str):
                self.title = self.title or record["summary"]
            elif kind not in _BOOKKEEPING:
                items.append(Item(ts, {"type": "claude.unknown", "data": {"record_type": kind, "record": record}}))
        if pending:
            items += self._response(pending)
        if agent is not None:
            span = hashlib.sha1(agent.encode()).hexdigest()[:16]
            for item in items:
                item.draft.update(agent=f"{AGENT}/{agent}", span=span)
        return items

    def _user(self, record: dict[str, Any], message: dict[str, Any], ts: str) -> list[Item]:
        content = message.get("content")
        if isinstance(content, str):
            return [self._prompt(content, record, ts)]
        items = []
        for block in content if isinstance(content, list) else []:
            if not isinstance(block, dict):
                continue
            if block.get("type") == "tool_result":
                items.append(self._tool_result(block, record, ts))
            elif block.get("type") == "text" and isinstance(block.get("text"), str):
                items.append(self._prompt(block["text"], record, ts))
        return items

    def _prompt(self, text: str, record: dict[str, Any], ts: str) -> Item:
        if record.get("isMeta"):
            return Item(ts, {"type": "claude.meta", "data": {"text": text}})
        self.title = self.title or " ".join(text.split())[:72]
        return Item(ts, {"type": "user.prompt", "data": {"prompt": text, "prompt_id": record.get("promptId"),
                                                           "agent_session_id": record.get("sessionId")}})

    def _response(self, lines: list[dict[str, Any]]) -> list[Item]:
        first = lines[0]["message"]
        blocks = [b for line in lines for b in (line["message"].get("content") or []) if isinstance(b, dict)]
        calls = [b for b in blocks if b.get("type") == "tool_use" and isinstance(b.get("id"), str)]
        text = "".join(b.get("text", "") for b in blocks if b.get("type") == "text" and isinstance(b.get("text"), str))
        usage = lines[-1]["message"].get("usage")
        data = {"model": first.get("model"), "text": text, "message_id": first.get("id"),
                "finish_reason": lines[-1]["message"].get("stop_reason"),
                "usage": usage if isinstance(usage, dict) else {}}
        self._calls.update((call["id"], call) for call in calls)
        return model_turn(lines[0]["ts"], data, calls, arguments="input")

    def _tool_result(self, block: dict[str, Any], record: dict[str, Any], ts: str) -> Item:
        call_id = block.get("tool_use_id")
        call = self._calls.get(str(call_id), {})
        ok = not block.get("is_error")
        data = {"tool": call.get("name"), "call_id": call_id, "ok": ok, "result": block.get("content")}
        item = Item(ts, {"type": "tool.result", "data": data})
        if ok and call.get("name") in _FILE_TOOLS:
            change = self._file_change(call, record.get("toolUseResult"))
            if change is None:
                data["reconstructed"] = False
            elif change.path:
                item.changes.append(change)
        return item

    def _file_change(self, call: dict[str, Any], result: Any) -> FileChange | None:
        """The file's content after a Write/Edit/MultiEdit; None when it cannot be worked out;
        a change with an empty path for a file outside the repository."""
        args = call.get("input") if isinstance(call.get("input"), dict) else {}
        target = args.get("file_path")
        if not isinstance(target, str):
            return None
        path = Path(target)
        if not _inside(path, self.repo_root):
            return FileChange("", None)
        relative = path.relative_to(self.repo_root).as_posix()
        if call.get("name") == "Write":
            content = args.get("content")
            new = content.encode() if isinstance(content, str) else None
        else:
            new = self._edited(relative, args, result)
        if new is None:
            return None
        self.files[relative] = new
        return FileChange(relative, new)

    def _edited(self, relative: str, args: dict[str, Any], result: Any) -> bytes | None:
        original = result.get("originalFile") if isinstance(result, dict) else None
        text = original if isinstance(original, str) else (self.files[relative].decode("utf-8", "surrogateescape")
                                                             if relative in self.files else None)
        if text is None:
            return None
        edits = args.get("edits") if isinstance(args.get("edits"), list) else [args]
        for edit in edits:
            old, new = (edit.get("old_string"), edit.get("new_string")) if isinstance(edit, dict) else (None, None)
            if not isinstance(old, str) or not isinstance(new, str) or old not in text:
                return None
            text = text.replace(old, new) if edit.get("replace_all") else text.replace(old, new, 1)
        return text.encode("utf-8", "surrogateescape")
