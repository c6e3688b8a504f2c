"""A session's life: start (journal, step 0, session.start) and finish (last step, session.end, record
commit through agitlog.store.recovery.finalize, which recovery of crashed sessions shares)."""
from __future__ import annotations

import os
import time
from pathlib import Path

from agitlog import git
from agitlog.config import Config, load_config
from agitlog.constants import (
    ENV_SPAN, ENV_SESSION, ENV_TRACEPARENT, FORMAT_VERSION, VERSION,
)
from agitlog.store.events import new_span_id, new_trace_id, utc_now
from agitlog.store.faults import crash_point
from agitlog.store.journal import Journal
from agitlog.store.origin import mark_recorded
from agitlog.store.recovery import finalize
from agitlog.redact import Redactor
from agitlog.store.records import session_ref
from agitlog.capture.recorder import Recorder
from agitlog.capture.early import EarlyStart, create_unique_journal
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
    redactor = Redactor(config.redact_patterns)  # patterns compile on first use: nothing to wait for
    env = os.environ if env is None else env
    base, branch = head or git.head_state(repo)
    meta = _start_meta(journal.session_id, repo=repo, base=base, branch=branch, command=command, cwd=cwd,
                       name=name, agent=agent, env=env)
    meta.update(extra_meta or {})
    meta = redact_meta(meta, redactor)
    mark_recorded(repo.state_dir, journal.session_id, meta["command"])  # as stored: rerun trusts what this clone ran
    journal.write_start(meta)  # its fsync (milliseconds on some disks) runs while git writes step 0's tree
    step0 = early.step0() if early is not None else snapshotter.take()
    recorder = Recorder(repo=repo, config=config, journal=journal, meta=meta, redactor=redactor,
                        snapshotter=snapshotter)
    recorder.snapshot_now(f"worktree before {' '.join(meta['command'])}", taken=step0)
    recorder.record({"type": "session.start", "span": meta["root_span"], "parent_span": meta.get("parent_span"),
                     "data": _start_event_data(meta)})
    journal.wait_durable()  # before the child starts: a session's start is never lost
    return LiveSession(repo=repo, config=config, journal=journal, recorder=recorder, meta=meta,
                       lock_fd=lock_fd, started=time.monotonic())


_META_SAFE = frozenset({"format", "id", "started_at", "host", "user", "pid", "agitlog_version", "trace_id",
                        "root_span", "parent_span", "parent_session", "status"})


def redact_meta(meta: dict[str, Any], redactor: Any) -> dict[str, Any]:
    """Session metadata with secrets replaced, before it reaches start.json, session.toml, commit
    subjects and caches: agents are often started with `--api-key ...` (issue 11). Fields agitlog
    itself generates are kept as they are; everything the user or the command chose (argv, name,
    cwd, environment variable names, extra fields) is redacted."""
    return {key: value if key in _META_SAFE else redactor.redact_value(value) for key, value in meta.items()}


def _start_meta(session_id: str, *, repo: git.Repo, base: str | None, branch: str | None, command: Sequence[str],
                cwd: Path, name: str | None, agent: str | None, env: Mapping[str, str]) -> dict[str, Any]:
    trace_id, parent_span = _trace_parent(env)
    rel_cwd = os.path.relpath(cwd.resolve(), repo.root.resolve())
    return {
        "format": FORMAT_VERSION, "id": session_id, "name": name, "agent": agent or "main",
        "command": list(command), "cwd": "." if rel_cwd == "." else rel_cwd.replace(os.sep, "/"),
        "started_at": utc_now(), "host": os.uname().nodename, "user": _user(), "pid": os.getpid(),
        "agitlog_version": VERSION, "trace_id": trace_id, "root_span": new_span_id(),
        "parent_span": parent_span, "parent_session": env.get(ENV_SESSION) or None,
        "env_names": sorted(env),
        "git": {"base_commit": base, "branch": branch,
                "worktree": "linked" if repo.git_dir != repo.common_dir else "main"},
        "status": "running",
    }


def _user() -> str | None:
    """getpass.getuser() without importing getpass (it loads termios and more, on run's start-up)."""
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        if os.environ.get(name):
            return os.environ[name]
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError, OSError):
        return None


def _trace_parent(env: Mapping[str, str]) -> tuple[str, str | None]:
    """Honour W3C ``TRACEPARENT`` (version-trace-parent-flags) and a parent run's span."""
    parts = env.get(ENV_TRACEPARENT, "").strip().split("-")
    if len(parts) == 4 and len(parts[1]) == 32 and len(parts[2]) == 16:
        return parts[1].lower(), parts[2].lower()
    return new_trace_id(), env.get(ENV_SPAN) or None


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
