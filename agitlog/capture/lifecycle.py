"""A session's life: start (journal, step 0, session.start) and finish (last step, session.end, record
commit through agitlog.store.recovery.finalize, which recovery of crashed sessions shares)."""
from __future__ import annotations

import os
import time
from pathlib import Path

from agitlog import git
from agitlog.config import Config, load_config
from agitlog.store.events import utc_now
from agitlog.store.faults import crash_point
from agitlog.store.journal import Journal
from agitlog.store.recovery import finalize
from agitlog.store.records import session_ref
from agitlog.capture.recorder import Recorder
from agitlog.capture.early import EarlyStart, create_unique_journal, write_start
from agitlog.capture.snapshot import Snapshotter
from agitlog.datatypes import datatype

TYPE_CHECKING = False  # typing costs `agitlog run` milliseconds to import
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

    from agitlog.store.sessions import Session


@datatype
class LiveSession:
    repo: git.Repo
    config: Config
    journal: Journal
    recorder: Recorder
    meta: dict[str, Any]
    lock_fd: int
    started: float
    seen_root: Path | None = None  # where the agent believes the repository is (a rerun's sandbox)

    @property
    def id(self) -> str:
        return self.meta["id"]

    @property
    def agent_root(self) -> Path:
        """The repository root as the agent sees it: what its own files (transcripts, rollouts) name."""
        return self.seen_root or self.repo.root


def start_session(
    repo: git.Repo,
    *,
    command: Sequence[str],
    cwd: Path,
    name: str | None = None,
    agent: str | None = None,
    env: Mapping[str, str] | None = None,
    extra_meta: Mapping[str, Any] | None = None,
    config: Config | None = None,
    head: tuple[str | None, str | None] | None = None,
    first_status: git.Pending | None = None,
    early: EarlyStart | None = None,
) -> LiveSession:
    """Open a journal, snapshot the worktree as step 0 and record session.start. ``early``: the
    journal already open and step 0 under way (agitlog.capture.early)."""
    if early is not None:
        config, journal, lock_fd, snapshotter = early.config, early.journal, early.lock_fd, early.snapshotter
    else:
        config = config or load_config(repo.root)
        journal, lock_fd = create_unique_journal(repo)
        snapshotter = Snapshotter(repo, index_file=journal.index_file, config=config)
        snapshotter.seed()
        snapshotter.prefetch(first_status)
    if early is not None:
        meta, redactor = early.meta, early.redactor  # start.json written (and being fsynced) already
    else:
        base, branch = head or git.head_state(repo)
        meta, redactor = write_start(repo, journal, config=config, base=base, branch=branch, command=command, cwd=cwd,
                                     name=name, agent=agent, env=os.environ if env is None else env,
                                     extra_meta=extra_meta)
    step0 = early.step0() if early is not None else snapshotter.take()
    recorder = Recorder(repo=repo, config=config, journal=journal, meta=meta, redactor=redactor,
                        snapshotter=snapshotter)
    recorder.snapshot_now(f"worktree before {' '.join(meta['command'])}", taken=step0)
    recorder.record({"type": "session.start", "span": meta["root_span"], "parent_span": meta.get("parent_span"),
                     "data": _start_event_data(meta)})
    journal.wait_durable()  # before the child starts: a session's start is never lost
    return LiveSession(repo=repo, config=config, journal=journal, recorder=recorder, meta=meta,
                       lock_fd=lock_fd, started=time.monotonic())


def _start_event_data(meta: dict[str, Any]) -> dict[str, Any]:
    keys = ("name", "agent", "command", "cwd", "host", "user", "agitlog_version", "trace_id", "parent_session")
    data = {key: meta.get(key) for key in keys}
    data.update(base_commit=meta["git"]["base_commit"], branch=meta["git"]["branch"])
    return data


# --- finishing ------------------------------------------------------------------------------------

def prepare_finish() -> None:
    """Load what finishing needs (the TOML writer) now: `agitlog run` calls this while git scans the
    worktree for the last snapshot, so the import runs on the other core instead of after it."""
    import tomli_w  # noqa: F401


@datatype(frozen=True)
class FinishedSession:
    """A session just stored: enough to build its typed ``Session`` without listing sessions."""

    id: str
    meta: dict[str, Any]
    commit: str

    def session(self) -> Session:
        """The stored session, typed (loads the store's models: only callers that need it pay)."""
        from agitlog.store.models import SessionMeta
        from agitlog.store.sessions import Session

        return Session(id=self.id, meta=SessionMeta.from_dict(_without_none(self.meta), self.id),
                       ref=session_ref(self.id), commit=self.commit)


def finish_session(live: LiveSession, *, status: str, exit_code: int | None, signal: int | None = None,
                   summary: str = "") -> FinishedSession:
    """Snapshot the worktree after the run, record session.end and write the record commit; returns
    the stored session (so nothing has to list sessions to find it)."""
    recorder = live.recorder
    recorder.snapshot_now(summary or f"worktree after {' '.join(live.meta['command'])}", force=True)
    crash_point("finish.snapshot-taken")
    end = {"status": status, "exit_code": exit_code, "signal": signal, "ended_at": utc_now(),
           "duration_s": round(time.monotonic() - live.started, 6)}
    recorder.record({"type": "session.end", "span": live.meta["root_span"], "data": dict(end)}, snapshot=False)
    recorder.close()
    crash_point("finish.end-recorded")
    live.journal.write_end(end)
    crash_point("finish.end-written")
    meta = {**live.meta, **end}
    commit = finalize(live.repo, live.journal, meta=meta, stats=recorder.stats,
                      first=recorder.first_commit, last=recorder.commit, steps=recorder.step + 1)
    os.close(live.lock_fd)
    return FinishedSession(id=live.id, meta=meta, commit=commit)


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    return value
