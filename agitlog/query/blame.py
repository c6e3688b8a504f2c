"""`agitlog blame FILE`: git blame, plus the session, step, agent and decision behind each line.

A blamed commit leads to a session in one of three ways, tried in order:
1. it is a step commit itself (a branch adopted the session's commits): its trailers name them;
2. its message carries ``Agent-Session: <id>`` (added by the prepare-commit-msg hook);
3. the file content it committed is exactly what a session's step wrote (agitlog.store.provenance).
Within the session, the step is the one `git blame` over the session's step commits names for the
line, and the decision is the one query.attribution gives that step (the model show, diff and
bisect use too).
"""
from __future__ import annotations

from pathlib import Path

from agitlog import git
from agitlog.datatypes import datatype
from agitlog.store import provenance as links
from agitlog.query.attribution import Attribution, attribute_steps, explain_step
from agitlog.constants import TRAILER_LINK, KIND_STEP, TRAILER_KIND, TRAILER_SESSION, TRAILER_STEP
from agitlog.errors import UsageError
from agitlog.store.sessions import Session, SessionStore

TYPE_CHECKING = False  # typing costs start-up; only checkers need it
if TYPE_CHECKING:
    from typing import Any

UNCOMMITTED = "0" * 40


@datatype(frozen=True)
class SessionLine:
    session: str
    step: int | None
    commit: str | None          # the step commit
    agent: str | None
    decision: str | None
    reasoning: str | None
    via: str                    # "step-commit", "trailer" or "content"
    present: bool               # False: the session is named but not in this repository


@datatype(frozen=True)
class BlameLine:
    number: int
    text: str
    commit: str
    author: str
    author_time: int
    summary: str
    session: SessionLine | None


@datatype(frozen=True)
class BlameResult:
    path: str
    rev: str | None
    lines: list[BlameLine]


def blame_file(repo: git.Repo, *, path: Path, rev: str | None = None) -> BlameResult:
    """Blame ``path`` (relative to the current directory or absolute) at ``rev`` (default: worktree)."""
    rel = _repo_path(repo, path)
    raw = _parse_porcelain(git.blame_porcelain(repo, rel, rev))
    if not raw:
        return BlameResult(path=rel, rev=rev, lines=[])
    resolver = _Resolver(repo, rel)
    resolver.prefetch({info["sha"]: info.get("filename", rel) for _, _, info in raw})
    lines = [BlameLine(number=number, text=text, commit=info["sha"], author=info.get("author", ""),
                       author_time=int(info.get("author-time", 0)), summary=info.get("summary", ""),
                       session=resolver.line(info["sha"], info.get("filename", rel), int(info["orig"]), text))
             for number, text, info in raw]
    return BlameResult(path=rel, rev=rev, lines=lines)


def _repo_path(repo: git.Repo, path: Path) -> str:
    absolute = path if path.is_absolute() else Path.cwd() / path
    try:
        return absolute.resolve().relative_to(repo.root.resolve()).as_posix()
    except ValueError:
        raise UsageError(f"{path} is outside the repository {repo.root}") from None


def _parse_porcelain(out: bytes) -> list[tuple[int, str, dict[str, str]]]:
    rows = []
    info: dict[str, str] = {}
    for raw in out.split(b"\n"):
        if raw.startswith(b"\t"):
            rows.append((int(info["final"]), raw[1:].decode("utf-8", "replace"), info))
            info = {}
        elif raw:
            key, _, value = raw.decode("utf-8", "replace").partition(" ")
            if not info:
                parts = value.split()
                info = {"sha": key, "orig": parts[0] if parts else "0", "final": parts[1] if len(parts) > 1 else "0"}
            else:
                info[key] = value
    return rows


class _Resolver:
    """Caches per commit and per session, so a long file costs a handful of git processes."""

    def __init__(self, repo: git.Repo, path: str) -> None:
        self.repo = repo
        self.path = path
        self._commit: dict[str, list[tuple[str, int | None, str]]] = {}
        self._blamed: dict[tuple[str, str], list[tuple[int, str] | None]] = {}
        self._events: dict[str, tuple[list[dict[str, Any]], dict[int, Attribution]]] = {}
        self._steps: dict[tuple[str, int], SessionLine] = {}
        self._links: dict[str, dict] | None = None
        self._store = SessionStore.open(repo)
        self._trailers: dict[str, dict[str, list[str]]] = {}
        self._blobs: dict[str, str | None] = {}

    def prefetch(self, commits: dict[str, str]) -> None:
        """Trailers and blob ids of every blamed commit: two git processes for the whole file."""
        shas = [sha for sha in commits if sha != UNCOMMITTED]
        self._trailers = git.commit_trailers(self.repo, shas)
        blobs = git.object_ids(self.repo, [f"{sha}:{commits[sha]}" for sha in shas])
        self._blobs = dict(zip(shas, blobs))

    def line(self, sha: str, filename: str, orig: int, text: str) -> SessionLine | None:
        for session_id, step, via in self._candidates(sha, filename):
            if via == "trailer" and session_id not in self.links():
                return SessionLine(session=session_id, step=None, commit=None, agent=None, decision=None,
                                   reasoning=None, via=via, present=False)
            if via == "step-commit" and step is not None:
                located: tuple[int, str] | None = (step, sha)
            else:
                located = self._locate(session_id, sha, filename, orig, text)
            if located is not None and located[0] > 0:  # step 0 is the user's worktree before the run
                return self._describe(session_id, located[0], located[1], via)
        return None

    def _candidates(self, sha: str, filename: str) -> list[tuple[str, int | None, str]]:
        if sha not in self._commit:
            self._commit[sha] = self._find(sha, filename)
        return self._commit[sha]

    def _find(self, sha: str, filename: str) -> list[tuple[str, int | None, str]]:
        if sha != UNCOMMITTED:
            trailers = self._trailers.get(sha, {})
            if _step_number(trailers) is not None and trailers.get(TRAILER_SESSION):
                return [(trailers[TRAILER_SESSION][0], _step_number(trailers), "step-commit")]
            linked = [(sid, None, "trailer") for sid in trailers.get(TRAILER_LINK, [])]
            if linked:
                return linked
            blob = self._blobs.get(sha)
        else:
            blob = self._blob(sha)
        index = links.blob_index(self.links())
        return [(link.session, link.step, "content") for link in index.get((filename, blob or ""), [])]

    def links(self) -> dict[str, dict]:
        if self._links is None:
            self._links = links.load_links(self.repo)
        return self._links

    def _locate(self, session_id: str, sha: str, filename: str, orig: int, text: str) -> tuple[int, str] | None:
        """(step, step commit) that wrote line ``orig`` of ``filename`` as committed in ``sha``: git
        blame over the session's step commits, from the step whose file is exactly that content; when
        no step's is (the user edited it before committing), the last step that wrote a line so."""
        versions = self._versions(session_id, filename)
        blob = self._blob(sha)
        exact = [commit for _, commit, version in versions if version == blob]
        if exact:
            lines = self._step_blame(exact[-1], filename)
            return lines[orig - 1] if 0 < orig <= len(lines) else None
        if not versions:
            return None
        by_text: dict[str, tuple[int, str]] = {}
        last = versions[-1][1]
        content = (git.cat_files(self.repo, [f"{last}:{filename}"])[0] or b"").decode("utf-8", "replace")
        for line_text, located in zip(content.split("\n"), self._step_blame(last, filename)):
            if located is not None:
                by_text[line_text] = located
        return by_text.get(text)

    def _versions(self, session_id: str, filename: str) -> list[tuple[int, str, str]]:
        """(step, step commit, blob) of every step of the session that wrote ``filename``, in order."""
        entry = self.links().get(session_id) or {"blobs": []}
        return sorted((step, commit, blob) for path, blob, step, commit in entry["blobs"] if path == filename)

    def _blob(self, sha: str) -> str | None:
        if sha == UNCOMMITTED and sha not in self._blobs:
            self._blobs[sha] = git.hash_worktree_file(self.repo, self.path)
        return self._blobs.get(sha)

    def _step_blame(self, commit: str, filename: str) -> list[tuple[int, str] | None]:
        """git blame of ``filename`` at step commit ``commit``: per line, the step that wrote it
        (None for lines older than the session's step 0)."""
        key = (commit, filename)
        if key not in self._blamed:
            rows = _parse_porcelain(git.blame_porcelain(self.repo, filename, commit))
            shas = sorted({info["sha"] for _, _, info in rows})
            trailers = git.commit_trailers(self.repo, shas)
            steps = {sha: _step_number(trailers.get(sha, {})) for sha in shas}
            self._blamed[key] = [(steps[info["sha"]], info["sha"]) if steps[info["sha"]] is not None else None
                                 for _, _, info in rows]
        return self._blamed[key]

    def _describe(self, session_id: str, step: int, commit: str, via: str) -> SessionLine:
        key = (session_id, step)
        if key not in self._steps:
            self._steps[key] = self._step_line(session_id, step, commit, via)
        return self._steps[key]

    def _step_line(self, session_id: str, step: int, commit: str, via: str) -> SessionLine:
        info = self._session(session_id)
        if info is None:
            return SessionLine(session=session_id, step=step, commit=commit, agent=None, decision=None,
                               reasoning=None, via=via, present=False)
        if session_id not in self._events:
            events = list(self._store.events(info))
            self._events[session_id] = (events, attribute_steps(events))
        events, attributions = self._events[session_id]
        explained = explain_step(events, step, attributions)
        decision: dict[str, Any] = (explained.decision or {}).get("data") or {}
        actor = explained.tool_call or explained.decision or explained.produced_by or {}
        return SessionLine(session=session_id, step=step, commit=commit, agent=actor.get("agent") or
                           info.meta.agent, decision=decision.get("decision"),
                           reasoning=decision.get("reasoning"), via=via, present=True)

    def _session(self, session_id: str) -> Session | None:
        session = self._store.get(session_id)
        return None if session is None or session.damaged else session


def _step_number(trailers: dict[str, list[str]]) -> int | None:
    """The step a commit is, from its trailers (None: not a step commit)."""
    if KIND_STEP not in trailers.get(TRAILER_KIND, []):
        return None
    value = (trailers.get(TRAILER_STEP) or [""])[0]
    return int(value) if value.isdigit() else None
