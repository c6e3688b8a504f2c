"""The recorder: turns drafts from any source (wire protocol, LLM proxy, the run wrapper) into
numbered, redacted, durable events, and takes the step snapshots that events ask for."""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any, Iterable

from agitlog import git
from agitlog.config import Config
from agitlog.store.events import encode_event, finish_event
from agitlog.store.journal import EventLog, Journal
from agitlog.store.recovery import Stats
from agitlog.capture.snapshot import Snapshotter
from agitlog.capture.watch import WorktreeWatcher
from agitlog.store.records import one_line, session_ref, step_message


@dataclass(frozen=True)
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
        self._log = EventLog(journal.events_file)
        self._lock = threading.Lock()
        self._pid = os.getpid()

    # --- recording ------------------------------------------------------------------------------

    def record(self, draft: dict[str, Any], *, snapshot: bool = False) -> Ack:
        """Record one event; with ``snapshot`` the worktree is snapshotted first and the event carries
        the step commit that snapshot produced (if the tree changed)."""
        with self._lock:
            clean = self.redactor.redact_value(draft)
            if snapshot:
                self._snapshot(summarize(clean))
            data = self._finish(clean)
            self._log.append(data, durable=snapshot)
            return Ack(seq=self.seq - 1, step=self.step, commit=self.commit)

    def record_many(self, drafts: Iterable[dict[str, Any]]) -> None:
        """Record events that need no snapshot, with one write."""
        with self._lock:
            data = b"".join(self._finish(self.redactor.redact_value(d)) for d in drafts)
            if data:
                self._log.append(data)

    def _finish(self, draft: dict[str, Any]) -> bytes:
        event = finish_event(draft, seq=self.seq, session=self.session_id, step=self.step, commit=self.commit,
                             default_span=self.root_span, default_pid=self._pid)
        if not draft.get("agent"):
            event["agent"] = self.default_agent
        self.seq += 1
        self.stats.add(event)
        return encode_event(event)

    def attach(self, data: bytes) -> str:
        """Keep a large payload with the session (stored as a blob under attachments/); returns its
        name, the blob id. The caller redacts it first."""
        return self.journal.write_attachment(data)

    # --- snapshots ------------------------------------------------------------------------------

    def prefetch_snapshot(self) -> None:
        """Start the next snapshot's worktree scan in the background (see Snapshotter.prefetch)."""
        with self._lock:
            self.snapshotter.prefetch()

    def snapshot_now(self, summary: str, *, force: bool = False, event_seq: int | None = None) -> Ack:
        """A snapshot that no event asked for (session start and end, model calls); ``event_seq`` names
        the event the step belongs to (default: the next one)."""
        with self._lock:
            self._snapshot(summary, force=force, event_seq=event_seq)
            return Ack(seq=self.seq, step=self.step, commit=self.commit)

    def _snapshot(self, summary: str, *, force: bool = False, event_seq: int | None = None) -> None:
        shot = self.snapshotter.take(force=force)
        for skip in shot.new_skips:
            self._log.append(self._finish({"type": "snapshot.skip", "data": {
                "path": skip.path, "reason": skip.reason, "size": skip.size}}))
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

    def close(self) -> None:
        with self._lock:
            self._log.close()
            self.watcher.close()
