"""Refs: compare-and-swap updates, listing, deletion, packing, reachability."""
from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence  # not typing: hooks import this module, typing costs ms
from functools import lru_cache

from agitlog.constants import REF_PREFIX, TRAILER_KIND
from agitlog.datatypes import datatype
from agitlog.git.process import ZERO_OID, git
from agitlog.git.repo import Repo


def update_ref(repo: Repo, ref: str, new: str, old: str | None, *, message: str = "agitlog") -> None:
    """Compare-and-swap ``ref`` from ``old`` (None: must not exist yet) to ``new``. A session ref is
    written as git would write it, under git's lock, where nothing else would happen (see
    ``_swap_loose_ref``); anything else, and every refusal, goes through `git update-ref`."""
    if not _swap_loose_ref(repo, ref, new, old):
        git(repo.root, "update-ref", "-m", message, ref, new, old or ZERO_OID)


# Config keys (lower case) under which `git update-ref` would do more than swap a loose ref file:
# another ref backend, reflogs (``logAllRefUpdates = always``), hooks elsewhere, fsync of refs, and
# anything that brings in config this check does not read.
_GIT_ONLY_REF_KEYS = ("refstorage", "hookspath", "fsync", "precomposeunicode", "worktreeconfig", "include")
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


def _swap_loose_ref(repo: Repo, ref: str, new: str, old: str | None) -> bool:
    """`git update-ref ref new old` for a session ref, without a process (two per `agitlog run`): lock
    ``ref.lock`` exclusively as git does, check the old value (loose file, and packed-refs for a ref
    that must not exist), write, rename into place. False, having changed nothing, whenever git
    would do anything more (a reflog, a reference-transaction hook, reftable, a config asking for
    more) or something is unexpected (the lock is taken, the ref is packed or elsewhere): the
    caller then asks git, which gives its own answer or error."""
    name = ref[len(REF_PREFIX):]
    if not (ref.startswith(REF_PREFIX) and name and set(name) <= _NAME_CHARS and len(new) == 40
            and _plain_loose_refs(repo.common_dir)) or os.path.exists(repo.common_dir / "logs" / ref):
        return False
    path = os.path.join(repo.common_dir, ref)
    lock = path + ".lock"
    try:
        fd = _create_lock(lock)
    except OSError:
        return False
    try:
        if _loose_ref_value(path) != old or (old is None and _is_packed(repo.common_dir, ref)):
            raise _NotSwapped
        os.write(fd, f"{new}\n".encode())
        os.close(fd)
        fd = -1
        os.replace(lock, path)
        return True
    except (_NotSwapped, OSError):
        if fd >= 0:
            os.close(fd)
        os.unlink(lock)
        return False


class _NotSwapped(Exception):
    """The ref is not where the caller expects, as far as loose files show: let git decide."""


def _create_lock(lock: str) -> int:
    try:
        return os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies, as for git
    except FileNotFoundError:  # the first session: refs/agent-sessions/ does not exist yet
        os.makedirs(os.path.dirname(lock), exist_ok=True)
        return os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)


def _loose_ref_value(path: str) -> str | None:
    try:
        with open(path, "rb") as handle:
            value = handle.read(100).strip().decode()
    except FileNotFoundError:
        return None
    if len(value) != 40:
        raise _NotSwapped  # a symbolic ref, or something else git should judge
    return value


def _is_packed(common_dir: os.PathLike[str], ref: str) -> bool:
    """Whether packed-refs holds ``ref`` (True too when it cannot be read: then git decides)."""
    packed = _PackedRefs.read(os.path.join(common_dir, "packed-refs"), ref.encode())
    return packed is None or any(line.partition(b" ")[2] == ref.encode() for line in packed.lines())


@lru_cache(maxsize=8)
def _plain_loose_refs(common_dir: os.PathLike[str]) -> bool:
    """Whether refs here are loose files that `git update-ref` would only swap: the files backend,
    no reference-transaction hook, and nothing in the repository's, the user's or the system's git
    config (nor ``git -c``) that changes how refs are written."""
    if any(key in os.environ for key in ("GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT")):
        return False
    if os.path.exists(os.path.join(common_dir, "reftable")) or \
            os.path.exists(os.path.join(common_dir, "hooks", "reference-transaction")):
        return False
    for path in _config_files(common_dir):
        try:
            with open(path, "rb") as handle:
                text = handle.read().decode("utf-8", "replace").lower()
        except FileNotFoundError:
            continue
        except OSError:
            return False
        if any(key in text for key in _GIT_ONLY_REF_KEYS) or _logs_all_refs(text):
            return False
    return True


def _config_files(common_dir: os.PathLike[str]) -> list[str]:
    """The config files git reads (repository, user, system), as `git config --show-origin` lists them."""
    home = os.environ.get("HOME", "")
    xdg = os.environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    user = os.environ.get("GIT_CONFIG_GLOBAL")
    files = [os.path.join(common_dir, "config")]
    files += [user] if user else [os.path.join(xdg, "git", "config"), os.path.join(home, ".gitconfig")]
    return files + [os.environ.get("GIT_CONFIG_SYSTEM") or "/etc/gitconfig"]  # read even when git would not


def _logs_all_refs(text: str) -> bool:
    """``core.logAllRefUpdates = always``: git would keep a reflog for session refs too."""
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "logallrefupdates" and value.split("#")[0].split(";")[0].strip() not in ("true", "false"):
            return True
    return False


@datatype(frozen=True)
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
    found = _ref_shas_from_files(repo, prefix.rstrip("/") + "/")
    if found is not None:
        return found
    out = git(repo.root, "for-each-ref", "--format=%(objectname) %(refname)", prefix)
    refs = {}
    for line in out.decode("utf-8", "surrogateescape").splitlines():
        sha, _, name = line.partition(" ")
        refs[name] = sha
    return refs


def _ref_shas_from_files(repo: Repo, prefix: str) -> dict[str, str] | None:
    files = _ref_files(repo, prefix)
    if files is None:
        return None
    packed, loose = files
    return _shas(packed.lines(), loose)


def ref_snapshot(repo: Repo, prefix: str) -> tuple[bytes, dict[str, str]]:
    """The refs under ``prefix`` as a value that is equal exactly when they are the same: the
    packed-refs lines under it (bytes, as the file holds them) and the loose refs (name -> sha).
    Read with no process; compared by content, so no timestamp can make a moved ref look unmoved.
    ``snapshot_shas`` turns it into name -> sha."""
    files = _ref_files(repo, prefix.rstrip("/") + "/")
    if files is None:  # reftable or something unexpected: ask git, and keep what it says
        return b"", ref_shas(repo, prefix)
    packed, loose = files
    return packed.block(), loose


def snapshot_shas(snapshot: tuple[bytes, dict[str, str]]) -> dict[str, str]:
    """refname -> object id of a ``ref_snapshot`` (loose refs override their packed copies)."""
    block, loose = snapshot
    return _shas(block.split(b"\n") if block else [], loose)


def _shas(packed_lines: Sequence[bytes], loose: Mapping[str, str]) -> dict[str, str]:
    """refname -> object id from packed-refs "sha name" lines, loose refs overriding them."""
    refs = {}
    for line in packed_lines:
        sha, _, name = line.partition(b" ")
        refs[name.decode("utf-8", "surrogateescape")] = sha.decode()
    refs.update(loose)
    return refs


def refs_newest_first(repo: Repo, prefix: str) -> Iterator[tuple[str, str]]:
    """(refname, object id) of the refs under ``prefix``, in descending name order, produced lazily:
    session ids sort by time, so the newest N sessions cost N lines, not a listing of every ref."""
    files = _ref_files(repo, prefix.rstrip("/") + "/")
    if files is None:
        out = git(repo.root, "for-each-ref", "--sort=-refname", "--format=%(objectname) %(refname)", prefix)
        for line in out.decode("utf-8", "surrogateescape").splitlines():
            sha, _, name = line.partition(" ")
            yield name, sha
        return
    packed, loose = files
    extra = sorted(loose, reverse=True)
    j = 0
    for line in packed.reversed_lines():
        sha, _, raw = line.partition(b" ")
        name = raw.decode("utf-8", "surrogateescape")
        while j < len(extra) and extra[j] > name:
            yield extra[j], loose[extra[j]]
            j += 1
        if j < len(extra) and extra[j] == name:
            j += 1  # a loose ref overrides its packed copy
            yield name, loose[name]
        else:
            yield name, sha.decode()
    for name in extra[j:]:
        yield name, loose[name]


def _ref_files(repo: Repo, prefix: str) -> tuple[_PackedRefs, dict[str, str]] | None:
    """The refs under ``prefix`` read straight from the files backend, as git itself resolves them:
    packed-refs lines and loose refs (name -> sha) that override them. No process, so
    `agitlog log -n 20` over 50,000 sessions costs less than one `git for-each-ref`. None (ask git)
    for the reftable backend, symbolic refs, or anything unexpected."""
    if (repo.common_dir / "reftable").exists():
        return None
    packed = _PackedRefs.read(repo.common_dir / "packed-refs", prefix.encode())
    if packed is None:
        return None
    loose = {}
    for folder, _dirs, files in os.walk(repo.common_dir / prefix):
        for name in files:
            if name.endswith(".lock"):
                continue
            path = os.path.join(folder, name)
            try:
                with open(path, "rb") as handle:
                    sha = handle.read(80).strip()
            except OSError:
                continue  # deleted while we looked
            if len(sha) not in (40, 64) or sha.startswith(b"ref:"):
                return None
            loose[os.path.relpath(path, repo.common_dir).replace(os.sep, "/")] = sha.decode()
    return packed, loose


class _PackedRefs:
    """The "sha name" lines of packed-refs under one prefix, in name order, without splitting the
    whole file: a sorted file (git writes them so) is read from the end as far as the caller goes."""

    def __init__(self, block: bytes, sorted_lines: list[bytes] | None) -> None:
        self._block = block
        self._sorted = sorted_lines

    @classmethod
    def read(cls, path: os.PathLike[str] | str, prefix: bytes) -> _PackedRefs | None:
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except FileNotFoundError:
            return cls(b"", [])
        except OSError:
            return None
        marker = b" " + prefix
        first = data.find(marker)
        if first < 0:
            return cls(b"", [])
        start = data.rfind(b"\n", 0, first) + 1
        end = data.find(b"\n", data.rfind(marker))
        block = data[start:end if end >= 0 else len(data)]
        header = data[:data.find(b"\n")]
        if header.startswith(b"# pack-refs with:") and b" sorted" in header and b"\n^" not in block:
            return cls(block, None)
        # unsorted (an old git: other refs may sit in between) or with "^peeled" lines: filter and sort
        lines = sorted((line for line in block.split(b"\n") if line.partition(b" ")[2].startswith(prefix)),
                       key=lambda line: line.partition(b" ")[2])
        return cls(b"", lines)

    def block(self) -> bytes:
        """The lines, newline-separated, in name order."""
        return b"\n".join(self._sorted) if self._sorted is not None else self._block

    def lines(self) -> list[bytes]:
        if self._sorted is not None:
            return self._sorted
        return self._block.split(b"\n") if self._block else []

    def reversed_lines(self) -> Iterator[bytes]:
        if self._sorted is not None:
            yield from reversed(self._sorted)
            return
        block, end = self._block, len(self._block)
        while end > 0:
            start = block.rfind(b"\n", 0, end) + 1
            yield block[start:end]
            end = start - 1


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
