"""The full `agitlog log` table, kept in a cache of its rows: listing every session costs little
more than printing it.

``<git-common-dir>/agitlog/cache/log.marshal`` holds one marshal value,
``(tag, refs, prices, text, count, rows)``:

- ``tag``: this cache's version, agitlog's version and the Python version that wrote it; any other
  tag is ignored and the cache rebuilt;
- ``refs``: the refs the rows were built from (``git.ref_snapshot``: the packed-refs lines and the
  loose refs under refs/agent-sessions/, compared by content, never by timestamp);
- ``rows``: a marshal blob of ``(cells, facts)``, one entry per session in listing order. A row's
  cells are the strings `log` prints (id, started, duration, session, status, steps, files, tokens),
  escaped (agitlog.escaping) when the row is built from the validated metadata, so they are printed
  as they are; its facts ``(id, started_at, status, agent, ((model, input, output), ...))`` are what
  the filters and the cost column read;
- ``text``, ``count``: the whole plain table as `log` prints it with no filter (priced with
  ``prices``, the config's price table), and its number of rows.

A row depends only on its session id and the commit its ref names: when the refs change, only the
sessions whose ref is new or has moved are read (one git process), the rows of removed refs are
dropped and every other row is kept. Sessions still recording (journals) are read on every call and
never cached. The refs stay the only truth; the file can be deleted at any time.
"""
from __future__ import annotations

import marshal
import sys

from agitlog import git
from agitlog.constants import REF_PREFIX, VERSION
from agitlog.query.costs import usage_cost

TYPE_CHECKING = False  # `log` starts here: typing and the listing's dataclasses cost start-up
if TYPE_CHECKING:
    from datetime import datetime
    from pathlib import Path
    from typing import Any, Mapping, Sequence

    from agitlog.query.listing import LogRow
    from agitlog.store.sessions import Session

    Row = tuple[tuple[str, ...], tuple[Any, ...]]  # (cells, facts)

LOG_CACHE_VERSION = 1  # bump when a cell, a fact or the layout changes (the agitlog version alone may not)
_TAG = (LOG_CACHE_VERSION, VERSION, tuple(sys.version_info[:2]))
COLUMNS = ("id", "started (UTC)", "duration", "session", "status", "steps", "files", "tokens")
_ID, _STARTED, _STATUS, _AGENT, _MODELS = range(5)  # a row's facts


class LogTable:
    """What `log` prints: ``count`` rows; ``text``, the whole plain table, when it came straight
    from the cache (its cells are unpacked only if ``table()`` is asked for)."""

    __slots__ = ("count", "text", "_table", "_blob", "_prices")

    def __init__(self, *, count: int, text: str | None = None, table: tuple[tuple[str, ...], list[tuple[str, ...]]]
                 | None = None, blob: bytes = b"", prices: Mapping[str, Any] | None = None) -> None:
        self.count, self.text = count, text
        self._table, self._blob, self._prices = table, blob, prices

    def table(self) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
        """(headers, rows of escaped cells)."""
        if self._table is None:
            cells, facts = marshal.loads(self._blob)
            self._table = _priced(cells, facts, self._prices or {})
        return self._table


def cache_file(repo: git.Repo) -> Path:
    return repo.state_dir / "cache" / "log.marshal"


def log_table(repo: git.Repo, *, status: Sequence[str] = (), agent: str | None = None,
              since: datetime | None = None) -> LogTable:
    """Every session newest first, filtered, as `log` prints them, from the cache when the refs
    have not moved (the cache is brought up to date first when they have)."""
    from agitlog.config import load_config
    from agitlog.store import has_journals

    recovery, live = None, []
    if has_journals(repo.state_dir):  # almost never: only then load the journal and recovery code
        from agitlog.store.journal import iter_journals
        from agitlog.store.recovery import recover_sessions

        recovery = recover_sessions(repo)  # finishes crashed sessions first: their refs move
    refs = git.ref_snapshot(repo, REF_PREFIX)
    if recovery is not None and next(iter_journals(repo.state_dir), None):
        live = _store(repo, recovery).live_sessions()
    prices = load_config(repo.root).prices
    cached = _read(cache_file(repo))
    filtered = bool(status or agent or since)
    if cached is not None and cached[1] == refs and cached[2] == prices and not live and not filtered:
        return LogTable(count=cached[4], text=cached[3], blob=cached[5], prices=prices)
    cells, facts = _update(repo, recovery, refs, prices, cached)
    if live:
        cells, facts = _with_live(cells, facts, live)
    if filtered:
        cells, facts = _filter(cells, facts, status=status, agent=agent, since=since)
    headers, rows = _priced(cells, facts, prices)
    return LogTable(count=len(rows), table=(headers, rows))


def refresh(repo: git.Repo) -> None:
    """Bring an existing cache up to the refs (`agitlog fetch` calls this for the sessions it
    brought), so the next full `log` reads nothing; without a cache nothing is done: the first full
    `log` builds it. Recovers nothing."""
    cached = _read(cache_file(repo))
    if cached is None:
        return
    refs = git.ref_snapshot(repo, REF_PREFIX)
    if cached[1] != refs:
        _update(repo, None, refs, cached[2], cached)


def _store(repo: git.Repo, recovery: Any) -> Any:
    """The session store, only when a session is to be read: the cached path never loads the typed
    metadata (agitlog.store.models), whose dataclasses cost start-up."""
    from agitlog.store.sessions import SessionStore

    return SessionStore(repo, recovery)


def _update(repo: git.Repo, recovery: Any, refs: tuple[bytes, dict[str, str]], prices: Mapping[str, Any],
            cached: tuple[Any, ...] | None) -> tuple[list[tuple[str, ...]], list[tuple[Any, ...]]]:
    """The cached rows brought up to the refs (only new and moved refs are read), written back."""
    cells, facts = marshal.loads(cached[5]) if cached is not None else ([], [])
    if cached is not None and cached[1] == refs:
        if cached[2] != prices:  # the text is priced anew
            _write(cache_file(repo), refs, prices, cells, facts)
        return cells, facts
    shas = {name[len(REF_PREFIX):]: sha for name, sha in git.snapshot_shas(refs).items()}
    old = git.snapshot_shas(cached[1]) if cached is not None else {}
    kept = [i for i, fact in enumerate(facts)
            if fact[_ID] in shas and old.get(REF_PREFIX + fact[_ID]) == shas[fact[_ID]]]
    known = {facts[i][_ID] for i in kept}
    fresh = [session_row(session) for session in
             _store(repo, recovery).sessions_at([(sid, sha) for sid, sha in shas.items() if sid not in known])]
    merged = _in_listing_order([(cells[i], facts[i]) for i in kept] + fresh)
    cells, facts = [row for row, _ in merged], [fact for _, fact in merged]
    _write(cache_file(repo), refs, prices, cells, facts)
    return cells, facts


def session_row(session: Session) -> tuple[tuple[str, ...], tuple[Any, ...]]:
    """(cells, facts) of one session: where its recorded text is escaped for the terminal."""
    from agitlog.query.listing import log_row

    meta = session.meta
    usage = tuple((model, u.input_tokens, u.output_tokens) for model, u in meta.stats.models.items())
    cells = tuple(_intern(cell) for cell in log_cells(log_row(session, {})))
    return cells, (cells[0] if cells[0] == session.id else session.id, meta.started_at, _intern(meta.status),
                   _intern(meta.agent), usage)


def _intern(text: str) -> str:
    """Cells repeat (statuses, counts, agents): marshal writes an interned string once."""
    return sys.intern(text) if len(text) <= 64 else text


def log_cells(row: LogRow) -> tuple[str, ...]:
    """A `log` row's cells (without the cost), escaped for the terminal."""
    from agitlog.escaping import safe

    total = row.input_tokens + row.output_tokens
    return (safe(row.id, keep_newlines=False), safe(_when(row.started_at), keep_newlines=False),
            duration_text(row.duration_s), safe(row.title, keep_newlines=False),
            safe(row.status if row.exit_code is None else f"{row.status} ({row.exit_code})", keep_newlines=False),
            str(row.steps), str(row.files_changed), f"{total:,}" if total else "-")


def _when(ts: str) -> str:
    return ts[:19].replace("T", " ") if ts else "-"


def duration_text(seconds: float | None) -> str:
    """A duration as `log` and `show` print it: 4.2s, 3m07s, 2h05m."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def cost_cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"



def _in_listing_order(rows: list[Row]) -> list[Row]:
    """Newest id first; ids of the same second (their first 15 characters) by exact start time, as
    the store lists them (store.sessions._by_start_time)."""
    return sorted(rows, key=lambda row: (row[1][_ID][:15], row[1][_STARTED], row[1][_ID]), reverse=True)


def _with_live(cells: list[tuple[str, ...]], facts: list[tuple[Any, ...]], live: Sequence[Session]
               ) -> tuple[list[tuple[str, ...]], list[tuple[Any, ...]]]:
    """The rows with sessions still recording in place of (or besides) their refs' rows."""
    recording = {session.id for session in live}
    rows = [(c, f) for c, f in zip(cells, facts) if f[_ID] not in recording] + [session_row(s) for s in live]
    merged = _in_listing_order(rows)
    return [row for row, _ in merged], [fact for _, fact in merged]


def _filter(cells: list[tuple[str, ...]], facts: list[tuple[Any, ...]], *, status: Sequence[str],
            agent: str | None, since: datetime | None) -> tuple[list[tuple[str, ...]], list[tuple[Any, ...]]]:
    """The rows `log --status/--agent/--since` keeps (the store's own filters: store.sessions._wanted)."""
    from agitlog.store.sessions import started_time

    keep = [i for i, fact in enumerate(facts)
            if (not status or fact[_STATUS] in status) and (not agent or fact[_AGENT] == agent)
            and (since is None or started_time(fact[_STARTED]) >= since)]
    return [cells[i] for i in keep], [facts[i] for i in keep]


def _priced(cells: list[tuple[str, ...]], facts: list[tuple[Any, ...]], prices: Mapping[str, Any]
            ) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """Headers and rows, with a cost column when the price table prices any of them."""
    costs = [usage_cost(fact[_MODELS], prices) for fact in facts] if prices else []
    if not any(cost is not None for cost in costs):
        return COLUMNS, cells
    return COLUMNS + ("cost",), [row + (cost_cell(cost),) for row, cost in zip(cells, costs)]


def plain_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Rows under headers, each column as wide as its widest cell, two spaces apart, no trailing
    spaces (the cells are printed as they are: escape them first)."""
    columns = list(zip(headers, *rows))
    widths = [max(map(len, column)) for column in columns]
    template = "  ".join(f"%-{width}s" for width in widths[:-1]) + ("  %s" if len(widths) > 1 else "%s")
    return "\n".join([(template % tuple(cells)).rstrip() for cells in [headers, *rows]])


def _read(path: Path) -> tuple[Any, ...] | None:
    try:
        with open(path, "rb") as handle:
            data = marshal.loads(handle.read())
    except (OSError, ValueError, EOFError, TypeError):
        return None
    if not isinstance(data, tuple) or len(data) != 6 or data[0] != _TAG:
        return None
    return data


def _write(path: Path, refs: tuple[bytes, dict[str, str]], prices: Mapping[str, Any],
           cells: list[tuple[str, ...]], facts: list[tuple[Any, ...]]) -> None:
    from agitlog.private import make_private_dir, write_private

    headers, rows = _priced(cells, facts, prices)
    try:
        make_private_dir(path.parent)
        blob = marshal.dumps((cells, facts))
        write_private(path, marshal.dumps((_TAG, refs, prices, plain_table(headers, rows), len(rows), blob)))
    except (OSError, ValueError):
        pass  # a read-only git dir, an unmarshallable price: only slower next time
