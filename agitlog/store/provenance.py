"""Which recorded session wrote a given file content: the map the commit hook and `blame` share.

For every session, the blobs its steps 1..N wrote (path and blob id, against the step before; step 0
is the user's own worktree, so it is left out). Kept as a cache under the git dir,
``<git-common-dir>/agitlog/cache/links.marshal`` (marshal: built in, nothing to import, fastest to
load), keyed by each session ref's object id and rebuilt
for the sessions whose ref changed; the refs stay the only truth.

This module is on the commit hook's hot path: it imports only the standard library, agitlog.git
and agitlog.constants (see agitlog.sharing.commit_hook).
"""
from __future__ import annotations

import marshal
import os
import re
import sys
import time
from pathlib import Path

from agitlog import git
from agitlog.constants import JOURNAL_DIRNAME, REF_PREFIX, TRAILER_SESSION, TRAILER_STEP
from agitlog.datatypes import datatype
from agitlog.private import make_private_dir, write_private

CACHE_VERSION = 2
_TAG = (CACHE_VERSION, sys.version_info[:2])
EMPTY_BLOB = "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
_BASE_RE = re.compile(r'^base_commit\s*=\s*"([0-9a-f]{40,64})"', re.MULTILINE)
_ID_DATE = re.compile(r"^(\d{8})-(\d{6})")


@datatype(frozen=True)
class Link:
    session: str
    step: int
    commit: str


def cache_file(repo: git.Repo) -> Path:
    return repo.state_dir / "cache" / "links.marshal"


RACY_NS = 2_000_000_000  # a directory stamp this recent may still change within the same clock tick


def refs_fingerprint(repo: git.Repo) -> list[int] | None:
    """Changes whenever a session ref is created, moved or deleted (loose refs are written through a
    lock file in their directory; packing rewrites packed-refs) - checked without running git.

    None when the ref storage changed in the last two seconds: file times are only as fine as the
    kernel's clock tick, so a second update in the same tick could leave the stamp unchanged (git's
    "racy timestamp" problem). A cache stored with None is verified against the refs next time."""
    stamp = []
    for path in (repo.common_dir / "packed-refs", repo.common_dir / REF_PREFIX.rstrip("/")):
        try:
            info = path.stat()
            stamp += [info.st_mtime_ns, info.st_size, info.st_ino]
        except OSError:
            stamp += [0, 0, 0]
    newest = max(stamp[0], stamp[3])
    return None if time.time_ns() - newest < RACY_NS else stamp


def load_links(repo: git.Repo) -> dict[str, dict]:
    """session id -> {"sha": ref sha, "blobs": [[path, blob, step, commit], ...]}, fresh for the refs."""
    path = cache_file(repo)
    cached = _read_cache(path)
    read_at = time.time_ns()
    fingerprint = refs_fingerprint(repo)
    if fingerprint is not None and cached.get("fingerprint") == fingerprint:
        return cached["sessions"]
    refs = git.ref_shas(repo, REF_PREFIX.rstrip("/"))
    old = cached.get("sessions", {})
    sessions = {}
    stale = {}
    for ref, sha in refs.items():
        session_id = ref.removeprefix(REF_PREFIX)
        if old.get(session_id, {}).get("sha") == sha:
            sessions[session_id] = old[session_id]
        else:
            stale[session_id] = sha
    sessions.update(_scan(repo, stale))
    _write_cache(path, {"tag": _TAG, "fingerprint": fingerprint, "sessions": sessions})
    _write_blob_list(repo, sessions, read_at=read_at if fingerprint is not None else None)
    return sessions


def blob_list_file(repo: git.Repo) -> Path:
    return repo.state_dir / "cache" / "links.blobs"


def blob_map_file(repo: git.Repo) -> Path:
    return repo.state_dir / "cache" / "links.map"


def _write_blob_list(repo: git.Repo, sessions: dict[str, dict], *, read_at: int | None) -> None:
    """Two plain-text views of the cache for the commit hook: ``links.blobs``, every blob a session
    wrote (one per line, read by the shell hook: no staged blob in it means no trailer and no
    Python), and ``links.map``, "blob<TAB>session<TAB>path" lines (read by the commit hook instead of the
    whole cache).

    Both are trusted only while strictly newer than the ref storage. Their time is set to one
    second before the refs were read: a ref that changes after the read (even with the kernel's
    coarse file clock) is then never older than them, so the hook falls back to the full check.
    Written only when the refs had been still for a while (not racy); otherwise removed."""
    lists = {blob_list_file(repo): None, blob_map_file(repo): None}
    try:
        if read_at is None:
            for path in lists:
                path.unlink(missing_ok=True)
            return
        rows = sorted({(row[1], sid, row[0]) for sid, entry in sessions.items() for row in entry["blobs"]})
        texts = ["".join(blob + "\n" for blob in sorted({blob for blob, _, _ in rows})),
                 "".join(f"{blob}\t{sid}\t{path}\n" for blob, sid, path in rows if "\n" not in path)]
        stamp = read_at - 1_000_000_000
        for path, text in zip(lists, texts):
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            write_private(tmp, text.encode("utf-8", "surrogateescape"))
            os.utime(tmp, ns=(stamp, stamp))
            os.replace(tmp, path)
    except OSError:
        pass


def _lists_fresh(repo: git.Repo, path: Path) -> bool:
    """True while ``path`` is strictly newer than every place session refs are stored."""
    try:
        mine = path.stat().st_mtime_ns
    except OSError:
        return False
    for other in (repo.common_dir / REF_PREFIX.rstrip("/"), repo.common_dir / "packed-refs"):
        try:
            if other.stat().st_mtime_ns >= mine:
                return False
        except OSError:
            continue
    return True


def _sessions_from_map(text: str, staged: list[tuple[str, str]]) -> list[str]:
    found: dict[str, None] = {}
    for path, blob in staged:
        start = text.find(blob + "\t")
        while start != -1 and (start == 0 or text[start - 1] == "\n"):
            end = text.find("\n", start)
            _, session_id, line_path = text[start:end].split("\t", 2)
            if line_path == path:
                found[session_id] = None
            start = text.find(blob + "\t", end)
    return sorted(found, reverse=True)


def _read_cache(path: Path) -> dict:
    try:
        data = marshal.loads(path.read_bytes())
    except (OSError, ValueError, EOFError, TypeError):
        return {}
    return data if isinstance(data, dict) and data.get("tag") == _TAG else {}


def _write_cache(path: Path, data: dict) -> None:
    try:
        make_private_dir(path.parent)
        write_private(path, marshal.dumps(data))
    except OSError:
        pass  # a cache we cannot write is only slower next time


def _scan(repo: git.Repo, tips: dict[str, str]) -> dict[str, dict]:
    """The blobs each session's steps wrote: one `git log` over every changed session."""
    if not tips:
        return {}
    bases = _bases(repo, tips)
    revs = list(tips.values()) + [f"^{base}" for base in bases if base]
    rows = git.step_blobs(repo, revs, session_key=TRAILER_SESSION, step_key=TRAILER_STEP)
    sessions = {sid: {"sha": sha, "blobs": []} for sid, sha in tips.items()}
    for commit, session_id, step, files in rows:
        entry = sessions.get(session_id)
        if entry is None or step < 1:
            continue
        entry["blobs"].extend([path, blob, step, commit] for path, blob in files if blob != EMPTY_BLOB)
    return sessions


def _bases(repo: git.Repo, tips: dict[str, str]) -> set[str]:
    """Where each session started (so the walk stops there): from session.toml or the live journal."""
    ids = list(tips)
    blobs = git.cat_files(repo, [f"{tips[sid]}:session.toml" for sid in ids])
    bases = set()
    for session_id, blob in zip(ids, blobs):
        text = blob.decode("utf-8", "replace") if blob else _journal_start(repo, session_id)
        match = _BASE_RE.search(text) if text else None
        if match:
            bases.add(match.group(1))
    wanted = sorted(bases)  # a crafted session may name a base this repository lacks: `^missing` fails the walk
    return {base for base, found in zip(wanted, git.object_ids(repo, wanted)) if found}


def _journal_start(repo: git.Repo, session_id: str) -> str:
    try:
        import json  # only for sessions still recording; keeps the commit hook's imports small

        start = json.loads((repo.state_dir / JOURNAL_DIRNAME / session_id / "start.json").read_text("utf-8"))
        base = (start.get("git") or {}).get("base_commit")
    except (OSError, ValueError, AttributeError):
        return ""
    return f'base_commit = "{base}"' if base else ""


def blob_index(sessions: dict[str, dict], *, max_age_days: float | None = None) -> dict[tuple[str, str], list[Link]]:
    """(path, blob) -> the steps that wrote exactly that content, newest session first."""
    cutoff = time.time() - max_age_days * 86400 if max_age_days else None
    index: dict[tuple[str, str], list[Link]] = {}
    for session_id in sorted(sessions, reverse=True):
        if cutoff is not None and _id_time(session_id) < cutoff:
            continue
        for path, blob, step, commit in sessions[session_id]["blobs"]:
            index.setdefault((path, blob), []).append(Link(session=session_id, step=step, commit=commit))
    return index


def _id_time(session_id: str) -> float:
    """Session ids start with their UTC start time (20261126-034412-...)."""
    match = _ID_DATE.match(session_id)
    if not match:
        return float("inf")
    try:
        return time.mktime(time.strptime(match.group(1) + match.group(2), "%Y%m%d%H%M%S")) - time.timezone
    except ValueError:
        return float("inf")


def sessions_for_staged(repo: git.Repo, *, index_file: Path | None = None) -> list[str]:
    """Sessions that wrote some staged file content exactly as it is staged, newest first."""
    staged = [(path, blob) for path, blob in git.cached_blobs(repo, index_file=index_file) if blob != EMPTY_BLOB]
    if not staged:
        return []
    map_file = blob_map_file(repo)
    if _lists_fresh(repo, map_file):  # the common case: refs unchanged since the map was written
        try:
            return _sessions_from_map(map_file.read_text(encoding="utf-8", errors="surrogateescape"), staged)
        except (OSError, ValueError):
            pass
    index = blob_index(load_links(repo))
    found: dict[str, None] = {}
    for key in staged:
        for link in index.get(key, []):
            found[link.session] = None
    return sorted(found, reverse=True)


def within_age(session_ids: list[str], *, max_age_days: float | None) -> list[str]:
    if not max_age_days:
        return session_ids
    cutoff = time.time() - max_age_days * 86400
    return [sid for sid in session_ids if _id_time(sid) >= cutoff]
