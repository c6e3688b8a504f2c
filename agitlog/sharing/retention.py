"""Retention: `agitlog rm` and `agitlog gc`.

Removing a session deletes its ref (locally, and on a remote with ``--remote``); git's own
``git gc`` later reclaims the objects no other ref reaches. A step commit a user's branch or tag has
since adopted stays reachable from it whatever happens; `gc` goes further and keeps the whole
session of such a step, so the branch's history keeps its explanation. Both finish with
``git pack-refs``, which keeps thousands of session refs in one file and every command fast.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Sequence

from agitlog import git
from agitlog.constants import REF_PREFIX, TRAILER_SESSION, TRAILER_STEP
from agitlog.errors import SessionNotFoundError, UsageError
from agitlog.store.events import parse_ts
from agitlog.sharing.remotes import RemoteError, match_remote_refs
from agitlog.store.sessions import Session, SessionStore


@dataclass(frozen=True)
class RmResult:
    removed: list[str] = field(default_factory=list)
    remote: str | None = None
    remote_removed: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class GcResult:
    cutoff: datetime | None
    removed: list[str] = field(default_factory=list)
    kept_adopted: list[str] = field(default_factory=list)
    kept_recording: list[str] = field(default_factory=list)
    remaining: int = 0            # sessions left afterwards (with dry_run: that would be left)
    dry_run: bool = False


def rm_sessions(repo: git.Repo, *, sessions: Sequence[str], remote: str | None = None,
                names: Sequence[str] = ()) -> RmResult:
    """Delete the sessions ``sessions`` and ``names`` name; with ``remote`` also there (sessions only
    on the remote included, by id)."""
    if not sessions and not names:
        raise UsageError("name the sessions to remove", hint="see `agitlog log`; e.g. agitlog rm 20261126-0344")
    store = SessionStore.open(repo)
    local: dict[str, str] = {}
    remote_only: list[str] = []
    for query in sessions:
        try:
            info = store.resolve(query, intact=False)  # a damaged session can always be removed
        except SessionNotFoundError:
            if remote is None:
                raise
            remote_only.append(query)
            continue
        _refuse_live(info)
        local[info.ref] = info.commit or ""
    for info in store.resolve_all((), names=names, intact=False):  # a name is known here only
        _refuse_live(info)
        local[info.ref] = info.commit or ""
    remote_refs = list(local) + (match_remote_refs(git.ls_remote(repo, remote, REF_PREFIX), remote_only)
                                 if remote and remote_only else [])
    # Local refs first: after `agitlog remote setup` the fetch refspec maps each remote session ref onto
    # the local one, so a push that deletes it on the remote deletes it here too, and a local delete
    # after it failed with "cannot lock ref". A session gone here but refused there can be named again.
    git.delete_refs(repo, local)
    remote_removed = _delete_remote(repo, remote, remote_refs) if remote else []
    git.pack_refs(repo)
    return RmResult(removed=[ref.removeprefix(REF_PREFIX) for ref in local], remote=remote,
                    remote_removed=remote_removed)


def _refuse_live(info: Session) -> None:
    if info.live:
        raise UsageError(f"session {info.id} is still recording", hint="wait for it to finish, then remove it")


def _delete_remote(repo: git.Repo, remote: str, refs: Sequence[str]) -> list[str]:
    if not refs:
        return []
    rows = git.push(repo, remote, [f":{ref}" for ref in refs])
    failed = [(spec, summary) for flag, spec, summary in rows if flag == "!"]
    if failed:
        raise RemoteError(f"{remote} refused to delete {failed[0][0]}: {failed[0][1]}",
                          hint="the remote may forbid deleting refs (receive.denyDeletes)")
    return [spec.partition(":")[2].removeprefix(REF_PREFIX) for flag, spec, _ in rows if flag == "-"]


def gc_sessions(repo: git.Repo, *, older_than: datetime | None, dry_run: bool = False,
                keep_adopted: bool = True) -> GcResult:
    """Remove finished sessions started before ``older_than`` (None: remove nothing, only pack refs),
    keeping any session a branch or tag has adopted a step commit of."""
    sessions = SessionStore.open(repo).all()
    old = [s for s in sessions if older_than is not None and _started(s) < older_than]
    recording = [s.id for s in old if s.live]
    candidates = [s for s in old if not s.live]
    adopted = _adopted(repo, candidates) if keep_adopted and candidates else set()
    doomed = {s.ref: s.commit or "" for s in candidates if s.id not in adopted}
    if not dry_run:
        git.delete_refs(repo, doomed)
        git.pack_refs(repo)
    return GcResult(cutoff=older_than, removed=sorted(ref.removeprefix(REF_PREFIX) for ref in doomed),
                    kept_adopted=sorted(adopted), kept_recording=sorted(recording),
                    remaining=len(sessions) - len(doomed), dry_run=dry_run)


def _started(info: Session) -> datetime:
    try:
        return parse_ts(info.meta.started_at)
    except ValueError:
        return parse_ts("9999-12-31T00:00:00.000000Z")  # an unreadable start time is never "old"


def _adopted(repo: git.Repo, candidates: Sequence[Session]) -> set[str]:
    """Ids of sessions with a step commit reachable from a branch or a tag."""
    bases = {s.meta.git.base_commit for s in candidates} - {None}
    bases = {b for b, found in zip(sorted(bases), git.object_ids(repo, sorted(bases))) if found}  # crafted: may name nothing
    tips = [s.commit for s in candidates if s.commit]
    steps = git.step_blobs(repo, tips + [f"^{b}" for b in bases], session_key=TRAILER_SESSION, step_key=TRAILER_STEP)
    reachable = git.reachable_from(repo, ["--branches", "--tags"], exclude=sorted(bases))
    wanted = {s.id for s in candidates}
    return {session for commit, session, step, _ in steps if commit in reachable and session in wanted}

