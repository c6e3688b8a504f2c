"""`agitlog search`: every event of every finished session, through an index under the git dir.

The index is a cache, never a source of truth: ``<git-common-dir>/agitlog/search.sqlite`` (SQLite,
FTS5 with the trigram tokenizer when available, so any substring of 3+ characters is an index
lookup). Before each search it is brought up to date with the refs: sessions whose ref is new or
moved are (re)indexed, sessions whose ref is gone are dropped. A quick fingerprint of the ref
storage (no git process) tells when nothing changed. Delete the file at any time; it is rebuilt.

Each event's searchable text is every string, number and key in its ``data``, one per line, so a
prompt, a response, tool arguments and results, a decision and its reasoning, state and errors
are all found. Sessions still recording are not indexed (their events are in the journal and change
all the time): their journals are scanned directly, and they are indexed once they finish.
"""
from __future__ import annotations

import json
import os
import re
import sqlite3
from datetime import datetime
from pathlib import Path

from agitlog import git
from agitlog.datatypes import datatype, field, replace
from agitlog.store import provenance as links
from agitlog.constants import KIND_RECORD, RECORD_EVENTS_FILE, RECORD_META_FILE, REF_PREFIX, TRAILER_KIND
from agitlog.errors import UsageError
from agitlog.private import make_private_dir, open_private
from agitlog.store.models import SessionMeta, parse_events

TYPE_CHECKING = False  # typing costs start-up; only checkers need it
if TYPE_CHECKING:
    from typing import Any, Iterable, Iterator, Sequence
    from agitlog.store.sessions import SessionStore

INDEX_VERSION = "2"  # 2: an event's agent is the framework agent whose span made its model call
INDEX_FILE = "search.sqlite"
_BATCH = 200


@datatype(frozen=True)
class SearchFilters:
    types: Sequence[str] = ()
    agent: str | None = None
    model: str | None = None
    tool: str | None = None
    file: str | None = None
    status: Sequence[str] = ()
    session: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@datatype(frozen=True)
class SearchHit:
    session: str
    seq: int
    ts: str
    type: str
    agent: str
    model: str | None
    tool: str | None
    snippet: str
    line: str                       # the whole line of event text that matched
    context: list[dict[str, Any]] = field(default_factory=list)   # neighbouring events (seq, type, text)


@datatype(frozen=True)
class SearchResult:
    hits: list[SearchHit]
    indexed_sessions: int
    reindexed: int
    truncated: bool


def index_path(repo: git.Repo) -> Path:
    return repo.state_dir / INDEX_FILE


# --- the index ------------------------------------------------------------------------------------

class SearchIndex:
    """The SQLite index: open it, ``sync()`` it with the refs, ``query()`` it."""

    def __init__(self, repo: git.Repo) -> None:
        self.repo = repo
        path = index_path(repo)
        make_private_dir(path.parent)
        os.close(open_private(path, os.O_CREAT | os.O_WRONLY))  # 0600 before sqlite writes (its WAL copies the mode)
        self.db = sqlite3.connect(str(path), timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.create_function("regexp", 2, _regexp, deterministic=True)
        self.trigram = self._create_schema()

    def close(self) -> None:
        self.db.close()

    def _create_schema(self) -> bool:
        version = self._meta("version")
        if version is not None and version != INDEX_VERSION:
            self._drop_all()
        self.db.executescript("""
            CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);
            CREATE TABLE IF NOT EXISTS sessions(id TEXT PRIMARY KEY, sha TEXT NOT NULL, started_at TEXT,
                agent TEXT, status TEXT);
            CREATE TABLE IF NOT EXISTS session_files(session TEXT NOT NULL, path TEXT NOT NULL);
            CREATE INDEX IF NOT EXISTS session_files_path ON session_files(path);
            CREATE INDEX IF NOT EXISTS session_files_session ON session_files(session);
            CREATE TABLE IF NOT EXISTS events(id INTEGER PRIMARY KEY, session TEXT NOT NULL, seq INTEGER,
                ts TEXT, type TEXT, agent TEXT, model TEXT, tool TEXT);
            CREATE INDEX IF NOT EXISTS events_session ON events(session, seq);
        """)
        if not self._has_table("events_text"):
            try:
                self.db.execute("CREATE VIRTUAL TABLE events_text USING fts5(text, tokenize='trigram')")
            except sqlite3.OperationalError:  # no FTS5 or no trigram tokenizer (or another process won)
                self.db.execute("CREATE TABLE IF NOT EXISTS events_text(rowid INTEGER PRIMARY KEY, text TEXT)")
        self._set_meta("version", INDEX_VERSION)
        self.db.commit()
        sql = self.db.execute("SELECT sql FROM sqlite_master WHERE name='events_text'").fetchone()[0]
        return "fts5" in sql.lower()

    def _has_table(self, name: str) -> bool:
        return self.db.execute("SELECT 1 FROM sqlite_master WHERE name=?", (name,)).fetchone() is not None

    def _drop_all(self) -> None:
        for name in ("events_text", "events", "session_files", "sessions", "meta"):
            self.db.execute(f"DROP TABLE IF EXISTS {name}")

    def _meta(self, key: str) -> str | None:
        if not self._has_table("meta"):
            return None
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def _set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    # --- keeping it in step with the refs ---------------------------------------------------------

    def sync(self, *, force: bool = False) -> int:
        """Bring the index up to date with refs/agent-sessions; returns how many sessions were (re)indexed."""
        stamp = links.refs_fingerprint(self.repo)
        fingerprint = json.dumps(stamp)
        if not force and stamp is not None and self._meta("fingerprint") == fingerprint:
            return 0
        tips = {name.removeprefix(REF_PREFIX): sha
                for name, sha in git.ref_shas(self.repo, REF_PREFIX.rstrip("/")).items()}
        indexed = dict(self.db.execute("SELECT id, sha FROM sessions").fetchall())
        gone = [sid for sid, sha in indexed.items() if tips.get(sid) != sha]
        records = self._records({sid: sha for sid, sha in tips.items() if indexed.get(sid) != sha})
        fresh = sorted(records)
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self._forget(gone)
            touched = _session_paths(self.repo, fresh) if fresh else {}
            for start in range(0, len(fresh), _BATCH):
                self._add(fresh[start:start + _BATCH], records, touched)
            self._set_meta("fingerprint", fingerprint)
            self.db.commit()
        except BaseException:
            self.db.rollback()
            raise
        return len(fresh)

    def _records(self, tips: dict[str, str]) -> dict[str, str]:
        """Of the sessions whose ref is new or moved (``tips``), those whose ref points at a record
        commit (finished). Only these refs' commits are read: once the index is up to date (after
        `agitlog fetch`, say), a search parses no session's commit, however many there are."""
        if not tips:
            return {}
        trailers = git.commit_trailers(self.repo, sorted(set(tips.values())))
        return {sid: sha for sid, sha in tips.items()
                if trailers.get(sha, {}).get(TRAILER_KIND) == [KIND_RECORD]}

    def _forget(self, session_ids: Sequence[str]) -> None:
        for sid in session_ids:
            self.db.execute("DELETE FROM events_text WHERE rowid IN (SELECT id FROM events WHERE session=?)", (sid,))
            self.db.execute("DELETE FROM events WHERE session=?", (sid,))
            self.db.execute("DELETE FROM session_files WHERE session=?", (sid,))
            self.db.execute("DELETE FROM sessions WHERE id=?", (sid,))

    def _add(self, session_ids: Sequence[str], records: dict[str, str], touched: dict[str, set[str]]) -> None:
        # session.toml is read later, and only if a search filters by status (_fill_metadata): parsing
        # it was 40% of indexing, which `agitlog fetch` pays for every session it brings.
        blobs = git.cat_files(self.repo, [f"{records[sid]}:{RECORD_EVENTS_FILE}" for sid in session_ids])
        next_id = (self.db.execute("SELECT max(id) FROM events").fetchone()[0] or 0) + 1
        for i, sid in enumerate(session_ids):
            self.db.execute("INSERT INTO sessions(id, sha) VALUES (?,?)", (sid, records[sid]))
            self.db.executemany("INSERT INTO session_files(session, path) VALUES (?, ?)",
                                [(sid, path) for path in sorted(touched.get(sid, ()))])
            rows = list(_event_rows(sid, blobs[i] or b"", next_id))
            self.db.executemany("INSERT INTO events(id, session, seq, ts, type, agent, model, tool) "
                                "VALUES (?,?,?,?,?,?,?,?)", [row[:8] for row in rows])
            self.db.executemany("INSERT INTO events_text(rowid, text) VALUES (?, ?)", [(row[0], row[8]) for row in rows])
            next_id += len(rows)

    def _fill_metadata(self) -> None:
        """started_at, agent and status of every indexed session whose session.toml was not read
        yet, through the validated model (one git process for all of them)."""
        missing = self.db.execute("SELECT id, sha FROM sessions WHERE status IS NULL").fetchall()
        if not missing:
            return
        blobs = git.cat_files(self.repo, [f"{sha}:{RECORD_META_FILE}" for _, sha in missing])
        rows = []
        for (sid, _), blob in zip(missing, blobs):
            meta = SessionMeta.from_toml(blob, sid)
            rows.append((meta.started_at, meta.agent, meta.status, sid))
        self.db.executemany("UPDATE sessions SET started_at=?, agent=?, status=? WHERE id=?", rows)
        self.db.commit()

    def session_count(self) -> int:
        return self.db.execute("SELECT count(*) FROM sessions").fetchone()[0]

    # --- querying ---------------------------------------------------------------------------------

    def query(self, pattern: str, *, regex: bool, filters: SearchFilters, limit: int | None
              ) -> tuple[list[tuple[Any, ...]], bool]:
        """Matching rows (id, session, seq, ts, type, agent, model, tool, text), newest first."""
        if filters.status:
            self._fill_metadata()
        where, params = self._text_condition(pattern, regex)
        more, more_params = _filter_conditions(filters)
        # Driving the join from the text table in descending rowid order lets FTS5 stream matches
        # newest first and stop at the limit, instead of sorting every match of a common word.
        sql = ("SELECT e.id, e.session, e.seq, e.ts, e.type, e.agent, e.model, e.tool, t.text "
               "FROM events_text t CROSS JOIN events e ON e.id = t.rowid "
               f"WHERE {' AND '.join([where, *more])} ORDER BY t.rowid DESC")
        if limit:
            sql += f" LIMIT {int(limit) + 1}"
        rows = self.db.execute(sql, [*params, *more_params]).fetchall()
        truncated = bool(limit) and len(rows) > limit
        return rows[:limit] if limit else rows, truncated

    def _text_condition(self, pattern: str, regex: bool) -> tuple[str, list[Any]]:
        if regex:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise UsageError(f"invalid regular expression {pattern!r}: {exc}") from None
            prefilter = _regex_prefilter(pattern)
            if self.trigram and prefilter:
                return "events_text MATCH ? AND t.text REGEXP ?", [prefilter, pattern]
            return "t.text REGEXP ?", [pattern]
        if self.trigram and len(pattern) >= 3:
            return "events_text MATCH ?", [_phrase(pattern)]
        return "instr(lower(t.text), lower(?)) > 0", [pattern]

    def context(self, session: str, seq: int, radius: int) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT e.seq, e.type, e.agent, t.text FROM events e JOIN events_text t ON t.rowid = e.id "
            "WHERE e.session=? AND e.seq BETWEEN ? AND ? AND e.seq != ? ORDER BY e.seq",
            (session, seq - radius, seq + radius, seq)).fetchall()
        return [{"seq": s, "type": k, "agent": a, "text": _first_line(text)} for s, k, a, text in rows]


def update_index(repo: git.Repo) -> int:
    """Index the sessions that arrived or changed since the index was last brought up to date
    (`agitlog fetch` calls this, so the first search after it has nothing left to read); returns
    how many sessions were indexed."""
    index = SearchIndex(repo)
    try:
        return index.sync()
    finally:
        index.close()


def _regexp(pattern: str, text: str | None) -> bool:
    return text is not None and _compiled(pattern).search(text) is not None


_REGEX_CACHE: dict[str, re.Pattern[str]] = {}


def _compiled(pattern: str) -> re.Pattern[str]:
    if pattern not in _REGEX_CACHE:
        _REGEX_CACHE[pattern] = re.compile(pattern)
    return _REGEX_CACHE[pattern]


def _regex_prefilter(pattern: str) -> str | None:
    """An FTS query every match of ``pattern`` satisfies, so only those rows run the regex:
    "foo.*bar" -> "foo", "overdue|refund ledger" -> "overdue" OR "refund ledger". Built from the
    regex's parse tree (literal runs at the top level, or in each top-level branch); None means
    "scan everything". The trigram index ignores case, so it is a superset either way."""
    try:
        from re import _parser  # the stdlib's own regex parser (sre_parse)
        parsed = _parser.parse(pattern)
    except Exception:  # noqa: BLE001 - an exotic pattern only loses the shortcut
        return None
    if parsed.state.flags & re.VERBOSE:
        return None
    items = list(parsed)
    if len(items) == 1 and items[0][0] is _parser.BRANCH:
        branches = [list(branch) for branch in items[0][1][1]]
    else:
        branches = [items]
    literals = [_longest_literal(branch, _parser) for branch in branches]
    if not all(len(literal) >= 3 for literal in literals):
        return None
    return " OR ".join(_phrase(literal) for literal in dict.fromkeys(literals))


def _longest_literal(items: list, parser: object) -> str:
    """The longest run of consecutive literal characters in one sequence of a parsed regex."""
    best, run = "", []
    for op, value in items:
        if op is parser.LITERAL:  # type: ignore[attr-defined]
            run.append(chr(value))
            continue
        best = max(best, "".join(run), key=len)
        run = []
    return max(best, "".join(run), key=len)


def _phrase(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _filter_conditions(filters: SearchFilters) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    if filters.types:
        where.append("(" + " OR ".join("(e.type = ? OR e.type LIKE ?)" for _ in filters.types) + ")")
        for kind in filters.types:
            params += [kind, kind.replace("%", "").replace("_", "\\_") + ".%"]
        where[-1] = where[-1].replace("LIKE ?", "LIKE ? ESCAPE '\\'")
    for column, value in (("e.agent", filters.agent), ("e.model", filters.model), ("e.tool", filters.tool)):
        if value:
            where.append(f"{column} = ?")
            params.append(value)
    if filters.file:
        where.append("e.session IN (SELECT session FROM session_files WHERE path = ? OR path LIKE ? ESCAPE '\\')")
        prefix = filters.file.rstrip("/").replace("%", "\\%").replace("_", "\\_")
        params += [filters.file, prefix + "/%"]
    if filters.status:
        where.append(f"e.session IN (SELECT id FROM sessions WHERE status IN ({','.join('?' * len(filters.status))}))")
        params += list(filters.status)
    if filters.session:
        where.append("(e.session = ? OR e.session LIKE ?)")
        params += [filters.session, filters.session.replace("%", "") + "%"]
    if filters.since:
        where.append("e.ts >= ?")
        params.append(_ts(filters.since))
    if filters.until:
        where.append("e.ts < ?")
        params.append(_ts(filters.until))
    return where, params


def _ts(moment: datetime) -> str:
    from datetime import timezone

    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _session_paths(repo: git.Repo, session_ids: Iterable[str]) -> dict[str, set[str]]:
    """Files each session's steps wrote (from the shared links cache)."""
    cached = links.load_links(repo)
    return {sid: {row[0] for row in cached.get(sid, {}).get("blobs", [])} for sid in session_ids}


def _event_rows(session_id: str, data: bytes, first_id: int) -> Iterator[tuple[Any, ...]]:
    from agitlog.query.agents import attribute_model_calls

    # model calls are indexed under the framework agent whose span made them, as `show --agent` has it
    events = [] if data is None else attribute_model_calls(list(parse_events(data, session_id)))
    for offset, event in enumerate(events):
        body = event["data"]
        model = body.get("model") if isinstance(body.get("model"), str) else None
        tool = body.get("tool") if isinstance(body.get("tool"), str) else None
        yield (first_id + offset, session_id, event.get("seq", offset), event.get("ts"), event.get("type"),
               event.get("agent"), model, tool, event_text(body))


def event_text(data: Any) -> str:
    """Every key and leaf value of an event's data, one per line: what search looks in."""
    lines: list[str] = []
    _flatten(data, "", lines)
    return "\n".join(lines)


def _flatten(value: Any, key: str, lines: list[str]) -> None:
    if isinstance(value, dict):
        for child_key, child in value.items():
            _flatten(child, str(child_key), lines)
    elif isinstance(value, list):
        for child in value:
            _flatten(child, key, lines)
    elif value is not None and not isinstance(value, bool):
        text = str(value)
        lines.extend(f"{key}: {part}" if key else part for part in text.split("\n"))


def _first_line(text: str, width: int = 120) -> str:
    line = text.split("\n", 1)[0]
    return line if len(line) <= width else line[: width - 1] + "…"


# --- the search -----------------------------------------------------------------------------------

_MAX_COUNT = 1 << 31


def search_sessions(repo: git.Repo, *, pattern: str, regex: bool = False, filters: SearchFilters = SearchFilters(),
                    limit: int | None = 100, context: int = 0, reindex: bool = False) -> SearchResult:
    """Events whose text contains ``pattern`` (plain, case-insensitive; or a Python regex), newest first."""
    if not pattern:
        raise UsageError("empty search pattern", hint='search for some text, e.g. agitlog search "overdue"')
    if (limit or 0) > _MAX_COUNT or context > _MAX_COUNT:  # SQLite integers end at 2**63
        raise UsageError(f"--limit and --context go up to {_MAX_COUNT:,}")
    from agitlog.store.sessions import SessionStore

    store = SessionStore.open(repo)  # crashed sessions are finished first, so the index sees them
    if filters.session:  # an id, a prefix or a name, as every command takes it
        filters = replace(filters, session=store.resolve(filters.session, intact=False).id)
    index = SearchIndex(repo)
    try:
        reindexed = index.sync(force=reindex)
        live = _live_hits(store, pattern=pattern, regex=regex, filters=filters)
        rows, truncated = index.query(pattern, regex=regex, filters=filters, limit=limit)
        hits = live + [_hit(index, row, pattern, regex, context) for row in rows]
        if limit and len(hits) > limit:
            hits, truncated = hits[:limit], True
        return SearchResult(hits=hits, indexed_sessions=index.session_count(), reindexed=reindexed,
                            truncated=truncated)
    finally:
        index.close()


def _live_hits(store: SessionStore, *, pattern: str, regex: bool, filters: SearchFilters) -> list[SearchHit]:
    """Sessions still recording are not in the index (their events live in the journal and change
    all the time): scan their journals directly. They are few, and newer than anything indexed."""
    from agitlog.query.agents import attribute_model_calls

    if filters.file or (filters.status and "running" not in filters.status):
        return []
    hits: list[SearchHit] = []
    for session in store.live_sessions():  # a directory listing: no cost when nothing records
        if filters.session and not session.id.startswith(filters.session):
            continue
        for event in reversed(attribute_model_calls(store.events(session))):
            hit = _live_hit(session.id, event, pattern, regex, filters)
            if hit:
                hits.append(hit)
    return hits


def _live_hit(session_id: str, event: dict[str, Any], pattern: str, regex: bool, filters: SearchFilters
              ) -> SearchHit | None:
    body = event.get("data") if isinstance(event.get("data"), dict) else {}
    model = body.get("model") if isinstance(body.get("model"), str) else None
    tool = body.get("tool") if isinstance(body.get("tool"), str) else None
    kind, ts = str(event.get("type", "")), str(event.get("ts", ""))
    if filters.types and not any(kind == t or kind.startswith(t + ".") for t in filters.types):
        return None
    if (filters.agent and event.get("agent") != filters.agent) or (filters.model and model != filters.model) \
            or (filters.tool and tool != filters.tool):
        return None
    if (filters.since and ts < _ts(filters.since)) or (filters.until and ts >= _ts(filters.until)):
        return None
    text = event_text(body)
    found = _compiled(pattern).search(text) if regex else pattern.lower() in text.lower()
    if not found:
        return None
    line, snippet = _snippet(text, pattern, regex)
    return SearchHit(session=session_id, seq=event.get("seq", 0), ts=ts, type=kind, agent=str(event.get("agent", "")),
                     model=model, tool=tool, snippet=snippet, line=line)


def _hit(index: SearchIndex, row: tuple[Any, ...], pattern: str, regex: bool, context: int) -> SearchHit:
    _, session, seq, ts, kind, agent, model, tool, text = row
    line, snippet = _snippet(text, pattern, regex)
    return SearchHit(session=session, seq=seq, ts=ts or "", type=kind or "", agent=agent or "", model=model,
                     tool=tool, snippet=snippet, line=line,
                     context=index.context(session, seq, context) if context else [])


def _snippet(text: str, pattern: str, regex: bool, radius: int = 60) -> tuple[str, str]:
    for line in text.split("\n"):
        if regex:
            match = _compiled(pattern).search(line)
            span = match.span() if match else None
        else:
            pos = line.lower().find(pattern.lower())
            span = (pos, pos + len(pattern)) if pos >= 0 else None
        if span:
            start, end = max(0, span[0] - radius), min(len(line), span[1] + radius)
            return line, ("…" if start else "") + line[start:end] + ("…" if end < len(line) else "")
    first = _first_line(text)
    return first, first
