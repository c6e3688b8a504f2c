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
from agitlog.errors import AgitlogError
from agitlog.store.journal import Journal, create_journal, remove_journal
from agitlog.store.records import new_session_id


class EarlyStart:
    """A session's journal, opened, and its step 0 being taken on a thread."""

    def __init__(self, *, repo: git.Repo, base: str | None, branch: str | None, config: Config, journal: Journal,
                 lock_fd: int, snapshotter: Snapshotter) -> None:
        self.repo, self.base, self.branch, self.config = repo, base, branch, config
        self.journal, self.lock_fd, self.snapshotter = journal, lock_fd, snapshotter
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
        remove_journal(self.journal)
        os.close(self.lock_fd)


def begin(cwd: Path, command: list[str], *, located: git.Pending, status: git.Pending) -> EarlyStart:
    """Find the repository (``located``: the `git rev-parse` already started), check that the command
    can run, open the session's journal and start step 0 from ``status`` (the scan already started)."""
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
    return EarlyStart(repo=repo, base=base, branch=branch, config=config, journal=journal, lock_fd=lock_fd,
                      snapshotter=snapshotter)


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
