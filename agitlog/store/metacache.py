"""A cache of session metadata so `agitlog log` stays fast with thousands of sessions.

``<git-common-dir>/agitlog/cache/sessions.marshal`` maps each record commit to its parsed
session.toml. It is keyed by ref object ids, checked against a fingerprint of the ref
storage (agitlog.store.provenance.refs_fingerprint, no git process), and refreshed for whatever changed; the
refs stay the only truth and the file can be deleted at any time. marshal is the fastest loader
in the standard library; the file is tagged with the Python version that wrote it.
"""
from __future__ import annotations

import marshal
import sys
from pathlib import Path
from typing import Any, Callable

from agitlog import git
from agitlog.constants import RECORD_META_FILE, REF_PREFIX
from agitlog.private import make_private_dir, write_private
from agitlog.store.provenance import refs_fingerprint

CACHE_VERSION = 4
_TAG = (CACHE_VERSION, sys.version_info[:2])


def cache_file(repo: git.Repo) -> Path:
    return repo.state_dir / "cache" / "sessions.marshal"


def session_refs_and_metas(repo: git.Repo, parse: Callable[[bytes | None, str], dict[str, Any]]
                           ) -> tuple[list[git.RefInfo], dict[str, dict[str, Any]]]:
    """Every session ref (name, sha, kind) and the metadata of each record commit, by sha."""
    cached = _read(cache_file(repo))
    fingerprint = refs_fingerprint(repo)
    if cached and fingerprint is not None and cached["fingerprint"] == fingerprint:
        return [git.RefInfo(*ref) for ref in cached["refs"]], cached["metas"]
    refs = _current_refs(repo, cached)
    known = cached["metas"] if cached else {}
    records = [ref for ref in refs if ref.kind == "record"]
    missing = [ref for ref in records if ref.sha not in known]
    blobs = git.cat_files(repo, [f"{ref.sha}:{RECORD_META_FILE}" for ref in missing])
    metas = {ref.sha: known[ref.sha] for ref in records if ref.sha in known}
    for ref, blob in zip(missing, blobs):
        metas[ref.sha] = compact(parse(blob, ref.name.removeprefix(REF_PREFIX)))
    rows = [(r.name, r.sha, r.kind) for r in refs]
    stamp_moved = fingerprint is not None and cached is not None and cached["fingerprint"] != fingerprint
    if not cached or missing or cached["refs"] != rows or stamp_moved:  # racy and unchanged: no rewrite
        _write(cache_file(repo), {"tag": _TAG, "fingerprint": fingerprint, "refs": rows, "metas": metas})
    return refs, metas


def _current_refs(repo: git.Repo, cached: dict[str, Any] | None) -> list[git.RefInfo]:
    """The session refs now. When every ref points at a commit the cache already knows, its kind
    (step or record) is known too, and a plain ref listing (no commit parsing) is enough."""
    shas = git.ref_shas(repo, REF_PREFIX.rstrip("/"))
    kinds = {sha: kind for _, sha, kind in cached["refs"]} if cached else {}
    if all(sha in kinds for sha in shas.values()):
        return [git.RefInfo(name=name, sha=sha, kind=kinds[sha]) for name, sha in shas.items()]
    return git.iter_refs(repo, REF_PREFIX.rstrip("/"))


def compact(value: Any) -> Any:
    """The same metadata with every key and every string in a list interned: sessions repeat the
    same keys and environment names, and marshal writes a shared string once, then references."""
    if isinstance(value, dict):
        return {sys.intern(key): compact(item) for key, item in value.items()}
    if isinstance(value, list):
        return [sys.intern(item) if isinstance(item, str) else compact(item) for item in value]
    return value


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = marshal.loads(path.read_bytes())
    except (OSError, ValueError, EOFError, TypeError):
        return None
    if not isinstance(data, dict) or data.get("tag") != _TAG:
        return None
    return data


def _write(path: Path, data: dict[str, Any]) -> None:
    try:
        make_private_dir(path.parent)
        write_private(path, marshal.dumps(data))
    except (OSError, ValueError):
        pass  # read-only git dir, unmarshallable value: only slower next time
