"""Storage format v1 (docs/format.md): sessions as ordinary git objects under refs/agent-sessions/.

    refs/agent-sessions/<id>  ->  record commit   tree: session.toml, events.jsonl[, attachments/]
                                      |  parent
                                  step N commit   tree: the worktree after step N
                                      |
                                  step 0 commit   tree: the worktree before the run
                                      |  parent (none on an unborn branch)
                                  the commit HEAD pointed at when the session started

While a session is recording, its ref points at its latest step commit and its events live in the
journal (agitlog.store.journal); finalising writes the record commit on top.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

from agitlog import git
from agitlog.constants import (
    FORMAT_VERSION, KIND_RECORD, KIND_STEP, RECORD_ATTACHMENTS_DIR, RECORD_EVENTS_FILE, RECORD_META_FILE,
    REF_PREFIX, STATUS_RUNNING, TRAILER_EVENT, TRAILER_FORMAT, TRAILER_KIND, TRAILER_SESSION, TRAILER_STEP,
)
from agitlog.errors import CorruptRecordError, SessionNotFoundError, UsageError
from agitlog.store.events import iter_events
from agitlog.store.journal import Journal, iter_journals

_ID_ALPHABET = set("0123456789abcdefghijklmnopqrstuvwxyz-")


def new_session_id() -> str:
    """Ids sort by start time and are safe in ref names: 20261126-034412-3f9a1c."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + os.urandom(3).hex()


def session_ref(session_id: str) -> str:
    return REF_PREFIX + session_id


def step_message(*, session_id: str, step: int, event_seq: int | None, summary: str) -> str:
    trailers = [f"{TRAILER_SESSION}: {session_id}", f"{TRAILER_KIND}: {KIND_STEP}", f"{TRAILER_STEP}: {step}"]
    if event_seq is not None:
        trailers.append(f"{TRAILER_EVENT}: {event_seq}")
    return f"agitlog step {step}: {one_line(summary)}\n\n" + "\n".join(trailers) + "\n"


def record_message(meta: dict[str, Any]) -> str:
    title = meta.get("name") or " ".join(meta.get("command", [])) or meta["id"]
    exit_part = f", exit {meta['exit_code']}" if "exit_code" in meta else ""
    trailers = [f"{TRAILER_SESSION}: {meta['id']}", f"{TRAILER_KIND}: {KIND_RECORD}",
                f"{TRAILER_FORMAT}: {FORMAT_VERSION}"]
    return (f"agitlog session {meta['id']}: {one_line(title)} ({meta.get('status')}{exit_part})\n\n"
            + "\n".join(trailers) + "\n")


def one_line(text: str, limit: int = 72) -> str:
    flat = " ".join(str(text).split())
    flat = "".join(ch if ch.isprintable() else "?" for ch in flat)
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def dump_meta(meta: dict[str, Any]) -> str:
    import tomli_w  # only finalising pays for it
    return tomli_w.dumps(_without_none(meta))


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_without_none(v) for v in value if v is not None]
    return value


def write_record(
    repo: git.Repo,
    *,
    journal: Journal,
    meta: dict[str, Any],
    last_step: str,
) -> str:
    """Write the record commit for a finished session and move its ref onto it; returns the commit.
    All blobs (metadata, events, attachments) are written by one git process."""
    meta_file = journal.path / RECORD_META_FILE
    meta_file.write_text(dump_meta(meta), encoding="utf-8")
    journal.events_file.touch()
    attachments = journal.attachment_files()
    meta_blob, events_blob, *attachment_blobs = git.hash_files(repo, [meta_file, journal.events_file, *attachments])
    entries = [("100644", "blob", events_blob, RECORD_EVENTS_FILE), ("100644", "blob", meta_blob, RECORD_META_FILE)]
    attachment_entries = [("100644", "blob", sha, path.name) for path, sha in zip(attachments, attachment_blobs)]
    if attachment_entries:
        entries.append(("040000", "tree", git.mktree(repo, attachment_entries), RECORD_ATTACHMENTS_DIR))
    tree = git.mktree(repo, entries)
    commit = git.commit_tree(repo, tree=tree, parents=[last_step], message=record_message(meta))
    git.update_ref(repo, session_ref(meta["id"]), commit, last_step, message=f"agitlog: finish {meta['id']}")
    return commit


# --- reading --------------------------------------------------------------------------------------

@dataclass
class SessionInfo:
    """A session as `log` lists it: its metadata and where it is stored."""

    id: str
    meta: dict[str, Any]
    ref: str
    commit: str | None          # the record commit, or the latest step commit while recording
    journal: Journal | None = None
    events_cache: list[dict[str, Any]] | None = field(default=None, repr=False)

    @property
    def live(self) -> bool:
        return self.journal is not None

    @property
    def started_at(self) -> str:
        return self.meta.get("started_at", "")


def list_sessions(repo: git.Repo) -> list[SessionInfo]:
    """Every session in the repository, newest first: finished records and sessions still recording."""
    from agitlog.store.metacache import session_refs_and_metas  # cached by ref sha (issue 6: 10,000 sessions)

    sessions: dict[str, SessionInfo] = {}
    refs, metas = session_refs_and_metas(repo, parse_meta)
    for ref in refs:
        if ref.kind == KIND_RECORD:
            session_id = ref.name.removeprefix(REF_PREFIX)
            sessions[session_id] = SessionInfo(id=session_id, meta=metas[ref.sha], ref=ref.name,
                                               commit=ref.sha)
    step_tips = {ref.name.removeprefix(REF_PREFIX): ref.sha for ref in refs if ref.kind != KIND_RECORD}
    for journal in iter_journals(repo.state_dir):
        if journal.session_id in sessions:
            continue
        try:
            meta = dict(journal.read_start(), status=STATUS_RUNNING)
        except CorruptRecordError:
            continue  # reported by `agitlog recover`
        sessions[journal.session_id] = SessionInfo(
            id=journal.session_id, meta=meta, ref=session_ref(journal.session_id),
            commit=step_tips.get(journal.session_id), journal=journal)
    return sorted(sessions.values(), key=lambda s: (s.started_at, s.id), reverse=True)


def parse_meta(blob: bytes | None, session_id: str) -> dict[str, Any]:
    """A record's session.toml as readers expect it (see normalize_meta). A corrupt one reads as
    status "corrupt", so it is listed (and can be inspected or removed), never fatal to listing."""
    try:
        return _parse_meta(blob, session_id)
    except CorruptRecordError as exc:
        return normalize_meta({"status": "corrupt", "reason": exc.message}, session_id)


def _parse_meta(blob: bytes | None, session_id: str) -> dict[str, Any]:
    if blob is None:
        raise CorruptRecordError(f"session {session_id} has no {RECORD_META_FILE}",
                                 hint=f"inspect it with `git show {session_ref(session_id)}`")
    import tomllib  # read commands only; `agitlog run` never parses a record

    try:
        return normalize_meta(tomllib.loads(blob.decode("utf-8")), session_id)
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CorruptRecordError(f"session {session_id}: {RECORD_META_FILE} is unreadable: {exc}") from None


_META_STRINGS = ("name", "agent", "status", "cwd", "started_at", "ended_at", "host", "user", "trace_id", "root_span",
                 "parent_span", "parent_session", "rerun_of", "agitlog_version", "reason")
_META_NUMBERS = {"duration_s": float, "exit_code": int, "signal": int, "pid": int, "format": int}


def normalize_meta(meta: dict[str, Any], session_id: str) -> dict[str, Any]:
    """Metadata as readers expect it. A session fetched from a teammate is untrusted: a field of the
    wrong type is dropped rather than allowed to break every command that lists sessions."""
    clean: dict[str, Any] = dict(meta)
    clean["id"] = session_id  # the ref name is the truth
    for key in _META_STRINGS:
        if key in clean and not isinstance(clean[key], str):
            del clean[key]
    for key, kind in _META_NUMBERS.items():
        value = clean.get(key)
        if key in clean and (isinstance(value, bool) or not isinstance(value, (int, float)) or not _in_range(value)):
            del clean[key]
        elif key in clean:
            clean[key] = kind(value)
    clean["command"] = [str(c) for c in clean["command"]] if isinstance(clean.get("command"), list) else []
    clean["env_names"] = [str(c) for c in clean.get("env_names", [])] if isinstance(clean.get("env_names"), list) else []
    for table in ("git", "steps", "stats"):
        if not isinstance(clean.get(table), dict):
            clean[table] = {}
    steps = clean["steps"]
    clean["steps"] = {k: v for k, v in steps.items() if (k == "count" and isinstance(v, int) and _in_range(v)) or
                      (k in ("first", "last") and isinstance(v, str) and _is_oid(v))}
    clean["git"] = {k: v for k, v in clean["git"].items() if isinstance(v, str)}
    stats = clean["stats"]
    clean["stats"] = {k: v for k, v in stats.items()
                      if (k == "models" and isinstance(v, dict))
                      or (k != "models" and isinstance(v, int) and not isinstance(v, bool) and _in_range(v))}
    models = clean["stats"].get("models", {})
    clean["stats"]["models"] = {str(m): {k: v for k, v in u.items() if isinstance(v, int) and _in_range(v)}
                                for m, u in models.items() if isinstance(u, dict)}
    return clean


def _in_range(value: int | float) -> bool:
    """Finite and small enough for every consumer (int(), SQLite, timedelta): inf, nan and 2**70 are not."""
    return -(2**53) < value < 2**53


def _is_oid(text: str) -> bool:
    return len(text) in (40, 64) and all(c in "0123456789abcdef" for c in text)


def resolve_session(repo: git.Repo, query: str | None, sessions: list[SessionInfo] | None = None) -> SessionInfo:
    """The session an id, a unique id prefix, a unique prefix of the id's random part (at least 4
    characters), or (None) "the latest one" names."""
    sessions = list_sessions(repo) if sessions is None else sessions
    if not sessions:
        raise SessionNotFoundError("no recorded sessions in this repository",
                                   hint="record one with `agitlog run -- <command>`")
    if query is None:
        return sessions[0]
    query = query.removeprefix(REF_PREFIX)
    if not query or not set(query) <= _ID_ALPHABET:
        raise UsageError(f"not a session id: {query!r}", hint="list sessions with `agitlog log`")
    exact = [s for s in sessions if s.id == query]
    matches = exact or [s for s in sessions if s.id.startswith(query)] or _by_random_part(sessions, query)
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise SessionNotFoundError(f"no session matches {query!r}", hint="list sessions with `agitlog log`")
    names = ", ".join(s.id for s in matches[:5])
    raise UsageError(f"{query!r} matches {len(matches)} sessions ({names}{', …' if len(matches) > 5 else ''})",
                     hint="give more characters of the id")


def _by_random_part(sessions: list[SessionInfo], query: str) -> list[SessionInfo]:
    """``agitlog rm 3f9a1c``: the random part that ends every id is a handle too (teamwork, issue 6)."""
    if len(query) < 4 or "-" in query:
        return []
    return [s for s in sessions if s.id.rsplit("-", 1)[-1].startswith(query)]


def load_events(repo: git.Repo, session: SessionInfo) -> list[dict[str, Any]]:
    """The session's events in order, from its record or, while it records, from its journal."""
    if session.events_cache is None:
        if session.journal is not None:
            data = session.journal.events_file.read_bytes() if session.journal.events_file.exists() else b""
            data = data[: data.rfind(b"\n") + 1]
        else:
            data = git.cat_file(repo, f"{session.commit}:{RECORD_EVENTS_FILE}") or b""
        session.events_cache = list(iter_events(data))
    return session.events_cache


def load_attachments(repo: git.Repo, session: SessionInfo, names: list[str]) -> dict[str, bytes]:
    """Payloads events refer to by name (their blob ids), from the record or the live journal; one
    git process for all of them. Names that are not stored are left out."""
    wanted = sorted({name for name in names if name and set(name) <= set("0123456789abcdef")})
    if session.journal is not None:
        paths = {name: session.journal.attachments_dir / name for name in wanted}
        return {name: path.read_bytes() for name, path in paths.items() if path.is_file()}
    blobs = git.cat_files(repo, [f"{session.commit}:{RECORD_ATTACHMENTS_DIR}/{name}" for name in wanted])
    return {name: blob for name, blob in zip(wanted, blobs) if blob is not None}


def step_commits(repo: git.Repo, session: SessionInfo) -> list[str]:
    """Step commits in order: index i is step i."""
    tip = session.meta.get("steps", {}).get("last")
    if session.journal is not None:
        tip = session.commit
    if not tip:
        return []
    base = session.meta.get("git", {}).get("base_commit")
    return list(reversed(git.rev_list(repo, tip, stop_at=base)))
