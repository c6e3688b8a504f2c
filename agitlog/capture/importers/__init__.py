"""`agitlog import AGENT`: an agent's own transcripts, written without agitlog, become sessions.

The importers live in capture/ because they produce what the recorder produces (events, step
commits, a record commit) from another source; they share the adapters' knowledge of each agent's
tools. Each agent module reads its files into ``Transcript``s (the one place that parses them);
``write_session`` stores one as a session:

- the id is derived from the agent's own session id, so importing twice finds the session again:
  unchanged transcripts are skipped, grown ones (still being written) are imported again in place;
- events keep their original timestamps; ``tool.result`` events of file writes and edits get
  reconstructed step commits, applied on the commit HEAD pointed at when the transcript began (from
  HEAD's reflog), carrying the ``Agitlog-Reconstructed: true`` trailer; meta ``[import]`` says where
  the session came from and ``reconstructed = true``.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from agitlog import git
from agitlog.config import Config, load_config
from agitlog.constants import FORMAT_VERSION, STATUS_OK, VERSION
from agitlog.errors import UsageError
from agitlog.store.events import encode_event, finish_event
from agitlog.store.journal import Journal
from agitlog.store.records import session_ref, step_message, write_record

KNOWN = ("claude", "codex", "gemini", "aider")
TRAILER_RECONSTRUCTED = "Agitlog-Reconstructed"


@dataclass(frozen=True)
class FileChange:
    """A file's full content after a tool call (None: the file was deleted)."""

    path: str  # relative to the repository root
    content: bytes | None


@dataclass
class Item:
    """One event of a transcript, in the recorder's draft shape, and the file changes it made."""

    ts: str  # "2026-11-26T03:44:12.123456Z"
    draft: dict[str, Any]
    changes: list[FileChange] = field(default_factory=list)


@dataclass
class Transcript:
    agent: str
    agent_session_id: str
    agent_version: str | None
    paths: list[Path]
    lines: int  # complete lines read, over all files: what "unchanged" is judged by
    items: list[Item]
    branch: str | None = None
    title: str | None = None
    partial: bool = False  # the last line was still being written
    # what is attached, when a file holds more than this session (aider's history): default, ``paths`` whole
    excerpts: list[bytes] | None = None


@dataclass(frozen=True)
class Imported:
    session_id: str
    agent_session_id: str
    status: str  # "imported", "updated", "unchanged", "empty"
    events: int = 0
    steps: int = 0
    partial: bool = False


def load(name: str) -> Any:
    if name not in KNOWN:
        raise UsageError(f"cannot import from {name!r}", hint=f"agents agitlog imports: {', '.join(KNOWN)}")
    import importlib

    return importlib.import_module(f"agitlog.capture.importers.{name}")


def import_agent(repo: git.Repo, *, agent: str, since: datetime | None = None,
                 home: Path | None = None) -> list[Imported]:
    """Import every transcript of ``agent`` that belongs to this repository (newer than ``since``)."""
    from agitlog.store.sessions import SessionStore

    module = load(agent)
    store = SessionStore.open(repo)
    existing = {s.id: s.meta.imported.lines for s in store.all() if s.meta.imported is not None}
    config = load_config(repo.root)
    results = []
    for transcript in module.read_transcripts(repo, since=since, home=home or Path.home()):
        results.append(write_session(repo, transcript, existing=existing, config=config))
    return results


def session_id_for(transcript: Transcript) -> str:
    first = transcript.items[0].ts
    stamp = first[:4] + first[5:7] + first[8:10] + "-" + first[11:13] + first[14:16] + first[17:19]
    digest = hashlib.sha1(f"{transcript.agent}:{transcript.agent_session_id}".encode()).hexdigest()[:6]
    return f"{stamp}-{digest}"


def write_session(repo: git.Repo, transcript: Transcript, *, existing: dict[str, int],
                  config: Config) -> Imported:
    """Store one transcript as a session (or leave the one already imported from it alone)."""
    if not transcript.items:
        return Imported("", transcript.agent_session_id, "empty")
    session_id = session_id_for(transcript)
    before = existing.get(session_id)  # the number of lines imported last time
    if before == transcript.lines:
        return Imported(session_id, transcript.agent_session_id, "unchanged")
    from agitlog.redact import Redactor

    redactor = Redactor(config.redact_patterns)
    base = _head_at(repo, transcript.items[0].ts)
    with tempfile.TemporaryDirectory(dir=_tmp_root(repo)) as tmp:
        journal = Journal(Path(tmp))
        builder = _Builder(repo, config=config, session_id=session_id, base=base)
        events = builder.events(transcript, redactor)
        journal.events_file.write_bytes(b"".join(encode_event(e) for e in events))
        for raw in transcript.excerpts if transcript.excerpts is not None else [p.read_bytes() for p in transcript.paths]:
            journal.write_attachment(redactor.redact_text(raw.decode("utf-8", "surrogateescape"))
                                     .encode("utf-8", "surrogateescape"))
        meta = _meta(repo, transcript, session_id=session_id, base=base, events=events, builder=builder)
        ref = session_ref(session_id)
        current = git.resolve_commit(repo, ref)
        if current is not None:
            git.delete_refs(repo, {ref: current})
        git.update_ref(repo, ref, builder.commits[-1], None, message=f"agitlog: import {session_id}")
        write_record(repo, journal=journal, meta=meta, last_step=builder.commits[-1])
    return Imported(session_id, transcript.agent_session_id, "updated" if before is not None else "imported",
                    events=len(events), steps=len(builder.commits), partial=transcript.partial)


def _tmp_root(repo: git.Repo) -> Path:
    root = repo.state_dir / "import"
    root.mkdir(parents=True, exist_ok=True)
    return root


def _epoch(ts: str) -> int:
    return int(datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp())


def _head_at(repo: git.Repo, ts: str) -> str | None:
    """The commit HEAD pointed at when the transcript began: HEAD's reflog first (it knows about
    checkouts), else the newest commit on HEAD that is not younger than that moment."""
    epoch = _epoch(ts)
    entries, _ = git.read_head_reflog(repo)
    # The reflog counts whole seconds: a HEAD move in the transcript's first second is more likely
    # the agent's own first commit than something that came before it, so it does not count.
    before = [entry for entry in entries if entry.epoch < epoch]
    if before:
        return before[-1].new
    if git.resolve_commit(repo, "HEAD") is None:
        return None
    return git.rev_before(repo, "HEAD", epoch=epoch)


class _Builder:
    """Numbers the events and writes the reconstructed step commits as it goes."""

    def __init__(self, repo: git.Repo, *, config: Config, session_id: str, base: str | None) -> None:
        self.repo = repo
        self.config = config
        self.session_id = session_id
        self.base = base
        self.commits: list[str] = []
        self.root_span = hashlib.sha1(session_id.encode()).hexdigest()[:16]
        self._index = Path(tempfile.mkstemp(dir=_tmp_root(repo), suffix=".index")[1])
        self._index.unlink()

    def events(self, transcript: Transcript, redactor: Any) -> list[dict[str, Any]]:
        if self.base is not None:
            git.read_tree_into_index(self.repo, index_file=self._index, tree=git.tree_of(self.repo, self.base))
        first = transcript.items[0].ts
        self._step(f"worktree at {self.base[:12] if self.base else 'the start'} (reconstructed)", first, 0)
        events: list[dict[str, Any]] = []
        responses: dict[str, int] = {}
        try:
            for item in sorted(transcript.items, key=lambda i: i.ts):
                draft = redactor.redact_value(item.draft)
                _link(draft, responses, len(events))
                changes = [c for c in item.changes if self._may_store(c.path)]
                if changes and self._apply(changes):
                    self._step(_summary(draft), item.ts, len(events))
                events.append(finish_event({**draft, "ts": item.ts}, seq=len(events), session=self.session_id,
                                           step=len(self.commits) - 1, commit=self.commits[-1],
                                           default_span=self.root_span, default_pid=0))
        finally:
            self._index.unlink(missing_ok=True)
        return events

    def _may_store(self, path: str) -> bool:
        from agitlog.capture.snapshot import matches_pattern

        name = path.rsplit("/", 1)[-1]
        return not (any(matches_pattern(p, path) for p in self.config.exclude)
                    or any(fnmatchcase(name, p) for p in self.config.secret_files))

    def _apply(self, changes: list[FileChange]) -> bool:
        entries = [(c.path, git.hash_blob(self.repo, c.content) if c.content is not None else None) for c in changes]
        git.add_blobs_to_index(self.repo, index_file=self._index, entries=entries)
        return True

    def _step(self, summary: str, ts: str, event_seq: int) -> None:
        tree = git.write_tree(self.repo, index_file=self._index) if self._index.exists() else git.empty_tree(self.repo)
        previous = self.commits[-1] if self.commits else self.base
        if self.commits and tree == git.tree_of(self.repo, self.commits[-1]):
            return
        message = step_message(session_id=self.session_id, step=len(self.commits), event_seq=event_seq,
                               summary=summary) + f"{TRAILER_RECONSTRUCTED}: true\n"
        self.commits.append(git.commit_tree(self.repo, tree=tree, parents=[previous] if previous else [],
                                            message=message, date=f"@{_epoch(ts)} +0000"))


def _link(draft: dict[str, Any], responses: dict[str, int], seq: int) -> None:
    """tool.call/tool.result -> the llm.response that asked for the call (as the recorder does live)."""
    data = draft.get("data") or {}
    if draft.get("type") == "llm.response":
        for call in data.get("tool_calls") or []:
            if isinstance(call, dict) and isinstance(call.get("id"), str):
                responses[call["id"]] = seq
    elif draft.get("type") in ("tool.call", "tool.result") and str(data.get("call_id")) in responses:
        data["llm_response_seq"] = responses[str(data.get("call_id"))]


def _summary(draft: dict[str, Any]) -> str:
    data = draft.get("data") or {}
    return f"{draft.get('type')} {data.get('tool') or ''} (reconstructed)".strip()


def _meta(repo: git.Repo, transcript: Transcript, *, session_id: str, base: str | None,
          events: list[dict[str, Any]], builder: _Builder) -> dict[str, Any]:
    from agitlog.capture.recorder import Stats

    stats = Stats()
    for event in events:
        stats.add(event)
    first, last = builder.commits[0], builder.commits[-1]
    numstat = git.diff_tree_numstat(repo, first, last) if first != last else []
    return {
        "format": FORMAT_VERSION, "id": session_id, "name": transcript.title, "agent": transcript.agent,
        "command": [transcript.agent], "cwd": ".", "started_at": events[0]["ts"], "ended_at": events[-1]["ts"],
        "agitlog_version": VERSION, "root_span": builder.root_span, "status": STATUS_OK,
        "git": {"base_commit": base, "branch": transcript.branch, "worktree": "main"},
        "import": {"agent": transcript.agent, "agent_version": transcript.agent_version,
                   "agent_session_id": transcript.agent_session_id,
                   "sources": [os.fspath(p) for p in transcript.paths], "lines": transcript.lines,
                   "partial": transcript.partial, "reconstructed": True},
        "steps": {"count": len(builder.commits), "first": first, "last": last},
        "stats": {**stats.as_dict(), "files_changed": len(numstat), "insertions": sum(a or 0 for a, _, _ in numstat),
                  "deletions": sum(d or 0 for _, d, _ in numstat)},
    }


def model_turn(ts: str, data: dict[str, Any], calls: list[dict[str, Any]], *, arguments: str) -> list[Item]:
    """A model's answer: an llm.response (``data`` with the ``tool_calls`` it asked for) and then a
    tool.call per call. ``calls`` are the transcript's own call objects (each with an ``id``), and
    ``arguments`` names the field that holds a call's arguments in them."""
    data["tool_calls"] = [{"id": c["id"], "name": c.get("name"), "arguments": c.get(arguments)} for c in calls]
    return [Item(ts, {"type": "llm.response", "data": data}),
            *(Item(ts, {"type": "tool.call", "data": {"tool": c.get("name"), "call_id": c["id"],
                                                      "arguments": c.get(arguments)}}) for c in calls)]


def decode_record(line: bytes) -> dict[str, Any]:
    """One JSON-lines record of a transcript; a line that is not a JSON object is kept as-is
    (``{"type": None, "raw": ...}``), recorded rather than lost."""
    try:
        value = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {"type": None, "raw": line.decode("utf-8", "backslashreplace")}
    return value if isinstance(value, dict) else {"type": None, "raw": value}


def utc_timestamp(value: Any) -> str:
    """An agent's ISO timestamp in the event schema's form (UTC, microseconds); the epoch when unreadable."""
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(timezone.utc)
    except ValueError:
        moment = datetime(1970, 1, 1, tzinfo=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
