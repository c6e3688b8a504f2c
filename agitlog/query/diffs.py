"""Diffs between a session's step commits, parsed with unidiff, each hunk traced to the events
that produced it.

``--step N`` is step N-1 → N (step 0: the session's base commit → step 0, i.e. what was already
uncommitted when the run started); ``--range A..B`` is step A → B; no flag is step 0 → the last step.
A hunk of a multi-step diff is traced line by line: an added line to the last step in the range that
added it, a removed line to the first step that removed it.
"""
from __future__ import annotations

import re

from agitlog import git
from agitlog.datatypes import datatype, field
from agitlog.errors import UsageError
from agitlog.query.attribution import attribute_steps
from agitlog.query.listing import step_producers
from agitlog.query.timeline import Replay
from agitlog.store.sessions import SessionStore

TYPE_CHECKING = False  # typing costs start-up; only checkers need it
if TYPE_CHECKING:
    from typing import Any, Iterable

DEFAULT_MAX_LINES = 20_000   # a file whose diff is longer is shown by its counts only
MAX_TRACED_STEPS = 200       # longer ranges are not traced hunk by hunk

_RANGE = re.compile(r"^\s*(\d*)\s*\.\.\s*(\d*)\s*$")
_STATUS = {"A": "added", "D": "deleted", "M": "modified", "R": "renamed", "C": "copied", "T": "type changed"}


@datatype(frozen=True)
class DiffLine:
    origin: str          # "+", "-", " ", or "\\" for "No newline at end of file"
    text: str            # without the line break; undecodable bytes as \xNN
    old_no: int | None
    new_no: int | None


@datatype
class DiffHunk:
    old_start: int
    old_lines: int
    new_start: int
    new_lines: int
    section: str                 # the function context git prints after @@
    lines: list[DiffLine]
    steps: list[int] = field(default_factory=list)    # the steps that produced this hunk
    events: list[int | None] = field(default_factory=list)  # the event that produced each step (by seq)
    decisions: list[int | None] = field(default_factory=list)  # the decision each step belongs to (by seq)

    @property
    def header(self) -> str:
        return f"@@ -{self.old_start},{self.old_lines} +{self.new_start},{self.new_lines} @@"


@datatype
class FileDiff:
    path: str
    old_path: str
    status: str                  # added, deleted, modified, renamed, copied, type changed
    binary: bool
    added: int | None            # None for binary files
    removed: int | None
    hunks: list[DiffHunk] = field(default_factory=list)
    truncated: bool = False      # too large: counts only, no hunks
    old_mode: str = ""
    new_mode: str = ""


@datatype
class SessionDiff:
    session_id: str
    from_step: int | None        # None: the session's base commit (diff of step 0)
    to_step: int
    from_commit: str
    to_commit: str
    files: list[FileDiff]
    step_events: dict[int, int]  # step -> seq of the event that produced it
    step_decisions: dict[int, int] = field(default_factory=dict)  # step -> seq of its decision (attribution)

    @property
    def added(self) -> int:
        return sum(f.added or 0 for f in self.files)

    @property
    def removed(self) -> int:
        return sum(f.removed or 0 for f in self.files)


def parse_range(text: str) -> tuple[int | None, int | None]:
    """"3..9" -> (3, 9); either end may be left out ("..9", "3..")."""
    match = _RANGE.match(text)
    if not match:
        raise UsageError(f"cannot read range {text!r}", hint="write it as A..B with step numbers, e.g. 3..9")
    start, end = match.groups()
    return (int(start) if start else None), (int(end) if end else None)


def session_diff(repo: git.Repo, *, session: str | None, step: int | None = None, step_range: str | None = None,
                 max_lines: int = DEFAULT_MAX_LINES, name: str | None = None) -> SessionDiff:
    """The diff a step produced, a range of steps produced, or (neither) the whole session produced."""
    if step is not None and step_range is not None:
        raise UsageError("give --step or --range, not both")
    store = SessionStore.open(repo)
    info = store.resolve(session, name=name)
    steps = store.steps(info)
    if not steps:
        raise UsageError(f"session {info.id} has no step commits", hint="it recorded no worktree snapshots")
    from_step, to_step = _endpoints(steps, step, step_range)
    events = store.events(info)
    producers = step_producers(events)  # as step_changes has them, without its diffstats' git process
    result = diff_between(repo, session_id=info.id, steps=steps, step_events=producers, from_step=from_step,
                          to_step=to_step, max_lines=max_lines)
    return _with_decisions(result, {step: found.decision_seq for step, found in attribute_steps(events).items()
                                     if found.decision_seq is not None})


def _with_decisions(result: SessionDiff, step_decisions: dict[int, int]) -> SessionDiff:
    """Name the decision each step of the diff belongs to (query.attribution), per hunk too."""
    result.step_decisions = step_decisions
    for hunk in _all_hunks(result.files):
        hunk.decisions = [step_decisions.get(s) for s in hunk.steps]
    return result


def diff_between(repo: git.Repo, *, session_id: str, steps: list[str], step_events: dict[int, int],
                 from_step: int | None, to_step: int, max_lines: int = DEFAULT_MAX_LINES) -> SessionDiff:
    """The diff from step ``from_step`` (None: the base commit) to ``to_step``, hunks traced."""
    if from_step is None:
        old = git.parent_commit(repo, steps[0]) or git.empty_tree(repo)
    else:
        old = steps[from_step]
    files = diff_commits(repo, old, steps[to_step], max_lines=max_lines)
    result = SessionDiff(session_id=session_id, from_step=from_step, to_step=to_step, from_commit=old,
                         to_commit=steps[to_step], files=files, step_events=step_events)
    _trace(repo, result, steps)
    return result


def step_diff(repo: git.Repo, *, session_id: str, steps: list[str], step_events: dict[int, int],
              step: int) -> SessionDiff:
    """The diff that step ``step`` produced (from the step before it)."""
    return diff_between(repo, session_id=session_id, steps=steps, step_events=step_events,
                        from_step=step - 1 if step > 0 else None, to_step=step)


def replay_diffs(repo: git.Repo, *, replay: Replay) -> dict[int, SessionDiff]:
    """The diff of every step a replayed session produced, by step (for ``replay --plain --diffs``)."""
    producers = {change.step: seq for seq, change in replay.changes.items()}
    decisions = {change.step: change.decision for change in replay.changes.values() if change.decision is not None}
    return {step: _with_decisions(step_diff(repo, session_id=replay.session.id, steps=replay.steps,
                                            step_events=producers, step=step), decisions)
            for step in producers if 0 <= step < len(replay.steps)}


def _endpoints(steps: list[str], step: int | None, step_range: str | None) -> tuple[int | None, int]:
    last = len(steps) - 1
    if step is not None:
        _check_step(step, last)
        return (step - 1 if step > 0 else None), step
    if step_range is None:
        return 0, last
    start, end = parse_range(step_range)
    start, end = (0 if start is None else start), (last if end is None else end)
    for value in (start, end):
        _check_step(value, last)
    if start > end:
        raise UsageError(f"range {step_range} runs backwards", hint=f"write it as {end}..{start}")
    return start, end


def _check_step(step: int, last: int) -> None:
    if not 0 <= step <= last:
        raise UsageError(f"no step {step}: this session has steps 0..{last}")


def diff_commits(repo: git.Repo, old: str, new: str, *, max_lines: int = DEFAULT_MAX_LINES) -> list[FileDiff]:
    """Every changed file between two commits, with hunks (files over ``max_lines`` get counts only)."""
    changes = git.diff_changes(repo, old, new)
    huge = [c for c in changes if (c.added or 0) + (c.deleted or 0) > max_lines]
    excluded = sorted({path for c in huge for path in (c.old_path, c.new_path)})
    patched = {}
    if len(huge) < len(changes):  # something is left to show
        patched = {f.path: f for f in parse_patch(git.diff_patch(repo, old, new, exclude=excluded))}
    files = []
    for change in changes:
        parsed = patched.get(display_path(change.new_path))
        files.append(FileDiff(
            path=display_path(change.new_path), old_path=display_path(change.old_path),
            status=_STATUS.get(change.status, change.status),
            binary=change.added is None, added=change.added, removed=change.deleted,
            hunks=parsed.hunks if parsed else [], truncated=change in huge,
            old_mode=change.old_mode, new_mode=change.new_mode,
        ))
    return files


def display_path(path: str) -> str:
    """A file name as git's patch text shows it here: bytes that are not UTF-8 as \\xNN."""
    try:
        return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return path


def parse_patch(patch: bytes) -> list[FileDiff]:
    """FileDiffs (path and hunks only) from ``git diff`` output; undecodable bytes become \\xNN."""
    from unidiff import PatchSet  # only diff pays for it

    text = patch.decode("utf-8", "backslashreplace")
    files = []
    for patched in PatchSet(text):
        files.append(FileDiff(
            path=_strip_prefix(patched.target_file if patched.target_file != "/dev/null" else patched.source_file),
            old_path=_strip_prefix(patched.source_file), status="modified", binary=patched.is_binary_file,
            added=patched.added, removed=patched.removed, hunks=[_hunk(h) for h in patched],
        ))
    return files


def _strip_prefix(path: str) -> str:
    for prefix in ("a/", "b/"):
        if path.startswith(prefix):
            return path[len(prefix):]
    return path


def _hunk(hunk: Any) -> DiffHunk:
    lines = [DiffLine(origin=line.line_type, text=line.value.rstrip("\n").rstrip("\r") if line.line_type != "\\"
                      else line.value.strip(), old_no=line.source_line_no, new_no=line.target_line_no)
             for line in hunk]
    return DiffHunk(old_start=hunk.source_start, old_lines=hunk.source_length, new_start=hunk.target_start,
                    new_lines=hunk.target_length, section=hunk.section_header or "", lines=lines)


# --- tracing hunks to events ----------------------------------------------------------------------

def _trace(repo: git.Repo, result: SessionDiff, steps: list[str]) -> None:
    """Fill every hunk's steps and events."""
    first = 0 if result.from_step is None else result.from_step + 1
    span = list(range(first, result.to_step + 1))
    if len(span) == 1:
        for hunk in _all_hunks(result.files):
            hunk.steps = span
    elif len(span) <= MAX_TRACED_STEPS:
        _trace_lines(repo, result, steps, span)
    for hunk in _all_hunks(result.files):
        hunk.events = [result.step_events.get(s) for s in hunk.steps]


def _all_hunks(files: Iterable[FileDiff]) -> Iterable[DiffHunk]:
    return (hunk for f in files for hunk in f.hunks)


def _trace_lines(repo: git.Repo, result: SessionDiff, steps: list[str], span: list[int]) -> None:
    """Per-step diffs of the files in the result: which step added or removed each line text."""
    added: dict[tuple[str, str], int] = {}
    removed: dict[tuple[str, str], int] = {}
    wanted = {path for f in result.files for path in (f.path, f.old_path)}
    huge = sorted({path for f in result.files if f.truncated for path in (f.path, f.old_path)})
    for step in span:
        old = steps[step - 1] if step > 0 else result.from_commit
        for f in parse_patch(git.diff_patch(repo, old, steps[step], exclude=huge)):
            if f.path not in wanted and f.old_path not in wanted:
                continue
            for line in (line for h in f.hunks for line in h.lines):
                if line.origin == "+":
                    added[(f.path, line.text)] = step          # the last step that added it wins
                elif line.origin == "-":
                    removed.setdefault((f.old_path, line.text), step)
    for f in result.files:
        for hunk in f.hunks:
            found = {added.get((f.path, line.text)) for line in hunk.lines if line.origin == "+"}
            found |= {removed.get((f.old_path, line.text)) for line in hunk.lines if line.origin == "-"}
            hunk.steps = sorted(s for s in found if s is not None)


def diff_json(result: SessionDiff) -> dict[str, Any]:
    """The JSON document `agitlog diff --json` prints."""
    return {
        "session": result.session_id, "from_step": result.from_step, "to_step": result.to_step,
        "from_commit": result.from_commit, "to_commit": result.to_commit,
        "decisions": {str(step): seq for step, seq in sorted(result.step_decisions.items())},
        "added": result.added, "removed": result.removed,
        "files": [{
            "path": f.path, "old_path": f.old_path, "status": f.status, "binary": f.binary,
            "added": f.added, "removed": f.removed, "truncated": f.truncated,
            "hunks": [{
                "header": h.header, "section": h.section, "old_start": h.old_start, "old_lines": h.old_lines,
                "new_start": h.new_start, "new_lines": h.new_lines, "steps": h.steps, "events": h.events,
                "decisions": h.decisions,
                "added": [l.text for l in h.lines if l.origin == "+"],
                "removed": [l.text for l in h.lines if l.origin == "-"],
                "lines": [[l.origin, l.text] for l in h.lines],
            } for h in f.hunks],
        } for f in result.files],
    }
