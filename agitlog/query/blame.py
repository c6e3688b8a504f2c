"""`agitlog blame FILE`: git blame, plus the session, step, agent and decision behind each line.

A blamed commit leads to a session in one of three ways, tried in order:
1. it is a step commit itself (a branch adopted the session's commits): its trailers name them;
2. its message carries ``Agent-Session: <id>`` (added by the prepare-commit-msg hook);
3. the file content it committed is exactly what a session's step wrote (agitlog.store.provenance).
Within the session, the step is the last one that introduced the line's text into the file.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agitlog import git
from agitlog.store import provenance as links
from agitlog.query.bisect import explain_step
from agitlog.constants import TRAILER_LINK, KIND_STEP, TRAILER_EVENT, TRAILER_KIND, TRAILER_SESSION, TRAILER_STEP
from agitlog.errors import UsageError
from agitlog.store.sessions import Session, SessionStore

UNCOMMITTED = "0" * 40


@dataclass(frozen=True)
class SessionLine:
    session: str
    step: int | None
    commit: str | None          # the step commit
    agent: str | None
    decision: str | None
    reasoning: str | None
    via: str                    # "step-commit", "trailer" or "content"
    present: bool               # False: the session is named but not in this repository


@dataclass(frozen=True)
class BlameLine:
    number: int
    text: str
    commit: str
    author: str
    author_time: int
    summary: str
    session: SessionLine | None


@dataclass(frozen=True)
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
                       session=resolver.line(info["sha"], info.get("filename", rel), text))
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
                info = {"sha": key, "final": parts[1] if len(parts) > 1 else "0"}
            else:
                info[key] = value
    return rows


class _Resolver:
    """Caches per commit and per session, so a long file costs a handful of git processes."""

    def __init__(self, repo: git.Repo, path: str) -> None:
        self.repo = repo
        self.path = path
        self._commit: dict[str, list[tuple[str, int | None, str]]] = {}
        self._introduced: dict[str, dict[str, tuple[int, str]]] = {}
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

    def line(self, sha: str, filename: str, text: str) -> SessionLine | None:
        for session_id, step, via in self._candidates(sha, filename):
            introduced = self._introduced_lines(session_id).get(text)
            if introduced is not None:
                return self._describe(session_id, introduced[0], introduced[1], via)
            if via == "step-commit" and step is not None:
                return self._describe(session_id, step, sha, via)
            if via == "trailer" and session_id not in self.links():
                return SessionLine(session=session_id, step=None, commit=None, agent=None, decision=None,
                                   reasoning=None, via=via, present=False)
        return None

    def _candidates(self, sha: str, filename: str) -> list[tuple[str, int | None, str]]:
        if sha not in self._commit:
            self._commit[sha] = self._find(sha, filename)
        return self._commit[sha]

    def _find(self, sha: str, filename: str) -> list[tuple[str, int | None, str]]:
        if sha != UNCOMMITTED:
            trailers = self._trailers.get(sha, {})
            if KIND_STEP in trailers.get(TRAILER_KIND, []) and trailers.get(TRAILER_SESSION):
                step = (trailers.get(TRAILER_STEP) or ["0"])[0]
                return [(trailers[TRAILER_SESSION][0], int(step) if step.isdigit() else None, "step-commit")]
            linked = [(sid, None, "trailer") for sid in trailers.get(TRAILER_LINK, [])]
            if linked:
                return linked
            blob = self._blobs.get(sha)
        else:
            blob = git.hash_worktree_file(self.repo, self.path)
        index = links.blob_index(self.links())
        return [(link.session, link.step, "content") for link in index.get((filename, blob or ""), [])]

    def links(self) -> dict[str, dict]:
        if self._links is None:
            self._links = links.load_links(self.repo)
        return self._links

    def _introduced_lines(self, session_id: str) -> dict[str, tuple[int, str]]:
        """line text -> (step, step commit) that last introduced it into this file."""
        if session_id not in self._introduced:
            self._introduced[session_id] = self._scan_steps(session_id)
        return self._introduced[session_id]

    def _scan_steps(self, session_id: str) -> dict[str, tuple[int, str]]:
        entry = self.links().get(session_id)
        if not entry:
            return {}
        versions = sorted((step, commit, blob) for path, blob, step, commit in entry["blobs"] if path == self.path)
        contents = git.cat_files(self.repo, [blob for _, _, blob in versions])
        introduced: dict[str, tuple[int, str]] = {}
        previous: set[str] = set()
        for (step, commit, _), data in zip(versions, contents):
            current = set((data or b"").decode("utf-8", "replace").split("\n"))
            for text in current - previous:
                introduced[text] = (step, commit)
            previous = current
        return introduced

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
        events = self._store.events(info)
        seq_text = (git.commit_trailers(self.repo, [commit]).get(commit, {}).get(TRAILER_EVENT) or [""])[0]
        seq = int(seq_text) if seq_text.isdigit() else None
        explained = explain_step(events, seq=seq, after_seq=_previous_step_seq(events, step))
        decision: dict[str, Any] = (explained.decision or {}).get("data") or {}
        actor = explained.tool_call or explained.decision or explained.produced_by or {}
        return SessionLine(session=session_id, step=step, commit=commit, agent=actor.get("agent") or
                           info.meta.agent, decision=decision.get("decision"),
                           reasoning=decision.get("reasoning"), via=via, present=True)

    def _session(self, session_id: str) -> Session | None:
        session = self._store.get(session_id)
        return None if session is None or session.damaged else session


def _previous_step_seq(events: list[dict[str, Any]], step: int) -> int:
    """The event that produced the previous step (the first one recorded with it in effect)."""
    for event in events:
        if event.get("step") == step - 1:
            return event.get("seq", -1)
    return -1
