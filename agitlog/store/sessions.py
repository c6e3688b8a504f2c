"""The session store: the one object every read command asks for sessions, events, steps and attachments.

    store = SessionStore.open(repo)           # finishes sessions whose recorder died, once
    for session in store.list(limit=20):      # newest first; reads only the metadata it returns
        print(session.id, session.meta.status)
    session = store.resolve("3f9a1c")         # id, unique id prefix, random part, or name=...
    events = store.events(session)            # typed, validated (agitlog.store.models)
    steps = store.steps(session)              # step commits, index = step number

Sessions are found from their refs (read from the ref files, no git process) and the journals of
sessions still recording. Session ids sort by start time, so the newest N are the last N ids: their
metadata is read in one ``git cat-file --batch`` and nothing else is touched. A full listing goes
through the metadata cache (agitlog.store.metacache), keyed by commit id.
"""
from __future__ import annotations

import itertools
import re
from datetime import datetime, timedelta, timezone

from agitlog import git
from agitlog.constants import (
    KIND_RECORD, RECORD_ATTACHMENTS_DIR, RECORD_EVENTS_FILE, RECORD_META_FILE, REF_PREFIX, TRAILER_KIND,
)
from agitlog.datatypes import datatype, field, replace
from agitlog.errors import CorruptRecordError, NoSessionsError, SessionNotFoundError, UsageError
from agitlog.store import has_journals
from agitlog.store.models import Event, SessionMeta, parse_events
from agitlog.store.records import session_ref

TYPE_CHECKING = False  # typing costs start-up; only checkers need it
if TYPE_CHECKING:
    from typing import Iterable, Iterator, Sequence

    from agitlog.store.journal import Journal
    from agitlog.store.recovery import Recovery

_ID_ALPHABET = frozenset("0123456789abcdefghijklmnopqrstuvwxyz-")
_ID_TIME = re.compile(r"^(\d{8})-(\d{6})")
_PAGE = 64
_ID_SLACK = timedelta(minutes=1)  # an id's time is taken a moment before started_at


@datatype
class Session:
    """A session as the store yields it: validated metadata and where the session is stored."""

    id: str
    meta: SessionMeta
    ref: str
    commit: str | None          # the record commit, or the latest step commit while recording
    journal: Journal | None = None
    _events: list[Event] | None = field(default=None, repr=False)

    @property
    def live(self) -> bool:
        return self.journal is not None

    @property
    def damaged(self) -> bool:
        return self.meta.damaged

    @property
    def is_rerun(self) -> bool:
        return self.meta.rerun_of is not None


class _Entry:
    """A session known from its ref or journal, its metadata not read yet."""

    __slots__ = ("id", "sha", "journal")

    def __init__(self, id: str, sha: str | None, journal: Journal | None) -> None:  # noqa: A002 - the session id
        self.id, self.sha, self.journal = id, sha, journal


class SessionStore:
    """Sessions of one repository. Open it with ``SessionStore.open(repo)``."""

    def __init__(self, repo: git.Repo, recovery: Recovery | None = None) -> None:
        self.repo = repo
        self._recovery = recovery
        self._entries: list[_Entry] | None = None
        self._loaded: dict[str, Session] = {}
        self._event_blobs: dict[str, bytes | None] = {}  # record sha -> events.jsonl, read with its metadata

    @classmethod
    def open(cls, repo: git.Repo, *, recover: bool = True) -> SessionStore:
        """The store of ``repo``; first finishes every session whose recorder died (``recover``)."""
        if not recover or not has_journals(repo.state_dir):  # as usual: recovery code stays unloaded
            return cls(repo)
        from agitlog.store.recovery import recover_sessions

        return cls(repo, recover_sessions(repo))

    @property
    def recovery(self) -> Recovery:
        """What opening the store recovered and cleaned (empty when the journal directory was)."""
        if self._recovery is None:
            from agitlog.store.recovery import Recovery

            self._recovery = Recovery()
        return self._recovery

    # --- listing ----------------------------------------------------------------------------------

    def ids(self) -> list[str]:
        """Every session id, newest first (no metadata read)."""
        return [entry.id for entry in self._index()]

    def iter_sessions(self, *, first_page: int = _PAGE, with_events: bool = False) -> Iterator[Session]:
        """Every session, newest first, its metadata read a page at a time as the caller goes on (the
        first page ``first_page`` long): refs are read lazily, newest first, so the newest sessions
        cost what they are, not what the repository holds. ``with_events``: a first page of one
        session reads its events in the same git process (the caller is about to)."""
        for page in _pages_by_second(self._newest_entries(), first_page):
            yield from _by_start_time(self._load(page, with_events=with_events))
            with_events = False

    def all(self) -> list[Session]:
        """Every session, newest first, through the metadata cache (the fast way to read them all)."""
        from agitlog.store.metacache import cached_metas

        entries = self._index()
        records = cached_metas(self.repo, [(e.id, e.sha) for e in entries if e.journal is None and e.sha],
                               read=self._read_records)
        return list(_by_start_time(self._session(e, records.get(e.sha or "")) for e in entries))

    def list(self, *, limit: int | None = None, status: Sequence[str] = (), agent: str | None = None,
             since: datetime | None = None, originals_only: bool = False) -> list[Session]:
        """Sessions newest first, filtered; with ``limit`` only the newest sessions are read, until
        ``limit`` of them pass the filters."""
        if limit is None:  # every session may be wanted: the cached full listing is the cheap way
            candidates: Iterator[Session] = iter(self.all())
        else:  # unfiltered, the first page is exactly what is shown
            filtered = bool(status or agent or originals_only)
            candidates = self.iter_sessions(first_page=_PAGE if filtered or not limit else limit)
        out = []
        for session in candidates:
            if since and (started := _id_time(session.id)) is not None and started < since - _ID_SLACK:
                break  # ids sort by start time: every later one is older still
            if not _wanted(session, status=status, agent=agent, since=since, originals_only=originals_only):
                continue
            out.append(session)
            if limit and len(out) >= limit:
                break
        return out

    # --- resolving --------------------------------------------------------------------------------

    def resolve(self, query: str | None = None, *, name: str | None = None, original: bool = False,
                intact: bool = True) -> Session:
        """The session ``query`` names: an id, a unique id prefix, a unique prefix (4+ characters) of
        the random part that ends every id, or else a session's name (``run --name``); or the
        session named ``name`` exactly (never taken for an id); or (neither) the latest one, the
        latest original (not a rerun) when ``original``. With ``intact`` a damaged session is an
        error that says how to remove it. Every command that takes a session resolves it here."""
        if name is not None and query is not None:
            raise UsageError("give a session id or --name, not both")
        if name is not None:
            session = self._by_name(name)
        elif query is None:
            session = self._latest(original=original)
        else:
            session = self._by_id(query)
        if intact and session.damaged:
            raise CorruptRecordError(f"session {session.id} is damaged: {session.meta.damage}",
                                     hint=f"inspect it with `git show {session.ref}`, remove it with "
                                          f"`agitlog rm {session.id}`")
        return session

    def resolve_all(self, queries: Sequence[str], *, names: Sequence[str] = (), intact: bool = True) -> list[Session]:
        """``resolve`` for each of ``queries`` and each of ``names`` (names only), in that order."""
        return ([self.resolve(query, intact=intact) for query in queries]
                + [self.resolve(name=name, intact=intact) for name in names])

    def live_sessions(self) -> list[Session]:
        """Sessions still recording (their journals), newest first; reads no ref."""
        entries = [_Entry(j.session_id, None, j) for j in _readable_journals(self.repo)]
        return [self._session(e, None) for e in sorted(entries, key=lambda e: e.id, reverse=True)]

    def sessions_at(self, refs: Sequence[tuple[str, str]]) -> list[Session]:
        """The sessions these (id, ref's commit) pairs name, as the store yields them from their refs:
        from the metadata cache, the rest read in one git process (the `log` cache asks for the ones
        it has not seen)."""
        from agitlog.store.metacache import known_metas

        records = known_metas(self.repo, [sha for _, sha in refs]) if refs else {}
        missing = [(session_id, sha) for session_id, sha in refs if sha not in records]
        records.update(self._read_records(missing) if missing else {})
        return [self._session(_Entry(session_id, sha, None), records.get(sha)) for session_id, sha in refs]

    def get(self, session_id: str) -> Session | None:
        """The session with exactly this id, or None."""
        matches = [e for e in self._index() if e.id == session_id]
        return self._load(matches)[0] if matches else None

    def _latest(self, *, original: bool) -> Session:
        for session in self.iter_sessions(first_page=1, with_events=True):  # the newest second's first
            if not original or (not session.is_rerun and not session.damaged):
                return session
        if not self._index():
            raise NoSessionsError("no recorded sessions in this repository",
                                  hint="record one with `agitlog run -- <command>`", repo=self.repo)
        raise SessionNotFoundError("no original session (only reruns) in this repository",
                                   hint="record one with `agitlog run -- <command>`")

    def _by_id(self, text: str) -> Session:
        query = text.removeprefix(REF_PREFIX)
        entries = self._index()
        if not entries:
            raise NoSessionsError("no recorded sessions in this repository",
                                  hint="record one with `agitlog run -- <command>`", repo=self.repo)
        like_id = bool(query) and set(query) <= _ID_ALPHABET
        matches = [e for e in entries if e.id == query]
        if not matches and like_id:
            matches = [e for e in entries if e.id.startswith(query)] or _by_random_part(entries, query)
        if not matches:  # an id wins over a name: a name never hides a session's id
            named = self._named(text)
            if named:
                return self._one_named(text, named)
            if not like_id:
                raise UsageError(f"not a session id or name: {query!r}", hint="list sessions with `agitlog log`")
            raise SessionNotFoundError(f"no session id or name matches {query!r}",
                                       hint="list sessions with `agitlog log`")
        if len(matches) > 1:
            raise UsageError(f"{query!r} matches {len(matches)} sessions ({_some(e.id for e in matches)})",
                             hint="give more characters of the id")
        return self._load(matches, with_events=True)[0]

    def _by_name(self, name: str) -> Session:
        matches = self._named(name)
        if not matches:
            raise SessionNotFoundError(f"no session is named {name!r}", hint="list sessions with `agitlog log`")
        return self._one_named(name, matches)

    def _named(self, name: str) -> list[Session]:
        return [s for s in self.all() if s.meta.name == name] if name else []

    def _one_named(self, name: str, matches: list[Session]) -> Session:
        if len(matches) > 1:
            raise UsageError(f"{len(matches)} sessions are named {name!r}: {_some(s.id for s in matches)}",
                             hint="name one by its id instead")
        return matches[0]

    # --- reading one session ----------------------------------------------------------------------

    def events(self, session: Session) -> list[Event]:
        """The session's events in order, from its record or, while it records, from its journal;
        validated (a line that is not a valid event reads as an ``error`` event saying why)."""
        if session._events is None:
            if session.journal is not None:
                try:
                    data = session.journal.events_file.read_bytes()
                except FileNotFoundError:
                    data = b""
                data = data[: data.rfind(b"\n") + 1]
            elif session.damaged:
                data = b""
            elif session.commit in self._event_blobs:
                data = self._event_blobs.pop(session.commit) or b""
            else:
                data = git.cat_file(self.repo, f"{session.commit}:{RECORD_EVENTS_FILE}") or b""
            session._events = list(parse_events(data, session.id))
        return session._events

    def steps(self, session: Session) -> list[str]:
        """Step commits in order: index i is step i. [] when the chain cannot be walked."""
        if session.damaged:
            return []
        if session.journal is not None:
            if not session.commit:
                return []
            chain = git.step_chain(self.repo, session.commit, base=self._existing(session.meta.git.base_commit))
        elif session.meta.steps.last:
            first = session.meta.steps.first  # when known, the chain stops there: no base to look up
            chain = git.step_chain(self.repo, session.meta.steps.last, first=first,
                                   base=None if first else self._existing(session.meta.git.base_commit))
        else:
            return []
        return list(reversed(chain))

    def attachments(self, session: Session, names: Sequence[str]) -> dict[str, bytes]:
        """Payloads events refer to by name (their blob ids), from the record or the live journal; one
        git process for all of them. Names that are not stored are left out."""
        wanted = sorted({name for name in names if name and set(name) <= set("0123456789abcdef")})
        if session.journal is not None:
            paths = {name: session.journal.attachments_dir / name for name in wanted}
            return {name: path.read_bytes() for name, path in paths.items() if path.is_file()}
        blobs = git.cat_files(self.repo, [f"{session.commit}:{RECORD_ATTACHMENTS_DIR}/{name}" for name in wanted])
        return {name: blob for name, blob in zip(wanted, blobs) if blob is not None}

    def _existing(self, commit: str | None) -> str | None:
        """``commit`` if this repository has it (a crafted base_commit may name nothing)."""
        if commit is None:
            return None
        return commit if git.object_ids(self.repo, [commit])[0] else None

    # --- internals --------------------------------------------------------------------------------

    def _index(self) -> list[_Entry]:
        """Every session's entry, newest first (read in bulk: this is the path that wants them all)."""
        if self._entries is None:
            entries = {name[len(REF_PREFIX):]: _Entry(name[len(REF_PREFIX):], sha, None)
                       for name, sha in git.ref_shas(self.repo, REF_PREFIX.rstrip("/")).items()}
            for journal in _readable_journals(self.repo):
                entry = entries.get(journal.session_id)
                entries[journal.session_id] = _Entry(journal.session_id, entry.sha if entry else None, journal)
            self._entries = [entries[key] for key in sorted(entries, reverse=True)]
        return self._entries

    def _newest_entries(self) -> Iterator[_Entry]:
        """Entries newest first, lazily: the refs (newest first) merged with the journals."""
        if self._entries is not None:
            yield from self._entries
            return
        journals = sorted(_readable_journals(self.repo), key=lambda j: j.session_id, reverse=True)
        refs = ((name.removeprefix(REF_PREFIX), sha) for name, sha in git.refs_newest_first(self.repo, REF_PREFIX))
        ref = next(refs, None)
        for journal in journals:
            while ref is not None and ref[0] > journal.session_id:
                yield _Entry(ref[0], ref[1], None)
                ref = next(refs, None)
            sha = None
            if ref is not None and ref[0] == journal.session_id:
                sha, ref = ref[1], next(refs, None)
            yield _Entry(journal.session_id, sha, journal)
        while ref is not None:
            yield _Entry(ref[0], ref[1], None)
            ref = next(refs, None)

    def _load(self, entries: Sequence[_Entry], *, with_events: bool = False) -> list[Session]:
        """Sessions for ``entries``, their records read in one git process; ``with_events`` and one
        record to read (a session resolved to be read next): its events.jsonl comes in it too."""
        todo = [(e.id, e.sha) for e in entries if e.journal is None and e.sha and e.id not in self._loaded]
        records = self._read_records(todo, with_events=with_events and len(todo) == 1) if todo else {}
        for entry in entries:
            if entry.id not in self._loaded:
                self._loaded[entry.id] = self._session(entry, records.get(entry.sha or ""))
        return [self._loaded[e.id] for e in entries]

    def _session(self, entry: _Entry, record: tuple[str, SessionMeta | None] | None) -> Session:
        ref = session_ref(entry.id)
        if entry.journal is not None:
            try:
                meta = SessionMeta.from_dict(entry.journal.read_start(), entry.id, live=True)
            except (CorruptRecordError, OSError) as exc:
                meta = SessionMeta.broken(entry.id, f"its journal is unreadable: {exc}")
            return Session(id=entry.id, meta=meta, ref=ref, commit=entry.sha, journal=entry.journal)
        kind, meta = record or ("", None)
        if kind != KIND_RECORD or meta is None:
            meta = SessionMeta.broken(entry.id, "its ref does not point at a record commit, and no journal "
                                                "of it is here to finish it")
        elif meta.id != entry.id:
            meta = replace(meta, id=entry.id)  # one commit under two refs: the ref name is the truth
        return Session(id=entry.id, meta=meta, ref=ref, commit=entry.sha)

    def _read_records(self, commits: Sequence[tuple[str, str]], *, with_events: bool = False
                      ) -> dict[str, tuple[str, SessionMeta | None]]:
        """sha -> (the commit's Agitlog-Kind, its validated session.toml when it is a record), for
        many (session id, sha) in one git process; ``with_events`` keeps their events.jsonl too."""
        specs = [spec for _, sha in commits for spec in (sha, f"{sha}:{RECORD_META_FILE}")]
        if with_events:
            specs += [f"{sha}:{RECORD_EVENTS_FILE}" for _, sha in commits]
        blobs = git.cat_files(self.repo, specs)
        if with_events:
            self._event_blobs.update((sha, blobs[2 * len(commits) + i]) for i, (_, sha) in enumerate(commits))
        out = {}
        for i, (session_id, sha) in enumerate(commits):
            kind = _commit_kind(blobs[2 * i])
            out[sha] = (kind, SessionMeta.from_toml(blobs[2 * i + 1], session_id) if kind == KIND_RECORD else None)
        return out


def _readable_journals(repo: git.Repo) -> Iterator[Journal]:
    """Journals of sessions recording now; an unreadable one is left to `agitlog recover` to report."""
    if not has_journals(repo.state_dir):
        return
    from agitlog.store.journal import iter_journals

    for journal in iter_journals(repo.state_dir):
        try:
            journal.read_start()
        except (CorruptRecordError, OSError):
            continue
        yield journal


def _commit_kind(commit: bytes | None) -> str:
    """The Agitlog-Kind trailer of a raw commit object ("" when it has none)."""
    if not commit:
        return ""
    key = f"\n{TRAILER_KIND}: ".encode()
    at = commit.rfind(key)
    if at < 0:
        return ""
    return commit[at + len(key):].split(b"\n", 1)[0].strip().decode("utf-8", "replace")


def _wanted(session: Session, *, status: Sequence[str], agent: str | None, since: datetime | None,
            originals_only: bool) -> bool:
    meta = session.meta
    if status and meta.status not in status:
        return False
    if agent and meta.agent != agent:
        return False
    if originals_only and session.is_rerun:
        return False
    return not since or started_time(meta.started_at) >= since


def started_time(started_at: str) -> datetime:
    """A session's started_at as a time (the earliest there is when it has none or it cannot be read)."""
    from agitlog.store.events import parse_ts

    try:
        return parse_ts(started_at)
    except ValueError:
        return datetime.min.replace(tzinfo=timezone.utc)


def _id_time(session_id: str) -> datetime | None:
    match = _ID_TIME.match(session_id)
    if not match:
        return None
    try:
        return datetime.strptime(match.group(1) + match.group(2), "%Y%m%d%H%M%S").replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def _by_random_part(entries: Sequence[_Entry], query: str) -> list[_Entry]:
    """``agitlog rm 3f9a1c``: the random part that ends every id is a handle too."""
    if len(query) < 4 or "-" in query:
        return []
    return [e for e in entries if e.id.rsplit("-", 1)[-1].startswith(query)]


def _some(ids: Iterator[str] | Sequence[str], count: int = 5) -> str:
    items = list(ids)
    return ", ".join(items[:count]) + (", …" if len(items) > count else "")


def _pages_by_second(entries: Iterator[_Entry], first: int) -> Iterator[list[_Entry]]:
    """``entries`` in pages (the first ``first`` long, then _PAGE), each run on to the end of its
    last second: an id carries the second its session started in, and the sessions of one second
    are ordered among themselves (_by_start_time), so one page holds them all. Seeing where a second
    ends reads the next id, not its metadata: `log -n 20` reads 20 sessions, not 20 and a page."""
    page: list[_Entry] = []
    size = first
    for entry in entries:
        if len(page) >= size and entry.id[:15] != page[-1].id[:15]:
            yield page
            page, size = [], _PAGE
        page.append(entry)
    if page:
        yield page


def _by_start_time(sessions: Iterable[Session]) -> Iterator[Session]:
    """Sessions in id order (newest first), each run of ids from the same second put in order of
    their exact start time: an id says the second, its random part says nothing of the order."""
    for _, same_second in itertools.groupby(sessions, key=lambda s: s.id[:15]):
        yield from sorted(same_second, key=lambda s: (s.meta.started_at, s.id), reverse=True)
