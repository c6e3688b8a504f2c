"""Which remote agitlog talks to, and how many sessions it holds: small, because `agitlog log` in a
fresh clone (no sessions yet) asks it for its hint, and read commands must start fast."""
from __future__ import annotations

from agitlog import git
from agitlog.config import load_config
from agitlog.constants import REF_PREFIX
from agitlog.datatypes import datatype
from agitlog.errors import UsageError


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


@datatype(frozen=True)
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
