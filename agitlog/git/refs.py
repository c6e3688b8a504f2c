"""Refs: compare-and-swap updates, listing, deletion, packing, reachability."""
from __future__ import annotations

import os
from dataclasses import dataclass
from collections.abc import Mapping, Sequence  # not typing: hooks import this module, typing costs ms

from agitlog.constants import TRAILER_KIND
from agitlog.git.process import ZERO_OID, git
from agitlog.git.repo import Repo


def update_ref(repo: Repo, ref: str, new: str, old: str | None, *, message: str = "agitlog") -> None:
    """Compare-and-swap ``ref`` from ``old`` (None: must not exist yet) to ``new``."""
    git(repo.root, "update-ref", "-m", message, ref, new, old or ZERO_OID)


@dataclass(frozen=True)
class RefInfo:
    name: str
    sha: str
    kind: str  # the Agitlog-Kind trailer of the commit it points at ("" when absent)


def iter_refs(repo: Repo, prefix: str) -> list[RefInfo]:
    fmt = f"%(objectname)%00%(refname)%00%(trailers:key={TRAILER_KIND},valueonly,separator=%x2C)%00"
    out = git(repo.root, "for-each-ref", f"--format={fmt}", prefix)
    fields = out.split(b"\0")
    refs = []
    for i in range(0, len(fields) - 2, 3):
        sha = fields[i].strip().decode()
        refs.append(RefInfo(name=fields[i + 1].decode("utf-8", "surrogateescape"), sha=sha,
                            kind=fields[i + 2].decode().strip()))
    return refs


def ref_shas(repo: Repo, prefix: str) -> dict[str, str]:
    """refname -> object id for every ref under ``prefix``; parses no objects, so it stays cheap."""
    out = git(repo.root, "for-each-ref", "--format=%(objectname) %(refname)", prefix)
    refs = {}
    for line in out.decode("utf-8", "surrogateescape").splitlines():
        sha, _, name = line.partition(" ")
        refs[name] = sha
    return refs


def refs_containing(repo: Repo, commit: str, patterns: Sequence[str]) -> list[str]:
    out = git(repo.root, "for-each-ref", f"--contains={commit}", "--format=%(refname)", *patterns, check=False)
    return out.decode("utf-8", "surrogateescape").split()


def reachable_from(repo: Repo, patterns: Sequence[str], *, exclude: Sequence[str] = ()) -> set[str]:
    """Commits reachable from refs matching ``patterns`` (e.g. --branches) but not from ``exclude``."""
    args = ["rev-list", "--stdin", *patterns]
    request = "".join(f"^{sha}\n" for sha in exclude).encode()
    return set(git(repo.root, *args, input=request).decode().split())


def delete_refs(repo: Repo, refs: Mapping[str, str]) -> None:
    """Delete many refs in one transaction, each only if it still points where we saw it."""
    if refs:
        request = "".join(f"delete {name} {sha}\n" for name, sha in refs.items())
        git(repo.root, "update-ref", "--stdin", input=request.encode())


def update_refs(repo: Repo, updates: Sequence[tuple[str, str, str | None]]) -> None:
    """Move many refs in one transaction: (ref, new, old), where old None means "must not exist yet".
    Nothing moves if any ref is no longer where the caller saw it."""
    if updates:
        request = "".join(f"update {ref} {new} {old or ZERO_OID}\n" for ref, new, old in updates)
        git(repo.root, "update-ref", "--stdin", input=request.encode())


def is_ancestor(repo: Repo, ancestor: str, commit: str) -> bool:
    """True when ``commit`` contains ``ancestor`` (moving a ref from one to the other is a fast-forward)."""
    return git(repo.root, "merge-base", ancestor, commit, check=False).strip().decode() == ancestor


def pack_refs(repo: Repo) -> None:
    git(repo.root, "pack-refs", "--all", "--prune")


def packed_refs_exists(repo: Repo) -> bool:
    return (repo.common_dir / "packed-refs").exists()


def drop_empty_packed_refs(repo: Repo) -> None:
    """Remove a packed-refs file that holds no refs (``git bisect start`` creates one when it clears
    refs/bisect/*). Done under git's own packed-refs.lock, so a concurrent writer is never lost."""
    path = repo.common_dir / "packed-refs"
    lock = repo.common_dir / "packed-refs.lock"
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except OSError:
        return
    try:
        lines = path.read_bytes().splitlines() if path.exists() else []
        if all(line.startswith(b"#") for line in lines) and path.exists():
            path.unlink()
    finally:
        os.close(fd)
        lock.unlink()
