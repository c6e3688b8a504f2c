"""Gemini CLI chats -> sessions (`agitlog import gemini`).

Gemini CLI keeps each session in ``~/.gemini/tmp/<project>/chats/session-*.jsonl``; ``<project>``
is named in ``~/.gemini/projects.json`` (working directory -> name), and the first line's
``projectHash`` is the SHA-256 of the working directory. Lines (as of Gemini CLI 0.61.0): a header
(``sessionId``, ``startTime``), messages ``{"id", "timestamp", "type", "content"}`` (a message is
written again, complete, when its tool calls are known: the last copy of an id wins), and
``{"$set": ...}`` bookkeeping. Which project directories belong to this repository is read from
``projects.json`` (every working directory inside the repository).

    user     text -> user.prompt; functionResponse parts -> tool.result
    gemini   -> llm.response (content, tokens, model), then tool.call per toolCalls entry

``write_file`` and ``replace`` become reconstructed steps (a ``replace`` of a file the session did
not write first cannot be: the chat does not hold the file's earlier content).
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from agitlog import git
from agitlog.capture.importers import FileChange, Item, Transcript, model_turn, utc_timestamp
from agitlog.errors import AgitlogError

AGENT = "gemini"
TESTED_VERSIONS = ("0.61.0",)


def read_transcripts(repo: git.Repo, *, since: datetime | None, home: Path) -> Iterator[Transcript]:
    root = repo.root.resolve()
    for directory in _project_dirs(home, root):
        for path in sorted((directory / "chats").glob("session-*.jsonl")):
            if since is not None and datetime.fromtimestamp(path.stat().st_mtime, timezone.utc) < since:
                continue
            transcript = read_chat(path, repo_root=root)
            if transcript is not None:
                yield transcript


def _project_dirs(home: Path, root: Path) -> list[Path]:
    base = home / ".gemini" / "tmp"
    try:
        names = json.loads((home / ".gemini" / "projects.json").read_text(encoding="utf-8")).get("projects", {})
    except (OSError, ValueError, AttributeError):
        names = {}
    wanted = {name for cwd, name in names.items() if isinstance(name, str) and _inside(Path(cwd), root)}
    return [base / name for name in sorted(wanted) if (base / name).is_dir()]


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def read_chat(path: Path, *, repo_root: Path) -> Transcript | None:
    data = path.read_bytes()
    cut = data.rfind(b"\n") + 1
    lines = [line for line in data[:cut].splitlines() if line.strip()]
    records = [_decode(line) for line in lines]
    header = records[0] if records else {}
    if records and not isinstance(header.get("sessionId"), str):
        raise AgitlogError(f"cannot read {path}: not a Gemini CLI chat format this agitlog understands "
                           f"(tested: Gemini CLI {', '.join(TESTED_VERSIONS)})",
                           hint="please report it with the Gemini CLI version")
    messages: dict[str, dict[str, Any]] = {}
    for record in records[1:]:
        if isinstance(record.get("id"), str) and record.get("type") in ("user", "gemini"):
            messages[record["id"]] = record  # the last copy of a message is the complete one
    reader = _Reader(repo_root)
    items = [item for message in messages.values() for item in reader.items(message)]
    return Transcript(agent=AGENT, agent_session_id=header.get("sessionId") or path.stem, agent_version=None,
                      paths=[path], lines=len(lines), items=items, partial=bool(data[cut:].strip()),
                      title=next((i.draft["data"]["prompt"][:72] for i in items if i.draft["type"] == "user.prompt"),
                                 None))


def _decode(line: bytes) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


class _Reader:
    def __init__(self, repo_root: Path) -> None:
        self.repo_root = repo_root
        self.files: dict[str, str] = {}
        self.calls: dict[str, dict[str, Any]] = {}

    def items(self, message: dict[str, Any]) -> list[Item]:
        ts = utc_timestamp(message.get("timestamp"))
        content = message.get("content")
        if message.get("type") == "gemini":
            return self._response(message, ts)
        parts = content if isinstance(content, list) else [{"text": content}] if isinstance(content, str) else []
        items = []
        for part in parts:
            if not isinstance(part, dict):
                continue
            if isinstance(part.get("text"), str) and not part["text"].startswith("<session_context>"):
                items.append(Item(ts, {"type": "user.prompt", "data": {"prompt": part["text"]}}))
            elif isinstance(part.get("functionResponse"), dict):
                items.append(self._result(part["functionResponse"], ts))
        return items

    def _response(self, message: dict[str, Any], ts: str) -> list[Item]:
        calls = [c for c in message.get("toolCalls") or [] if isinstance(c, dict) and isinstance(c.get("id"), str)]
        tokens = message.get("tokens") if isinstance(message.get("tokens"), dict) else {}
        content = message.get("content")
        data = {"model": message.get("model"), "text": content if isinstance(content, str) else "",
                "usage": {"input_tokens": tokens.get("input"), "output_tokens": tokens.get("output")}}
        self.calls.update((call["id"], call) for call in calls)
        return model_turn(ts, data, calls, arguments="args")

    def _result(self, response: dict[str, Any], ts: str) -> Item:
        call = self.calls.get(str(response.get("id")), {})
        result = response.get("response")
        failed = isinstance(result, dict) and "error" in result
        item = Item(ts, {"type": "tool.result", "data": {"tool": response.get("name"), "call_id": response.get("id"),
                                                         "ok": not failed, "result": result}})
        change = None if failed else self._change(call)
        if change is not None:
            item.changes.append(change)
        return item

    def _change(self, call: dict[str, Any]) -> FileChange | None:
        args = call.get("args") if isinstance(call.get("args"), dict) else {}
        target = args.get("file_path")
        if call.get("name") not in ("write_file", "replace") or not isinstance(target, str):
            return None
        path = Path(target)
        if not _inside(path, self.repo_root):
            return None
        relative = path.relative_to(self.repo_root).as_posix()
        if call.get("name") == "write_file" and isinstance(args.get("content"), str):
            self.files[relative] = args["content"]
        elif relative in self.files and isinstance(args.get("old_string"), str) and \
                isinstance(args.get("new_string"), str) and args["old_string"] in self.files[relative]:
            count = -1 if args.get("allow_multiple") else 1
            self.files[relative] = self.files[relative].replace(args["old_string"], args["new_string"], count)
        else:
            return None
        return FileChange(relative, self.files[relative].encode("utf-8", "surrogateescape"))
