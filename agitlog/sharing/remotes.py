"""Sharing sessions with git's own transport: push, fetch, remote setup, bundles.

Sessions travel as ordinary refs under ``refs/agent-sessions/``. Every transfer here names that
namespace explicitly (``+refs/agent-sessions/*:refs/agent-sessions/*`` or one refspec per session),
so a branch or tag is never pushed or fetched by agitlog. Nothing is sent unless the user runs
``agitlog push`` or configured it (``agitlog remote setup``).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from agitlog import git
from agitlog.store import provenance as links
from agitlog.constants import REF_PREFIX
from agitlog.errors import AgitlogError, UsageError
from agitlog.store.origin import recorded_ids
from agitlog.store.records import session_ref
from agitlog.store.sessions import SessionStore
from agitlog.sharing.remote_names import RemoteSessions, default_remote, unfetched_sessions  # noqa: F401

# Not forced ("+"): plain `git fetch` / `git push` may add sessions and fast-forward them, never replace one.
ALL_SESSIONS_REFSPEC = f"{REF_PREFIX}*:{REF_PREFIX}*"
FORCED_REFSPEC = f"+{REF_PREFIX}*:{REF_PREFIX}*"   # what older versions configured; setup replaces it
CONFLICT_PREFIX = "refs/agent-sessions-conflicts/"
PUSH_CONFIG = "agitlogpush"
PACK_AFTER = 500              # fetching this many sessions packs refs afterwards   # remote.<name>.agitlogpush = true: the pre-push hook pushes sessions along


class RemoteError(AgitlogError):
    code = "remote"


@dataclass(frozen=True)
class PushResult:
    remote: str
    pushed: list[str] = field(default_factory=list)      # session ids sent (new or updated)
    up_to_date: list[str] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (session id, reason)
    deleted: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class FetchResult:
    source: str
    new: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)      # fast-forwards of sessions recorded elsewhere
    unchanged: int = 0
    conflicts: list[tuple[str, str]] = field(default_factory=list)  # (session id, ref keeping the remote's copy)
    skipped: list[tuple[str, str]] = field(default_factory=list)    # (remote ref, why it was not fetched)


def split_remote_and_sessions(repo: git.Repo, words: Sequence[str]) -> tuple[str | None, list[str]]:
    """`push origin a b`, `push a b` and `push /path/to/bare.git`: the first word is a remote when it
    names one (or looks like a URL or a path), otherwise every word is a session."""
    if not words:
        return None, []
    first = words[0]
    if first in git.list_remotes(repo) or ":" in first or "/" in first or first.startswith("."):
        return first, list(words[1:])
    return None, list(words)


def _session_refspecs(repo: git.Repo, sessions: Sequence[str], names: Sequence[str] = ()) -> list[str]:
    if not sessions and not names:
        return [ALL_SESSIONS_REFSPEC]
    store = SessionStore.open(repo)
    refs = [session_ref(s.id) for s in store.resolve_all(sessions, names=names, intact=False)]
    return [f"{ref}:{ref}" for ref in dict.fromkeys(refs)]  # never forced: a remote's copy is not ours to replace


def push_sessions(repo: git.Repo, *, remote: str | None = None, sessions: Sequence[str] = (),
                  allow_secrets: bool = False, names: Sequence[str] = ()) -> PushResult:
    """Push all sessions (or those ``sessions`` and ``names`` name) and nothing else; a rejected ref is
    reported, not raised. What would be published first passes the secret scan (SecretsFoundError)
    unless ``allow_secrets``."""
    remote = remote or default_remote(repo)
    refspecs = _session_refspecs(repo, sessions, names)
    if refspecs == [ALL_SESSIONS_REFSPEC] and not git.ref_shas(repo, REF_PREFIX.rstrip("/")):
        return PushResult(remote=remote)
    _check_secrets(repo, refspecs, action=f"pushing to {remote}", allow_secrets=allow_secrets)
    rows = git.push(repo, remote, refspecs)
    result = PushResult(remote=remote)
    for flag, refs, summary in rows:
        session_id = refs.partition(":")[2].removeprefix(REF_PREFIX)
        if flag == "=":
            result.up_to_date.append(session_id)
        elif flag == "!":
            result.rejected.append((session_id, summary))
        elif flag == "-":
            result.deleted.append(session_id)
        else:
            result.pushed.append(session_id)
    return result


def _check_secrets(repo: git.Repo, refspecs: Sequence[str], *, action: str, allow_secrets: bool) -> None:
    from agitlog.sharing.scan import check_publish, sessions_for_refs  # noqa: PLC0415

    refs = git.ref_shas(repo, REF_PREFIX.rstrip("/"))
    if refspecs != [ALL_SESSIONS_REFSPEC]:
        wanted = {spec.lstrip("+").partition(":")[0] for spec in refspecs}
        refs = {name: sha for name, sha in refs.items() if name in wanted}
    sessions = sessions_for_refs(SessionStore.open(repo).all(), refs)
    check_publish(repo, sessions, action=action, allow_secrets=allow_secrets)


def fetch_sessions(repo: git.Repo, *, remote: str | None = None, sessions: Sequence[str] = (),
                   label: str | None = None, check_each: bool = False) -> FetchResult:
    """Fetch all of a remote's sessions (or the named ids/prefixes); branches and tags are left alone.

    Nothing local is ever overwritten: a session arrives only where this repository has no session of
    that id, or as a fast-forward of one it did not record itself. A different copy of an existing
    session is kept under ``refs/agent-sessions-conflicts/<label>/<id>`` instead. Every object is
    fsck-checked; a session that fails (or has a name agitlog would not write) is skipped and
    reported, and the others arrive."""
    source = remote or default_remote(repo)
    available = git.ls_remote(repo, source, REF_PREFIX)
    requested = match_remote_refs(available, sessions) if sessions else sorted(available)
    local = git.ref_shas(repo, REF_PREFIX.rstrip("/"))
    skipped = [(ref, "not a session id agitlog accepts") for ref in requested if not _acceptable(ref)]
    wanted = [ref for ref in requested if _acceptable(ref) and local.get(ref) != available[ref]]
    if not local and not check_each and len(wanted) > _NAMED_MAX:
        new = _fetch_into_empty(repo, source, wanted)
        if new is not None:
            return _indexed(repo, FetchResult(source=source, new=new, skipped=skipped))
        local = git.ref_shas(repo, REF_PREFIX.rstrip("/"))  # git refused: as far as it went, it went
        wanted = [ref for ref in wanted if local.get(ref) != available[ref]]
    staging = f"{_STAGING}{os.getpid()}/"
    try:
        if len(wanted) > _NAMED_MAX:  # one pattern: git matches each named ref slowly (~5 ms a ref)
            rejected = _fetch_all_checked(repo, source, wanted, staging)
        else:
            _, rejected = _fetch_checked(repo, source, wanted, staging)
        arrived = git.ref_shas(repo, staging.rstrip("/"))
        if len(wanted) > _NAMED_MAX:  # the pattern brought unchanged and unacceptable sessions too
            keep = {staging + ref.removeprefix(REF_PREFIX) for ref in wanted}
            arrived = {name: sha for name, sha in arrived.items() if name in keep}
        if check_each:  # a bundle: git did not check the objects itself
            rejected += _check_each(repo, arrived, staging)
        result = _adopt(repo, source=source, label=label or _label(repo, source), staging=staging,
                        arrived=arrived, local=local, skipped=skipped + rejected,
                        unchanged=len(requested) - len(wanted) - len(skipped))
    finally:
        git.delete_refs(repo, git.ref_shas(repo, staging.rstrip("/")))
    return _indexed(repo, result)


def _indexed(repo: git.Repo, result: FetchResult) -> FetchResult:
    """After a fetch: refs packed when many arrived, and the caches and search index brought up to date."""
    if len(result.new) + len(result.updated) >= PACK_AFTER:
        git.pack_refs(repo)  # fetch writes one loose file per ref; thousands of them slow every ref read
    if result.new or result.updated:
        links.load_links(repo)  # read the new sessions now, not during the next `git commit`
        from agitlog.query.logcache import refresh

        refresh(repo)  # ... and the rows of the full `log`, not during the next one
        from agitlog.query.search import update_index  # sqlite3: only a fetch that brought sessions pays

        update_index(repo)  # ... and index them now, not during the first `agitlog search`
    return result


_STAGING = "refs/agitlog-incoming/"   # a fetch lands here first, then moves only what is safe
# What every command accepts as a session id (SessionStore.resolve), so a fetched session can
# always be shown and removed; no "/" (subdirectories collide with other sessions' refs).
_SESSION_ID = re.compile(r"[0-9a-z][0-9a-z-]{0,127}")


def _acceptable(ref: str) -> bool:
    return bool(_SESSION_ID.fullmatch(ref.removeprefix(REF_PREFIX)))


_NAMED_MAX = 64  # more refs than this to fetch: one refspec pattern instead of a refspec each
_CHUNK = 64  # refs fetched by name at a time, when a pattern fetch was refused


def _fetch_into_empty(repo: git.Repo, source: str, wanted: list[str]) -> list[str] | None:
    """Into a repository with no sessions (a teammate's fresh clone) fetch them all straight into
    place: nothing here can be overwritten (nor by git: the refspec does not force), and going
    through staging doubles the ref writes and adds a delete each, which took minutes for 50,000.
    Refs agitlog does not accept are deleted again. The ids that arrived; None when git refused (a
    bad object), and then the staged fetch finds the bad sessions."""
    problem = git.fetch_checked(repo, source, [f"{REF_PREFIX}*:{REF_PREFIX}*"])
    arrived = git.ref_shas(repo, REF_PREFIX.rstrip("/"))
    git.delete_refs(repo, {ref: sha for ref, sha in arrived.items() if not _acceptable(ref)})
    if problem is not None:
        return None
    return sorted(ref.removeprefix(REF_PREFIX) for ref in set(wanted) & arrived.keys())


def _fetch_all_checked(repo: git.Repo, source: str, wanted: list[str], staging: str) -> list[tuple[str, str]]:
    """Fetch every session of ``source`` into ``staging`` in one pattern refspec: git's cost per named
    refspec made a fetch of 50,000 sessions take many minutes. When git refuses (a bad object), the
    ``wanted`` refs are fetched by name in chunks, to find the bad sessions; the rejected ones."""
    problem = git.fetch_checked(repo, source, [f"+{REF_PREFIX}*:{staging}*"])
    if problem is None:
        return []
    git.delete_refs(repo, git.ref_shas(repo, staging.rstrip("/")))  # none were written, but be sure
    rejected = []
    for start in range(0, len(wanted), _CHUNK):
        rejected += _fetch_checked(repo, source, wanted[start:start + _CHUNK], staging)[1]
    return rejected


def _fetch_checked(repo: git.Repo, source: str, refs: list[str], staging: str) -> tuple[list[str], list[tuple[str, str]]]:
    """Fetch ``refs`` into ``staging`` with fsck on; when git refuses, halve the set until the bad
    sessions are found, so one bad session costs about log2(n) extra fetches and blocks nothing else."""
    if not refs:
        return [], []
    problem = git.fetch_checked(repo, source, [f"+{ref}:{staging}{ref.removeprefix(REF_PREFIX)}" for ref in refs])
    if problem is None:
        return list(refs), []
    if len(refs) == 1:
        return [], [(refs[0], _reason(problem))]
    half = len(refs) // 2
    first_ok, first_bad = _fetch_checked(repo, source, refs[:half], staging)
    second_ok, second_bad = _fetch_checked(repo, source, refs[half:], staging)
    return first_ok + second_ok, first_bad + second_bad


def _check_each(repo: git.Repo, arrived: dict[str, str], staging: str) -> list[tuple[str, str]]:
    """Drop (from ``arrived``) every staged session whose new objects fail git's strict checks."""
    rejected = []
    for staged, sha in sorted(arrived.items()):
        problem = git.objects_problem(repo, sha, exclude=f"{staging}*")
        if problem is not None:
            del arrived[staged]
            rejected.append((REF_PREFIX + staged.removeprefix(staging), _reason(problem)))
    return rejected


def _reason(problem: str) -> str:
    lines = [line for line in problem.splitlines() if line.strip()]
    detail = next((line for line in lines if "fsck" in line or "error:" in line), lines[0] if lines else problem)
    return f"git refused it: {detail.strip()[:300]}"


def _adopt(repo: git.Repo, *, source: str, label: str, staging: str, arrived: dict[str, str],
           local: dict[str, str], skipped: list[tuple[str, str]], unchanged: int) -> FetchResult:
    """Move staged sessions into place, each with the ref's old value checked, in one transaction."""
    recorded = recorded_ids(repo.state_dir)
    updates: list[tuple[str, str, str | None]] = []
    new, updated, conflicts = [], [], []
    existing = git.ref_shas(repo, CONFLICT_PREFIX.rstrip("/"))
    for staged, sha in sorted(arrived.items()):
        session_id = staged.removeprefix(staging)
        ref, old = session_ref(session_id), local.get(session_ref(session_id))
        if old is None:
            updates.append((ref, sha, None))
            new.append(session_id)
        elif old == sha:
            unchanged += 1
        elif session_id not in recorded and git.is_ancestor(repo, old, sha):
            updates.append((ref, sha, old))
            updated.append(session_id)
        else:
            keep = f"{CONFLICT_PREFIX}{label}/{session_id}"
            if existing.get(keep) != sha:
                updates.append((keep, sha, existing.get(keep)))
            conflicts.append((session_id, keep))
    git.update_refs(repo, updates)
    return FetchResult(source=source, new=new, updated=updated, unchanged=unchanged, conflicts=conflicts,
                       skipped=skipped)


def _label(repo: git.Repo, source: str) -> str:
    """The conflict refs' folder for ``source``: a remote's name, else a digest of the URL or path."""
    if source in git.list_remotes(repo) and _SESSION_ID.fullmatch(source):
        return source
    import hashlib

    return "url-" + hashlib.sha256(source.encode("utf-8", "surrogateescape")).hexdigest()[:12]


def match_remote_refs(available: dict[str, str], queries: Sequence[str]) -> list[str]:
    """The remote session ref each id or unique prefix names (``available`` from git ls-remote)."""
    refs = []
    for query in queries:
        query = query.removeprefix(REF_PREFIX)
        ids = {ref: ref.removeprefix(REF_PREFIX) for ref in available}
        matches = [ref for ref, sid in ids.items() if sid.startswith(query)] or (
            [ref for ref, sid in ids.items() if sid.rsplit("-", 1)[-1].startswith(query)] if len(query) >= 4 else [])
        if len(matches) != 1:
            what = "no session" if not matches else f"{len(matches)} sessions"
            raise UsageError(f"{what} on the remote match {query!r}", hint="give a longer, exact session id")
        refs.append(matches[0])
    return refs


# --- remote setup ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class RemoteSetup:
    remote: str
    removed: bool
    changed: list[str]          # config lines added or removed
    hook_installed: bool
    warnings: list[str] = field(default_factory=list)


def setup_remote(repo: git.Repo, *, remote: str | None = None, push: bool = True, remove: bool = False) -> RemoteSetup:
    """Make plain `git fetch` bring sessions (a fetch refspec) and, with ``push``, make plain `git push`
    send them along (the pre-push hook, enabled per remote). Idempotent; ``remove`` undoes it.

    A ``remote.<name>.push`` refspec is deliberately not used: once one is set, a bare `git push`
    pushes only the configured refspecs and stops pushing the current branch."""
    remote = remote or default_remote(repo)
    if remote not in git.list_remotes(repo):
        raise UsageError(f"no remote named {remote!r}", hint="see `git remote -v`")
    fetch_key, push_key = f"remote.{remote}.fetch", f"remote.{remote}.{PUSH_CONFIG}"
    if remove:
        return _remove_setup(repo, remote, fetch_key, push_key)
    changed, notes = [], []
    if FORCED_REFSPEC in git.config_get_all(repo, fetch_key):  # a forced refspec lets `git fetch` replace sessions
        git.config_unset_value(repo, fetch_key, FORCED_REFSPEC)
        notes.append(f"removed {fetch_key} = {FORCED_REFSPEC}: it let `git fetch` replace local sessions")
    if ALL_SESSIONS_REFSPEC not in git.config_get_all(repo, fetch_key):
        git.config_add(repo, fetch_key, ALL_SESSIONS_REFSPEC)
        changed.append(f"{fetch_key} = {ALL_SESSIONS_REFSPEC}")
    hook_installed = False
    if push:
        if git.config_get_all(repo, push_key) != ["true"]:
            git.config_set(repo, push_key, "true")
            changed.append(f"{push_key} = true")
        hook_installed, hook_warning = _install_pre_push(repo)
    warnings = notes + _prune_warnings(repo, remote) + ([hook_warning] if push and hook_warning else [])
    return RemoteSetup(remote=remote, removed=False, changed=changed, hook_installed=hook_installed,
                       warnings=warnings)


def _install_pre_push(repo: git.Repo) -> tuple[bool, str | None]:
    from agitlog.sharing.hooks import HooksPathError, install_hooks

    try:
        return bool(install_hooks(repo, hooks=("pre-push",)).installed), None
    except HooksPathError as exc:
        return False, f"the pre-push hook was not installed: {exc.message}; `agitlog push` still works"


def _remove_setup(repo: git.Repo, remote: str, fetch_key: str, push_key: str) -> RemoteSetup:
    changed = []
    for refspec in (ALL_SESSIONS_REFSPEC, FORCED_REFSPEC):
        if refspec in git.config_get_all(repo, fetch_key):
            git.config_unset_value(repo, fetch_key, refspec)
            changed.append(f"{fetch_key} = {refspec}")
    if git.config_get_all(repo, push_key):
        git.config_unset_value(repo, push_key, git.config_get_all(repo, push_key)[0])
        changed.append(f"{push_key}")
    return RemoteSetup(remote=remote, removed=True, changed=changed, hook_installed=False)


def _prune_warnings(repo: git.Repo, remote: str) -> list[str]:
    for key in (f"remote.{remote}.prune", "fetch.prune"):
        if (git.config_get(repo, key) or "").lower() in ("true", "yes", "on", "1"):
            return [f"{key} is on: `git fetch` will delete local sessions that {remote} does not have yet; "
                    f"push them first (`agitlog push {remote}`) or turn pruning off for this remote"]
    return []


def push_enabled(repo: git.Repo, remote: str) -> bool:
    return (git.config_get(repo, f"remote.{remote}.{PUSH_CONFIG}") or "").lower() == "true"


# --- bundles --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BundleResult:
    path: Path
    sessions: list[str]
    prerequisites: list[str]    # commits the receiving repository must already have


def create_bundle(repo: git.Repo, *, output: Path, sessions: Sequence[str] = (), full: bool = False,
                  allow_secrets: bool = False, names: Sequence[str] = ()) -> BundleResult:
    """One file holding sessions (all, or the named ones) for a ticket. Unless ``full``, history the
    team already shares (base commits reachable from a remote-tracking branch) is left out. The
    sessions pass the secret scan first (SecretsFoundError) unless ``allow_secrets``."""
    from agitlog.sharing.scan import check_publish  # noqa: PLC0415

    store = SessionStore.open(repo)
    chosen = store.resolve_all(sessions, names=names) if sessions or names else [s for s in store.all() if not s.damaged]
    if any(s.live for s in chosen):
        raise UsageError(f"session {next(s.id for s in chosen if s.live)} is still recording",
                         hint="wait for it to finish, then bundle it")
    chosen = [s for s in chosen if not s.live]
    if not chosen:
        raise UsageError("no finished sessions to bundle", hint="record one with `agitlog run -- <command>`")
    bases = {s.meta.git.base_commit for s in chosen} - {None}
    bases = {b for b, found in zip(sorted(bases), git.object_ids(repo, sorted(bases))) if found}  # crafted: may name nothing
    prerequisites = [] if full else [b for b in sorted(bases) if git.refs_containing(repo, b, ["refs/remotes/"])]
    check_publish(repo, chosen, action="bundling", allow_secrets=allow_secrets)
    revs = [s.ref for s in dict((s.id, s) for s in chosen).values()] + [f"^{b}" for b in prerequisites]
    git.bundle_create(repo, output.resolve(), revs)
    return BundleResult(path=output, sessions=[s.id for s in chosen], prerequisites=prerequisites)


def import_bundle(repo: git.Repo, *, path: Path) -> FetchResult:
    """Fetch the sessions a bundle carries (and only those refs) into this repository."""
    if not path.is_file():
        raise UsageError(f"no such bundle: {path}")
    heads = git.bundle_heads(repo, path.resolve())
    if not any(name.startswith(REF_PREFIX) for name in heads):
        raise UsageError(f"{path} holds no agitlog sessions", hint="create one with `agitlog bundle -o FILE`")
    problem = git.bundle_verify(repo, path.resolve())
    if problem:
        missing = [line.removeprefix("error: ").split()[0] for line in problem.splitlines()
                   if line.removeprefix("error: ")[:40].isalnum() and len(line.removeprefix("error: ").split()[0]) == 40]
        raise RemoteError(f"this repository lacks history the bundle builds on"
                          f"{': ' + ', '.join(m[:12] for m in missing) if missing else ''}",
                          hint="fetch the project first (`git fetch`), or ask for a bundle made with --full")
    return fetch_sessions(repo, remote=str(path.resolve()), label="bundle-" + _label(repo, str(path.resolve()))[4:],
                          check_each=True)
