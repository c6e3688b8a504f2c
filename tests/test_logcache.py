"""The cache of `agitlog log` rows (query/logcache.py): the full listing always prints what the
sessions' refs say, byte for byte what the uncached listing prints, and only new or moved refs are
read again."""
from __future__ import annotations

import marshal
from pathlib import Path

import pytest

from agitlog import git as agit
from agitlog.query import logcache
from crafted import craft_raw_session, make_blob, make_tree
from helpers import agitlog, git, init_repo, run_python_agent

_CONTROLS = [chr(c) for c in (*range(0x00, 0x09), *range(0x0b, 0x20), *range(0x7f, 0xa0), 0x2028, 0x202e, 0x2066)]


def _meta(session_id: str, *, started: str, status: str = "ok", agent: str = "main", name: str = "",
          models: str = "", exit_code: int | None = 0) -> bytes:
    text = (f'format = 1\nid = "{session_id}"\nagent = "{agent}"\ncommand = ["python", "agent.py"]\n'
            f'status = "{status}"\nstarted_at = "{started}"\nduration_s = 75.5\n'
            + (f"exit_code = {exit_code}\n" if exit_code is not None else "")
            + (f"name = {name}\n" if name else "")
            + "[stats]\ninput_tokens = 1200\noutput_tokens = 34\nfiles_changed = 2\n" + models)
    return text.encode()


def _session(repo: Path, session_id: str, **meta: object) -> str:
    tree = make_tree(repo, [("100644", "blob", make_blob(repo, b"x\n"), "a.txt")])
    return craft_raw_session(repo, session_id=session_id, meta_toml=_meta(session_id, **meta),  # type: ignore[arg-type]
                             events=b"", step_trees=[tree])


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """Sessions of every kind the listing shows: statuses, agents, priced models, three ids of one
    second whose start times order them otherwise, a hostile name, a ref at no record."""
    repo = init_repo(tmp_path / "repo")
    (repo / "README.md").write_text("x\n")
    git(repo, "add", "README.md")
    git(repo, "commit", "-q", "-m", "init")
    _session(repo, "20260101-100000-aaaaaa", started="2026-01-01T10:00:00.900000Z", status="failed", exit_code=3)
    _session(repo, "20260101-100000-bbbbbb", started="2026-01-01T10:00:00.100000Z", agent="planner",
             models='[stats.models."gpt-4o"]\ninput_tokens = 1000\noutput_tokens = 30\ncalls = 1\n')
    _session(repo, "20260101-100000-cccccc", started="2026-01-01T10:00:00.500000Z", name='"fix the\\u001b[31m bug"')
    _session(repo, "20260102-120000-dddddd", started="2026-01-02T12:00:00.000000Z", status="killed",
             exit_code=None, name='"\\u202eevil\\ttab\\nline"')
    _session(repo, "20260103-080000-eeeeee", started="2026-01-03T08:00:00.000000Z", agent="planner",
             models='[stats.models."llama"]\ninput_tokens = 5\noutput_tokens = 5\ncalls = 1\n')
    head = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "update-ref", "refs/agent-sessions/20260104-000000-ffffff", head)  # not a record: damaged
    (repo / ".agitlog.toml").write_text('[prices."gpt-4o"]\ninput = 2.5\noutput = 10.0\n')
    return repo


def _log(repo: Path, *args: str) -> str:
    proc = agitlog("log", *args, cwd=repo)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _uncached(repo: Path, *args: str) -> str:
    """The same listing through the store and the row renderer (`-n` reads sessions one by one)."""
    return _log(repo, *args, "-n", "1000")


@pytest.mark.parametrize("filters", [(), ("--status", "failed"), ("--status", "ok", "--status", "killed"),
                                     ("--agent", "planner"), ("--since", "2026-01-02"),
                                     ("--agent", "planner", "--since", "2026-01-02T00:00:00Z")])
def test_cached_listing_is_the_uncached_one(repo: Path, filters: tuple[str, ...]) -> None:
    cold = _log(repo, *filters)
    assert cold == _log(repo, *filters) == _uncached(repo, *filters)   # built, then read from the cache
    expected = {(): 6, ("--status", "failed"): 1, ("--status", "ok", "--status", "killed"): 4,
                ("--agent", "planner"): 2, ("--since", "2026-01-02"): 2}.get(filters, 1)
    assert cold.count("\n") == 1 + expected


def test_every_column_and_the_order(repo: Path) -> None:
    lines = _log(repo).splitlines()
    assert lines[0].split() == ["id", "started", "(UTC)", "duration", "session", "status", "steps", "files",
                                "tokens", "cost"]
    ids = [line.split()[0] for line in lines[1:]]
    assert ids == ["20260104-000000-ffffff", "20260103-080000-eeeeee", "20260102-120000-dddddd",
                   "20260101-100000-aaaaaa", "20260101-100000-cccccc", "20260101-100000-bbbbbb"]  # same second: start
    planner = next(line for line in lines if line.startswith("20260101-100000-bbbbbb"))
    assert "1m15s" in planner and "1,234" in planner and planner.endswith("0.0028")  # (1000*2.5 + 30*10) / 1e6
    assert "(damaged: its ref does not point at a record commit" in lines[1]


def test_recorded_text_reaches_the_terminal_escaped(repo: Path) -> None:
    out = _log(repo)
    assert not any(ch in out for ch in _CONTROLS) and "\t" not in out
    assert "fix the\\x1b[31m bug" in out and "\\u202eevil tab\\nline" in out
    _, _, _, text, _, blob = marshal.loads(logcache.cache_file(agit.find_repo(repo)).read_bytes())
    cells, _ = marshal.loads(blob)
    assert not any(ch in text or any(ch in cell for row in cells for cell in row) for ch in _CONTROLS)


def _tamper(repo: Path, session_id: str, title: str) -> None:
    """Give a cached row another title, as only the cache would show it."""
    path = logcache.cache_file(agit.find_repo(repo))
    _, refs, prices, _, _, blob = marshal.loads(path.read_bytes())
    cells, facts = marshal.loads(blob)
    cells = [row[:3] + (title,) + row[4:] if row[0] == session_id else row for row in cells]
    logcache._write(path, refs, prices, cells, facts)


def test_only_new_and_moved_refs_are_read_again(repo: Path) -> None:
    _log(repo)
    _tamper(repo, "20260103-080000-eeeeee", "from-the-cache")
    assert "from-the-cache" in _log(repo)                       # refs unchanged: the cached text
    _session(repo, "20260105-000000-gggggg", started="2026-01-05T00:00:00.000000Z")
    out = _log(repo)
    assert out.splitlines()[1].startswith("20260105-000000-gggggg")  # the new ref is read...
    assert "from-the-cache" in out                                   # ...and only it
    git(repo, "pack-refs", "--all", "--prune")
    assert "from-the-cache" in _log(repo)                       # same refs, packed: nothing read again
    moved = git(repo, "rev-parse", "refs/agent-sessions/20260101-100000-aaaaaa").strip()
    git(repo, "update-ref", "refs/agent-sessions/20260103-080000-eeeeee", moved)
    out = _log(repo)
    assert "from-the-cache" not in out and out == _uncached(repo)   # a moved ref is read again
    assert sum(line.startswith("20260103-080000-eeeeee  ") and "failed (3)" in line for line in out.splitlines()) == 1
    git(repo, "update-ref", "-d", "refs/agent-sessions/20260105-000000-gggggg")
    out = _log(repo)
    assert "gggggg" not in out and out == _uncached(repo)           # a removed ref's row goes


def test_prices_version_and_damage_rebuild_it(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _log(repo)
    _tamper(repo, "20260103-080000-eeeeee", "from-the-cache")
    (repo / ".agitlog.toml").write_text('[prices."llama"]\ninput = 1.0\noutput = 1.0\n')
    out = _log(repo)
    assert "from-the-cache" in out and out.splitlines()[2].endswith("0.0000")  # priced anew, rows kept
    monkeypatch.setattr(logcache, "_TAG", (logcache.LOG_CACHE_VERSION + 1, *logcache._TAG[1:]))
    table = logcache.log_table(agit.find_repo(repo))                # another version: rebuilt
    assert table.text is None and "from-the-cache" not in str(table.table())
    monkeypatch.undo()
    logcache.cache_file(agit.find_repo(repo)).write_bytes(b"\x00garbage")
    assert _log(repo) == _uncached(repo)


def test_no_sessions_and_nothing_matching(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    proc = agitlog("log", cwd=repo)
    assert proc.returncode == 0 and proc.stdout == "" and "no sessions recorded yet" in proc.stderr
    git(repo, "commit", "-q", "--allow-empty", "-m", "init")
    _session(repo, "20260101-100000-aaaaaa", started="2026-01-01T10:00:00.900000Z")
    proc = agitlog("log", "--agent", "nobody", cwd=repo)
    assert proc.stdout == "" and "no sessions match --agent nobody" in proc.stderr


def test_a_session_still_recording_is_listed_and_not_cached(repo: Path) -> None:
    proc = run_python_agent(repo, """
        import os, subprocess
        out = subprocess.run(["agitlog", "log"], capture_output=True, text=True).stdout
        slow = subprocess.run(["agitlog", "log", "-n", "1000"], capture_output=True, text=True).stdout
        open(os.environ["LISTING"], "w").write(out + "=====\\n" + slow)
    """, env={"LISTING": str(repo.parent / "listing.txt")})
    assert proc.returncode == 0, proc.stderr
    fast, slow = (repo.parent / "listing.txt").read_text().split("=====\n")
    assert fast == slow and "running" in fast.splitlines()[1]
    after = _log(repo)
    assert "running" not in after and len(after.splitlines()) == len(fast.splitlines())
    assert after == _uncached(repo)


def test_fetch_brings_the_cache_up_to_date(repo: Path, tmp_path: Path) -> None:
    git(tmp_path, "clone", "-q", str(repo), "clone")
    clone = tmp_path / "clone"
    assert agitlog("log", cwd=clone).stdout == ""                 # the clone's cache: no rows yet
    assert agitlog("fetch", "origin", cwd=clone).returncode == 0
    where = agit.find_repo(clone)
    _, refs, _, text, count, _ = marshal.loads(logcache.cache_file(where).read_bytes())
    assert refs == agit.ref_snapshot(where, "refs/agent-sessions/") and count >= 5
    assert text + "\n" == _log(clone) == _uncached(clone)


def test_a_cold_cache_starts_from_the_metadata_cache(repo: Path) -> None:
    agitlog("log", "--json", cwd=repo)                                 # fills the metadata cache
    listing = _log(repo)
    logcache.cache_file(agit.find_repo(repo)).unlink()
    blob = git(repo, "rev-parse", "refs/agent-sessions/20260102-120000-dddddd:session.toml").strip()
    (repo / ".git" / "objects" / blob[:2] / blob[2:]).unlink()      # its record can no longer be read...
    assert _log(repo) == listing                                       # ...and is not read again
