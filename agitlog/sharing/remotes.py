"""Sharing sessions with git's own transport: push, fetch, remote setup, bundles.

Sessions travel as ordinary refs under ``refs/agent-sessions/``. Every transfer here names that
namespace explicitly (``+refs/agent-sessions/*:refs/agent-sessions/*`` or one refspec per session),
so a branch or tag is never pushed or fetched by agitlog. Nothing is sent unless the user runs
``agitlog push`` or configured it (``agitlog remote setup``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from agitlog import git
from agitlog.store import provenance as links
from agitlog.config import load_config
from agitlog.constants import REF_PREFIX
from agitlog.errors import AgitlogError, UsageError
from agitlog.store.records import session_ref
from agitlog.store.sessions import SessionStore

ALL_SESSIONS_REFSPEC = f"+{REF_PREFIX}*:{REF_PREFIX}*"
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
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0


def default_remote(repo: git.Repo) -> str:
    """``[share] remote`` from the project config, else ``origin``, else the only remote there is."""
    remotes = git.list_remotes(repo)
    configured = load_config(repo.root).remote
    if configured:
        return configured
    if not remotes:
        raise UsageError("this repository has no remote",
                         hint="add one with `git remote add origin URL`, or name a remote or path")
    if "origin" in remotes:
        return "origin"
    if len(remotes) == 1:
        return remotes[0]
    raise UsageError(f"several remotes and none is the default: {', '.join(remotes)}",
                     hint="name one (`agitlog push upstream`) or set [share] remote in .agitlog.toml")


@dataclass(frozen=True)
class RemoteSessions:
    remote: str
    count: int


def unfetched_sessions(repo: git.Repo, *, timeout: float = 3.0) -> RemoteSessions | None:
    """The default remote and how many sessions it has, when it has any: what a fresh clone with no
    sessions of its own can `agitlog fetch`. None without a default remote or when it cannot be
    listed quickly (this only feeds a hint)."""
    try:
        remote = default_remote(repo)
    except UsageError:
        return None
    refs = git.ls_remote_quietly(repo, remote, REF_PREFIX, timeout=timeout)
    return RemoteSessions(remote=remote, count=len(refs)) if refs else None


def split_remote_and_sessions(repo: git.Repo, words: Sequence[str]) -> tuple[str | None, list[str]]:
    """`push origin a b`, `push a b` and `push /path/to/bare.git`: the first word is a remote when it
    names one (or looks like a URL or a path), otherwise every word is a session."""
    if not words:
        return None, []
    first = words[0]
    if first in git.list_remotes(repo) or ":" in first or "/" in first or first.startswith("."):
        return first, list(words[1:])
    return None, list(words)


def _session_refspecs(repo: git.Repo, sessions: Sequence[str]) -> list[str]:
    if not sessions:
        return [ALL_SESSIONS_REFSPEC]
    store = SessionStore.open(repo)
    refs = [session_ref(store.resolve(query, intact=False).id) for query in sessions]
    return [f"+{ref}:{ref}" for ref in dict.fromkeys(refs)]


def push_sessions(repo: git.Repo, *, remote: str | None = None, sessions: Sequence[str] = ()) -> PushResult:
    """Push all sessions (or the named ones) and nothing else; a rejected ref is reported, not raised."""
    remote = remote or default_remote(repo)
    refspecs = _session_refspecs(repo, sessions)
    if refspecs == [ALL_SESSIONS_REFSPEC] and not git.ref_shas(repo, REF_PREFIX.rstrip("/")):
        return PushResult(remote=remote)
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


def fetch_sessions(repo: git.Repo, *, remote: str | None = None, sessions: Sequence[str] = ()) -> FetchResult:
    """Fetch all of a remote's sessions (or the named ids/prefixes); branches and tags are left alone."""
    source = remote or default_remote(repo)
    before = git.ref_shas(repo, REF_PREFIX.rstrip("/"))
    if sessions:
        available = git.ls_remote(repo, source, REF_PREFIX)
        refspecs = [f"+{ref}:{ref}" for ref in match_remote_refs(available, sessions)]
    else:
        refspecs = [ALL_SESSIONS_REFSPEC]
    git.fetch(repo, source, refspecs)
    after = git.ref_shas(repo, REF_PREFIX.rstrip("/"))
    result = _fetch_result(source, before, after)
    if len(result.new) + len(result.updated) >= PACK_AFTER:
        git.pack_refs(repo)  # fetch writes one loose file per ref; thousands of them slow every ref read
    if result.new or result.updated:
        links.load_links(repo)  # read the new sessions now, not during the next `git commit`
        from agitlog.query.search import update_index  # sqlite3: only a fetch that brought sessions pays

        update_index(repo)  # ... and index them now, not during the first `agitlog search`
    return result


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


def _fetch_result(source: str, before: dict[str, str], after: dict[str, str]) -> FetchResult:
    new = sorted(ref.removeprefix(REF_PREFIX) for ref in after if ref not in before)
    updated = sorted(ref.removeprefix(REF_PREFIX) for ref, sha in after.items() if ref in before and before[ref] != sha)
    return FetchResult(source=source, new=new, updated=updated, unchanged=len(after) - len(new) - len(updated))


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
    changed = []
    if ALL_SESSIONS_REFSPEC not in git.config_get_all(repo, fetch_key):
        git.config_add(repo, fetch_key, ALL_SESSIONS_REFSPEC)
        changed.append(f"{fetch_key} = {ALL_SESSIONS_REFSPEC}")
    hook_installed = False
    if push:
        if git.config_get_all(repo, push_key) != ["true"]:
            git.config_set(repo, push_key, "true")
            changed.append(f"{push_key} = true")
        hook_installed, hook_warning = _install_pre_push(repo)
    warnings = _prune_warnings(repo, remote) + ([hook_warning] if push and hook_warning else [])
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
    if ALL_SESSIONS_REFSPEC in git.config_get_all(repo, fetch_key):
        git.config_unset_value(repo, fetch_key, ALL_SESSIONS_REFSPEC)
        changed.append(f"{fetch_key} = {ALL_SESSIONS_REFSPEC}")
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


def create_bundle(repo: git.Repo, *, output: Path, sessions: Sequence[str] = (), full: bool = False) -> BundleResult:
    """One file holding sessions (all, or the named ones) for a ticket. Unless ``full``, history the
    team already shares (base commits reachable from a remote-tracking branch) is left out."""
    store = SessionStore.open(repo)
    chosen = [store.resolve(q) for q in sessions] if sessions else [s for s in store.all() if not s.damaged]
    if any(s.live for s in chosen):
        raise UsageError(f"session {next(s.id for s in chosen if s.live)} is still recording",
                         hint="wait for it to finish, then bundle it")
    chosen = [s for s in chosen if not s.live]
    if not chosen:
        raise UsageError("no finished sessions to bundle", hint="record one with `agitlog run -- <command>`")
    bases = {s.meta.git.base_commit for s in chosen} - {None}
    bases = {b for b, found in zip(sorted(bases), git.object_ids(repo, sorted(bases))) if found}  # crafted: may name nothing
    prerequisites = [] if full else [b for b in sorted(bases) if git.refs_containing(repo, b, ["refs/remotes/"])]
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
    return fetch_sessions(repo, remote=str(path.resolve()))
