"""A cache of session metadata so a full `agitlog log` stays fast with thousands of sessions.

``<git-common-dir>/agitlog/cache/sessions.marshal`` maps record commit ids to their validated
metadata (``SessionMeta.to_row()``) and the commit's Agitlog-Kind. A commit never changes, so an
entry never goes stale; entries for commits no ref names any more are dropped on the next write. The
refs stay the only truth and the file can be deleted at any time. marshal is the fastest loader in
the standard library; the file is tagged with the cache version and the Python version that wrote it.
"""
from __future__ import annotations

import marshal
import sys
from pathlib import Path

from agitlog import git
from agitlog.private import make_private_dir, write_private
from agitlog.store.models import SessionMeta

TYPE_CHECKING = False  # typing costs start-up; only checkers need it
if TYPE_CHECKING:
    from typing import Any, Callable, Sequence

    Reader = Callable[[Sequence[tuple[str, str]]], "dict[str, tuple[str, SessionMeta | None]]"]

CACHE_VERSION = 9                # 6: stats.model_tool_calls; 7: SessionMeta.to_row() tuples; 8: [adapter], [import]; 9: [fork]
_TAG = (CACHE_VERSION, sys.version_info[:2])


def cache_file(repo: git.Repo) -> Path:
    return repo.state_dir / "cache" / "sessions.marshal"


def cached_metas(repo: git.Repo, commits: Sequence[tuple[str, str]], *, read: Reader
                 ) -> dict[str, tuple[str, SessionMeta | None]]:
    """sha -> (Agitlog-Kind, metadata of a record commit) for every (session id, sha) in ``commits``;
    what the cache lacks is read with ``read`` (one git process) and added."""
    cached = _read(cache_file(repo))
    missing = [(session_id, sha) for session_id, sha in commits if sha not in cached]
    fresh = read(missing) if missing else {}
    from_row = SessionMeta.from_row
    out = {sha: (kind, from_row(row) if row is not None else None) for sha, (kind, row) in cached.items()}
    out.update(fresh)
    if missing or len(cached) != len(commits):
        rows = {sha: cached[sha] for _, sha in commits if sha in cached}
        rows.update({sha: (kind, _compact(meta.to_row()) if meta else None) for sha, (kind, meta) in fresh.items()})
        _write(cache_file(repo), rows)
    return out


def known_metas(repo: git.Repo, shas: Sequence[str]) -> dict[str, tuple[str, SessionMeta | None]]:
    """What the cache already holds of ``shas`` (sha -> (Agitlog-Kind, metadata)); reads nothing
    else and writes nothing (the `log` cache asks it before reading records)."""
    cached = _read(cache_file(repo))
    out = {}
    for sha in shas:
        if sha in cached:
            kind, row = cached[sha]
            out[sha] = (kind, SessionMeta.from_row(row) if row is not None else None)
    return out


def _compact(value: Any) -> Any:
    """The same row with every string in it interned: sessions repeat the same agents, hosts and
    environment names, and marshal writes a shared string once, then references."""
    if isinstance(value, str):
        return sys.intern(value)
    if isinstance(value, tuple):
        return tuple(_compact(item) for item in value)
    if isinstance(value, dict):
        return {sys.intern(key): _compact(item) for key, item in value.items()}
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
        make_private_dir(path.parent)
        write_private(path, marshal.dumps({"tag": _TAG, "rows": rows}))
    except (OSError, ValueError):
        pass  # read-only git dir, unmarshallable value: only slower next time
