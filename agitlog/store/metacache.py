"""A cache of session metadata so a full `agitlog log` stays fast with thousands of sessions.

``<git-common-dir>/agitlog/cache/sessions.marshal`` maps record commit ids to their validated
metadata (``SessionMeta.to_dict()``) and the commit's Agitlog-Kind. A commit never changes, so an
entry never goes stale; entries for commits no ref names any more are dropped on the next write. The
refs stay the only truth and the file can be deleted at any time. marshal is the fastest loader in
the standard library; the file is tagged with the cache version and the Python version that wrote it.
"""
from __future__ import annotations

import marshal
import os
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from agitlog import git
from agitlog.store.models import SessionMeta

CACHE_VERSION = 5
_TAG = (CACHE_VERSION, sys.version_info[:2])

Reader = Callable[[Sequence[str]], "dict[str, tuple[str, SessionMeta | None]]"]


def cache_file(repo: git.Repo) -> Path:
    return repo.state_dir / "cache" / "sessions.marshal"


def cached_metas(repo: git.Repo, shas: Sequence[str], *, read: Reader) -> dict[str, tuple[str, SessionMeta | None]]:
    """sha -> (Agitlog-Kind, metadata of a record commit) for every commit in ``shas``; what the cache
    lacks is read with ``read`` (one git process) and added."""
    cached = _read(cache_file(repo))
    missing = [sha for sha in shas if sha not in cached]
    fresh = read(missing) if missing else {}
    out: dict[str, tuple[str, SessionMeta | None]] = {}
    for sha in shas:
        if sha in fresh:
            out[sha] = fresh[sha]
        else:
            kind, data = cached[sha]
            out[sha] = (kind, SessionMeta.from_trusted(data) if data is not None else None)
    if missing or len(cached) != len(shas):
        rows = {sha: cached[sha] for sha in shas if sha in cached}
        rows.update({sha: (kind, _compact(meta.to_dict()) if meta else None) for sha, (kind, meta) in fresh.items()})
        _write(cache_file(repo), rows)
    return out


def _compact(value: Any) -> Any:
    """The same metadata with every key and every string in a list interned: sessions repeat the
    same keys and environment names, and marshal writes a shared string once, then references."""
    if isinstance(value, dict):
        return {sys.intern(key): _compact(item) for key, item in value.items()}
    if isinstance(value, list):
        return [sys.intern(item) if isinstance(item, str) else _compact(item) for item in value]
    return value


def _read(path: Path) -> dict[str, tuple[str, dict[str, Any] | None]]:
    try:
        data = marshal.loads(path.read_bytes())
    except (OSError, ValueError, EOFError, TypeError):
        return {}
    if not isinstance(data, dict) or data.get("tag") != _TAG or not isinstance(data.get("rows"), dict):
        return {}
    return data["rows"]


def _write(path: Path, rows: dict[str, Any]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(marshal.dumps({"tag": _TAG, "rows": rows}))
        os.replace(tmp, path)
    except (OSError, ValueError):
        pass  # read-only git dir, unmarshallable value: only slower next time
