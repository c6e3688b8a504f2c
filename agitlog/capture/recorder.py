"""The recorder: turns drafts from any source (wire protocol, LLM proxy, the run wrapper) into
numbered, redacted, durable events, and takes the step snapshots that events ask for."""
from __future__ import annotations

import os
import threading

from agitlog import git
from agitlog.config import Config
from agitlog.store.events import encode_event, finish_event
from agitlog.store.journal import EventLog, Journal
from agitlog.store.recovery import Stats
from agitlog.capture.snapshot import Snapshot, Snapshotter
from agitlog.capture.watch import WorktreeWatcher
from agitlog.store.records import one_line, session_ref, step_message
from agitlog.constants import TRAILER_LINK
from agitlog.datatypes import datatype

TYPE_CHECKING = False  # typing costs `agitlog run` milliseconds to import
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any


@datatype(frozen=True)
class Ack:
    """What the recorder answers a synchronous event: its number and the step commit after it."""

    seq: int
    step: int
    commit: str | None


def summarize(draft: dict[str, Any]) -> str:
    """A short human summary of an event, for step commit messages and timelines."""
    data = draft.get("data") or {}
    kind = draft.get("type", "?")
    for key in ("name", "tool", "decision", "message", "model", "text", "error"):
        value = data.get(key)
        if isinstance(value, str) and value:
            return f"{kind} {one_line(value, 60)}"
    return kind


class Recorder:
    """Thread-safe: the wire channel, the proxy and the wrapper all record through one instance."""

    def __init__(self, *, repo: git.Repo, config: Config, journal: Journal, meta: dict[str, Any],
                 redactor: Any, snapshotter: Snapshotter | None = None) -> None:
        self.repo = repo
        self.journal = journal
        self.session_id: str = meta["id"]
        self.base_commit: str | None = meta["git"].get("base_commit")
        self.root_span: str = meta["root_span"]
        self.default_agent: str = meta.get("agent") or "main"
        self.redactor = redactor
        self.watcher = WorktreeWatcher(repo.root, lambda: git.ignored_directories(repo))
        self.snapshotter = snapshotter or Snapshotter(repo, index_file=journal.index_file, config=config)
        self.snapshotter.watcher = self.watcher
        self.stats = Stats()
        self.seq = 0
        self.step = -1
        self.commit: str | None = None
        self.first_commit: str | None = None
        self._log = EventLog(journal.events_file, before_sync=journal.wait_durable)
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._reflog_offset = git.head_reflog_size(repo)  # commits made from here on are the session's
        self._response_for_call: dict[str, int] = {}  # tool call id -> seq of the llm.response that asked
        self._model_caller: int | None = None  # the pid of the latest llm.request's caller

    # --- recording ------------------------------------------------------------------------------

    def record(self, draft: dict[str, Any], *, snapshot: bool = False, durable: bool = False) -> Ack:
        """Record one event; with ``snapshot`` the worktree is snapshotted first and the event carries
        the step commit that snapshot produced (if the tree changed). With ``durable`` (or
        ``snapshot``) the journal is fsynced before returning, with every event written before it."""
        with self._lock:
            clean = self._redact(draft)
            if snapshot:
                self._snapshot(summarize(clean))
            data = self._finish(clean)
            self._log.append(data, durable=snapshot or durable)
            return Ack(seq=self.seq - 1, step=self.step, commit=self.commit)

    def record_many(self, drafts: Iterable[dict[str, Any]]) -> None:
        """Record events that need no snapshot, with one write."""
        with self._lock:
            data = b"".join(self._finish(self._redact(d)) for d in drafts)
            if data:
                self._log.append(data)

    def _redact(self, draft: dict[str, Any]) -> dict[str, Any]:
        """The draft with secrets redacted; data nested deeper than Python can walk is recorded as an
        error event instead (a crafted line must not stop the connection that sent it)."""
        try:
            return self.redactor.redact_value(draft)
        except RecursionError:
            return {"type": "error", "agent": draft.get("agent") if isinstance(draft.get("agent"), str) else None,
                    "data": {"error": "malformed event", "reason": "nested too deeply",
                             "event_type": str(draft.get("type"))[:200]}}

    def _finish(self, draft: dict[str, Any]) -> bytes:
        self._link_tool_call(draft)
        self._attribute(draft)
        event = finish_event(draft, seq=self.seq, session=self.session_id, step=self.step, commit=self.commit,
                             default_span=self.root_span, default_pid=self._pid)
        if not draft.get("agent"):
            event["agent"] = self.default_agent
        self.seq += 1
        self.stats.add(event)
        return encode_event(event)

    def _attribute(self, draft: dict[str, Any]) -> None:
        """A hook that ran after its agent exited (Codex's notify; ``orphaned``) cannot name the agent's
        process: its events go to the process that made the session's latest model call, as they
        would have had the agent still been there (the same in every run of the session)."""
        if draft.get("type") == "llm.request" and isinstance(draft.get("pid"), int):
            self._model_caller = draft["pid"]
        if draft.pop("orphaned", False) is True and self._model_caller is not None and "pid" not in draft:
            draft["pid"] = self._model_caller

    def _link_tool_call(self, draft: dict[str, Any]) -> None:
        """An agent's tool events (hooks) name the model's tool call id; link them to the llm.response
        that asked for the call, so a step commit leads back to the model turn behind it."""
        data = draft.get("data")
        if not isinstance(data, dict):
            return
        if draft.get("type") == "llm.response":
            for call in data.get("tool_calls") or []:
                if isinstance(call, dict) and isinstance(call.get("id"), str):
                    self._response_for_call[call["id"]] = self.seq
        elif draft.get("type") in ("tool.call", "tool.result") and "llm_response_seq" not in data:
            seq = self._response_for_call.get(str(data.get("call_id")))
            if seq is not None:
                data["llm_response_seq"] = seq

    def attach(self, data: bytes) -> str:
        """Keep a large payload with the session (stored as a blob under attachments/); returns its
        name, the blob id. The caller redacts it first."""
        return self.journal.write_attachment(data)

    # --- snapshots ------------------------------------------------------------------------------

    def prefetch_snapshot(self) -> None:
        """Start the next snapshot's worktree scan in the background (see Snapshotter.prefetch)."""
        with self._lock:
            self.snapshotter.prefetch()

    def snapshot_now(self, summary: str, *, force: bool = False, event_seq: int | None = None,
                     taken: Snapshot | None = None) -> Ack:
        """A snapshot that no event asked for (session start and end, model calls); ``event_seq`` names
        the event the step belongs to (default: the next one). ``taken``: the snapshotter's tree,
        already written (session start takes it before the recorder exists), to commit as the step."""
        with self._lock:
            self._snapshot(summary, force=force, event_seq=event_seq, taken=taken)
            return Ack(seq=self.seq, step=self.step, commit=self.commit)

    def _snapshot(self, summary: str, *, force: bool = False, event_seq: int | None = None,
                  taken: Snapshot | None = None) -> None:
        shot = taken or self.snapshotter.take(force=force)
        self._record_commits()
        for skip in shot.new_skips:
            self._log.append(self._finish(self.redactor.redact_value({"type": "snapshot.skip", "data": {
                "path": skip.path, "reason": skip.reason, "size": skip.size}})))  # a path is text too
        if not shot.changed and self.commit is not None:
            return
        parents = [self.commit] if self.commit else ([self.base_commit] if self.base_commit else [])
        message = step_message(session_id=self.session_id, step=self.step + 1,
                               event_seq=self.seq if event_seq is None else event_seq, summary=summary)
        commit = git.commit_tree(self.repo, tree=shot.tree, parents=parents, message=message)
        git.update_ref(self.repo, session_ref(self.session_id), commit, self.commit,
                       message=f"agitlog: step {self.step + 1}")
        self.step += 1
        self.commit = commit
        self.first_commit = self.first_commit or commit

    def _record_commits(self) -> None:
        """Commits made in the repository since the last snapshot (an agent commits on its own) become
        ``git.commit`` events; ``linked`` says whether the commit carries this session's trailer
        (only when the user installed agitlog's hooks: a run never changes them)."""
        if git.head_reflog_size(self.repo) == self._reflog_offset:
            return
        entries, self._reflog_offset = git.read_head_reflog(self.repo, offset=self._reflog_offset)
        commits = [entry for entry in entries if entry.is_commit]
        trailers = git.commit_trailers(self.repo, [entry.new for entry in commits]) if commits else {}
        for entry in commits:
            linked = self.session_id in trailers.get(entry.new, {}).get(TRAILER_LINK, [])
            self._log.append(self._finish({"type": "git.commit", "data": {
                "commit": entry.new, "parent": None if entry.old == git.ZERO_OID else entry.old,
                "message": entry.message.partition(": ")[2] or entry.message, "linked": linked}}))

    def close(self) -> None:
        with self._lock:
            self._log.close()
            self.watcher.close()
