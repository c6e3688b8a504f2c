"""Step 0 of `agitlog run`, started before the recording modules load.

`agitlog run` spends tens of milliseconds importing the recorder, the event channel and the capture
services. Step 0's git work (the worktree scan, then update-index and write-tree into the session's
private index) needs none of them. So the run's first moments find the repository, open the
session's journal and hand that chain to a thread, which waits on git while the imports run;
``start_session`` takes the tree when it needs it. Nothing is recorded before then: a run that
stops earlier (``abandon``) leaves no journal behind.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

from agitlog import git
from agitlog.capture.snapshot import Snapshot, Snapshotter
from agitlog.config import Config, load_config
from agitlog.constants import ENV_SESSION, ENV_SPAN, ENV_TRACEPARENT, FORMAT_VERSION, VERSION
from agitlog.errors import AgitlogError
from agitlog.redact import Redactor
from agitlog.store.events import new_span_id, new_trace_id, utc_now
from agitlog.store.journal import Journal, create_journal, remove_journal
from agitlog.store.origin import mark_recorded
from agitlog.store.records import new_session_id

TYPE_CHECKING = False  # typing costs `agitlog run` milliseconds to import
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any


class EarlyStart:
    """A session's journal, opened, and its step 0 being taken on a thread."""

    def __init__(self, *, repo: git.Repo, base: str | None, branch: str | None, config: Config, journal: Journal,
                 lock_fd: int, snapshotter: Snapshotter) -> None:
        self.repo, self.base, self.branch, self.config = repo, base, branch, config
        self.journal, self.lock_fd, self.snapshotter = journal, lock_fd, snapshotter
        self.meta: dict[str, Any] = {}  # set by begin() once start.json is written
        self.redactor: Redactor | None = None
        self._shot: Snapshot | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._take, name="agitlog-step0", daemon=True)
        self._thread.start()

    def _take(self) -> None:
        try:
            self._shot = self.snapshotter.take()
        except BaseException as exc:  # noqa: BLE001 - re-raised by step0(), on the main thread
            self._error = exc

    def step0(self) -> Snapshot:
        """Step 0's tree (written, not yet committed), once git has finished it."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._shot is not None
        return self._shot

    def abandon(self) -> None:
        """The run stops before its session starts: wait for git to leave the journal, then remove it."""
        self._thread.join()
        try:
            self.journal.wait_durable()  # its rename into the journal must not race the removal
        except AgitlogError:
            pass
        remove_journal(self.journal)
        os.close(self.lock_fd)


def begin(cwd: Path, command: list[str], *, located: git.Pending, status: git.Pending, name: str | None = None,
          agent: str | None = None, adapter_name: str | None = None) -> EarlyStart:
    """Find the repository (``located``: the `git rev-parse` already started), check that the command
    can run, open the session's journal, start step 0 from ``status`` (the scan already started) and
    write start.json, whose fsync then runs while the rest of agitlog imports. ``adapter_name``: the
    coding-agent adapter the caller chose for ``command``, if any (start.json names it)."""
    repo, base, branch = git.find_repo_and_head(cwd, pending=located)
    find_executable(command[0], cwd)  # "command not found" before anything is written
    config = load_config(repo.root)
    journal, lock_fd = create_unique_journal(repo)
    try:
        snapshotter = Snapshotter(repo, index_file=journal.index_file, config=config)
        snapshotter.seed()
        snapshotter.prefetch(status)
    except BaseException:
        remove_journal(journal)
        os.close(lock_fd)
        raise
    early = EarlyStart(repo=repo, base=base, branch=branch, config=config, journal=journal, lock_fd=lock_fd,
                       snapshotter=snapshotter)
    try:
        early.meta, early.redactor = write_start(
            repo, journal, config=config, base=base, branch=branch, command=command, cwd=cwd, name=name, agent=agent,
            env=os.environ, extra_meta={"adapter": {"name": adapter_name}} if adapter_name is not None else None)
    except BaseException:
        early.abandon()
        raise
    return early


def write_start(repo: git.Repo, journal: Journal, *, config: Config, base: str | None, branch: str | None,
                command: Sequence[str], cwd: Path, name: str | None, agent: str | None, env: Mapping[str, str],
                extra_meta: Mapping[str, Any] | None) -> tuple[dict[str, Any], Redactor]:
    """The session's metadata, redacted, written to start.json (its fsync and rename on a thread:
    ``journal.wait_durable()`` before the child starts), and the redactor for its events."""
    redactor = Redactor(config.redact_patterns)  # patterns compile on first use: nothing to wait for
    meta = _start_meta(journal.session_id, repo=repo, base=base, branch=branch, command=command, cwd=cwd,
                       name=name, agent=agent, env=env)
    meta.update(extra_meta or {})
    meta = redact_meta(meta, redactor)
    mark_recorded(repo.state_dir, journal.session_id, meta["command"])  # as stored: rerun trusts what this clone ran
    journal.write_start(meta)
    return meta, redactor


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




def create_unique_journal(repo: git.Repo) -> tuple[Journal, int]:
    """A new session's journal and the fd of its lock, under a fresh session id."""
    for _ in range(5):
        try:
            return create_journal(repo.state_dir, new_session_id())
        except FileExistsError:
            continue
    raise AgitlogError("cannot create a session id that is not taken: is the clock stuck?")


def find_executable(program: str, cwd: Path) -> str:
    """The path the child will be started from; exit code 127 or 126 as a shell gives them."""
    if os.sep in program:
        path = (cwd / program)
        if not path.exists():
            raise AgitlogError(f"command not found: {program}", exit_code=127)
        if not os.access(path, os.X_OK) or path.is_dir():
            raise AgitlogError(f"permission denied: {program}", hint=f"chmod +x {program}", exit_code=126)
        return str(path)
    from agitlog.capture.shim import which

    found = which(program)
    if found is None:
        raise AgitlogError(f"command not found: {program}", hint="check the spelling and your PATH", exit_code=127)
    return found
