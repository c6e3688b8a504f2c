"""`agitlog bisect`: which step of a session broke a command, and what the agent was doing then.

Step commits form a first-parent chain (step 0 = the worktree before the run, step N = after it),
so ``git bisect run`` works on them unchanged. It runs in a temporary detached worktree: the user's
HEAD, index, worktree and bisect state (which git keeps per worktree) are never touched.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from agitlog import git
from agitlog.datatypes import datatype, field
from agitlog.errors import AgitlogError, UsageError
from agitlog.query.attribution import StepEvents, explain_step
from agitlog.store.sessions import Session, SessionStore

TYPE_CHECKING = False  # typing costs start-up; only checkers need it
if TYPE_CHECKING:
    from typing import Iterable, Sequence

SKIP_CODE = 125
_FIRST_BAD = re.compile(r"^([0-9a-f]{40}) is the first bad commit", re.MULTILINE)
_CANDIDATE = re.compile(r"^([0-9a-f]{40})$", re.MULTILINE)


@datatype
class BisectResult:
    session: str
    outcome: str                  # "found", "ambiguous", "good-at-end", "bad-at-start", "untestable"
    steps: int
    first_bad_step: int | None = None
    first_bad_commit: str | None = None
    candidates: list[int] = field(default_factory=list)    # with skips: any of these steps
    events: StepEvents | None = None
    diff: str = ""
    files: list[tuple[int | None, int | None, str]] = field(default_factory=list)  # the step's diffstat
    log: str = ""                 # git bisect's own output
    worktree: str | None = None   # with keep_worktree: where the temporary worktree was left


class NothingToBisectError(AgitlogError):
    code = "nothing_to_bisect"


def bisect_session(repo: git.Repo, *, session: str | None, command: Sequence[str], keep_worktree: bool = False,
                   name: str | None = None) -> BisectResult:
    """Find the first step at which ``command`` fails (exit 1..127 except 125; 125 means skip)."""
    if not command:
        raise UsageError("no command to test steps with", hint="usage: agitlog bisect [SESSION] -- CMD [ARGS...]")
    store = SessionStore.open(repo)
    info = store.resolve(session, name=name)
    steps = store.steps(info)
    if len(steps) < 2:
        count = f"{len(steps)} step" + ("" if len(steps) == 1 else "s")
        raise NothingToBisectError(f"session {info.id} has {count}: nothing changed to bisect", exit_code=2)
    workdir = Path(tempfile.mkdtemp(prefix="agitlog-bisect-"))
    tree = workdir / "worktree"
    had_packed_refs = git.packed_refs_exists(repo)
    git.add_worktree(repo, tree, steps[-1])
    try:
        result = _bisect_in(store, tree, info, steps, list(command), _run_dir(tree, info))
        result.worktree = str(tree) if keep_worktree else None
        return result
    finally:
        if not keep_worktree:
            # No `git bisect reset`: deleting the per-worktree refs/bisect/* would rewrite the shared
            # packed-refs file; removing the worktree drops its bisect state with it.
            git.remove_worktree(repo, tree)
            shutil.rmtree(workdir, ignore_errors=True)
            if not had_packed_refs:
                git.drop_empty_packed_refs(repo)


def _run_dir(tree: Path, info: Session) -> Path:
    cwd = tree / info.meta.cwd
    return cwd if cwd.is_dir() else tree


def _bisect_in(store: SessionStore, tree: Path, info: Session, steps: list[str], command: list[str],
               run_dir: Path) -> BisectResult:
    result = BisectResult(session=info.id, outcome="found", steps=len(steps))
    bad, bad_code = _first_testable(tree, run_dir, steps, command, reversed(range(len(steps))))
    if bad_code == 0:
        result.outcome = "good-at-end"
        return result
    good, good_code = _first_testable(tree, run_dir, steps, command, range(bad if bad is not None else 0))
    if good_code not in (0, None, SKIP_CODE):
        result.outcome = "bad-at-start"
        return result
    if bad is None or good is None:
        result.outcome = "untestable"
        result.log = f"the command exited {SKIP_CODE} (skip) on every step it could have started from"
        return result
    code, output = _run_bisect(tree, run_dir, bad=steps[bad], good=steps[good], command=command)
    result.log = output
    found = _FIRST_BAD.search(output)
    index = {sha: number for number, sha in enumerate(steps)}
    if found:
        return _describe(store, info, result, index[found.group(1)], steps)
    candidates = sorted(index[sha] for sha in _CANDIDATE.findall(output) if sha in index)
    if candidates:
        result.candidates = candidates
        return _describe(store, info, result, candidates[-1], steps, outcome="ambiguous")
    raise AgitlogError(f"git bisect did not finish (exit {code})", hint=(output.strip().splitlines() or [""])[-1])


def _first_testable(tree: Path, run_dir: Path, steps: list[str], command: list[str], order: Iterable[int]
                    ) -> tuple[int | None, int | None]:
    """The first step in ``order`` the command does not skip (exit 125), and its exit code."""
    for number in order:
        code = _try(tree, run_dir, steps[number], command)
        if code != SKIP_CODE:
            return number, code
    return None, None


def _try(tree: Path, run_dir: Path, commit: str, command: list[str]) -> int:
    git.checkout_worktree_at(tree, commit)
    return _run_command(run_dir, command)


def _run_command(cwd: Path, command: list[str]) -> int:
    try:
        proc = subprocess.run(command, cwd=cwd, env=git.no_git_env(), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    except FileNotFoundError:
        raise AgitlogError(f"command not found: {command[0]}", exit_code=127) from None
    return proc.returncode


def _run_bisect(tree: Path, run_dir: Path, *, bad: str, good: str, command: list[str]) -> tuple[int, str]:
    """``git bisect run`` runs the command from the worktree root; honour the session's cwd with a wrapper."""
    if run_dir != tree:
        command = ["sh", "-c", 'cd "$0" && exec "$@"', str(run_dir), *command]
    return git.bisect_run(tree, bad=bad, good=good, command=command)


def _describe(store: SessionStore, info: Session, result: BisectResult, step: int, steps: list[str],
              outcome: str = "found") -> BisectResult:
    repo = store.repo
    result.outcome = outcome
    result.first_bad_step = step
    result.first_bad_commit = steps[step]
    result.diff = git.diff_text(repo, steps[step - 1] if step else None, steps[step])
    result.files = git.diff_tree_numstat(repo, steps[step - 1] if step else None, steps[step])
    result.events = explain_step(store.events(info), step)
    return result


def plain_git_commands(repo: git.Repo, *, session: str | None) -> list[str]:
    """The same search with plain git, for docs and for users who want to drive it by hand."""
    store = SessionStore.open(repo)
    info = store.resolve(session)
    steps = store.steps(info)
    good = steps[0] if steps else "<first-step>"
    return [f"git bisect start {steps[-1] if steps else '<last-step>'} {good}", "git bisect run CMD",
            "git bisect reset"]

