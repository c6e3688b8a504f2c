"""The session store: one object that lists, resolves and reads sessions, and typed models that no
fetched session can break (issue 10, items 1-2)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from agitlog import git as agit
from agitlog.errors import CorruptRecordError, SessionNotFoundError, UsageError
from agitlog.store.models import MAX_DEPTH, SessionMeta, parse_events
from agitlog.store.sessions import SessionStore
from crafted import make_blob, make_tree
from helpers import agitlog, agitlog_json, git, run_python_agent

START = '{"v":1,"seq":0,"ts":"2026-01-01T00:00:00.000000Z","session":"s","type":"session.start","data":{}}\n'


def _meta(session_id: str, base: str, step: str, **fields: str) -> str:
    values = {"format": "1", "id": json.dumps(session_id), "agent": '"main"', "command": '["agent"]',
              "status": '"ok"', "started_at": '"2026-01-01T00:00:00.000000Z"', "pid": "42", "duration_s": "1.5"}
    values.update(fields)
    top = "".join(f"{key} = {value}\n" for key, value in values.items() if value is not None)
    return top + f'[git]\nbase_commit = "{base}"\n[steps]\ncount = 1\nfirst = "{step}"\nlast = "{step}"\n'


def craft(repo: Path, session_id: str, *, events: str = START, meta: str | None = None, base: str | None = None,
          **fields: str) -> str:
    """A finished session built with git plumbing, as a teammate's machine could push it."""
    head = git(repo, "rev-parse", "HEAD").strip()
    tree = git(repo, "rev-parse", "HEAD^{tree}").strip()
    step = git(repo, "commit-tree", tree, "-p", head, "-m", "agitlog step 0: crafted\n\nAgitlog-Kind: step").strip()
    text = meta if meta is not None else _meta(session_id, base or head, step, **fields)
    record_tree = make_tree(repo, [("100644", "blob", make_blob(repo, events.encode()), "events.jsonl"),
                                   ("100644", "blob", make_blob(repo, text.encode()), "session.toml")])
    record = git(repo, "commit-tree", record_tree, "-p", step, "-m",
                 f"agitlog session {session_id}\n\nAgitlog-Session: {session_id}\nAgitlog-Kind: record").strip()
    git(repo, "update-ref", f"refs/agent-sessions/{session_id}", record)
    return session_id


def _store(repo: Path) -> SessionStore:
    return SessionStore.open(agit.find_repo(repo))


# --- models ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("fields", "reason"), [
    ({"pid": "inf"}, "pid is not an integer"),
    ({"duration_s": "inf"}, "duration_s is out of range"),
    ({"duration_s": "nan"}, "duration_s is out of range"),
    ({"format": "99"}, "format 99 is not one this agitlog reads (format 1); upgrade agitlog"),
    ({"format": None}, "format is missing"),
    ({"status": '"exploded"'}, "unknown status 'exploded'"),
    ({"exit_code": "99999999999"}, "exit_code is out of range"),
    ({"command": '"rm -rf /"'}, "command is not a list"),
    ({"started_at": '"\\u001b]0;PWNED\\u0007"'}, "started_at is not a valid value"),
    ({"name": json.dumps("x" * 70_000)}, "name is longer than 65536 characters"),
])
def test_invalid_metadata_is_damaged_with_the_reason(fields: dict[str, str], reason: str) -> None:
    text = _meta("20260101-000000-abcdef", "a" * 40, "b" * 40, **fields)
    meta = SessionMeta.from_toml(text.encode(), "20260101-000000-abcdef")
    assert meta.damaged and meta.status == "damaged"
    assert meta.damage is not None and meta.damage.startswith(reason)


def test_unreadable_and_deep_toml_is_damaged_not_fatal() -> None:
    for blob in (b"\xff\xfe", b"format = [" * 100_000, None):
        meta = SessionMeta.from_toml(blob, "20260101-000000-abcdef")
        assert meta.damaged


def test_valid_metadata_round_trips_and_is_typed() -> None:
    text = _meta("20260101-000000-abcdef", "a" * 40, "b" * 40, name='"fix it"', signal="15")
    meta = SessionMeta.from_toml(text.encode(), "20260101-000000-abcdef")
    assert not meta.damaged and meta.pid == 42 and meta.duration_s == 1.5 and meta.command == ("agent",)
    assert meta.git.base_commit == "a" * 40 and meta.steps.first == "b" * 40 and meta.title == "fix it"
    assert SessionMeta.from_row(meta.to_row()) == meta
    counted = text + "[stats]\n" + "".join(f"{key} = {n}\n" for n, key in enumerate(
        ("events", "llm_calls", "tool_calls", "model_tool_calls", "decisions", "errors", "input_tokens",
         "output_tokens", "files_changed", "insertions", "deletions"), 1)) + '[stats.models.m]\ncalls = 7\n'
    full = SessionMeta.from_toml(counted.encode(), "20260101-000000-abcdef")
    assert full.stats.deletions == 11 and full.stats.models["m"].calls == 7
    assert SessionMeta.from_row(full.to_row()) == full  # the cache's rows keep every field in place


def test_events_that_are_not_valid_become_error_events_in_place() -> None:
    deep = "[" * 5000 + "]" * 5000
    lines = [
        START,
        '{"v":1,"seq":1,"type":"log","data":{"n":NaN}}\n',
        '{"v":1,"seq":2,"type":"log","data":{"n":1e999}}\n',
        '{"v":1,"seq":3,"type":"log","data":{"n":' + "9" * 30 + "}}\n",
        '{"v":1,"seq":4,"type":"log","data":' + deep + "}\n",
        '{"v":1,"seq":5,"type":"log","data":' + "[" * 100_000 + "]" * 100_000 + "}\n",
        "not json\n",
        '["an", "array"]\n',
        '{"v":1,"seq":"9","type":"\\u001b[31m","agent":7,"pid":1e3,"step":-1,"commit":"zz","data":"text"}\n',
        '{"v":1,"seq":10,"type":"decision","data":{"decision":"ok"}}\n',
    ]
    events = list(parse_events("".join(lines).encode(), "sid"))
    assert [e["seq"] for e in events] == list(range(len(lines) - 2)) + [8, 10]
    assert [e["type"] for e in events[1:8]] == ["error"] * 7
    assert all(e["data"]["error"] == "malformed stored event" for e in events[1:8])
    odd = events[8]
    assert (odd["type"], odd["agent"], odd["pid"], odd["step"], odd["commit"], odd["data"]) == (
        "unknown", "main", None, None, None, {"value": "text"})
    assert events[9]["data"] == {"decision": "ok"} and all(e["session"] == "sid" for e in events)
    assert "nested" in events[5]["data"]["reason"] and str(MAX_DEPTH) in events[4]["data"]["reason"]


# --- the store ------------------------------------------------------------------------------------

def test_one_hostile_session_breaks_nothing_else(repo: Path) -> None:
    assert run_python_agent(repo, "print('hi')\n").returncode == 0
    good = _store(repo).resolve().id
    bad = craft(repo, "20200101-000000-aaaaaa", pid="inf", duration_s="inf")
    deep = craft(repo, "20200101-000001-bbbbbb", events=START + '{"type":"log","data":' + "[" * 100_000 + "]" * 100_000 + "}\n")
    missing_base = craft(repo, "20200101-000002-cccccc", base="1" * 40)
    rows = {row["id"]: row for row in agitlog_json("log", cwd=repo)}
    assert rows[bad]["status"] == "damaged" and "duration_s is out of range" in rows[bad]["damage"]
    assert rows[good]["status"] == "ok" and rows[deep]["status"] == rows[missing_base]["status"] == "ok"
    for command in (["show"], ["replay", "--plain"], ["diff"], ["state"], ["checkout", "--step", "0", "--export"]):
        args = [*command, deep] + ([str(repo.parent / f"out-{command[0]}")] if command[0] == "checkout" else [])
        assert agitlog(*args, cwd=repo).returncode == 0, (command, agitlog(*args, cwd=repo).stderr)
    assert agitlog("show", missing_base, cwd=repo).returncode == 0
    assert agitlog("diff", missing_base, cwd=repo).returncode == 0
    shown = agitlog_json("show", bad, cwd=repo)
    assert shown["session"]["damage"].startswith("duration_s is out of range") and shown["events"] == []
    refused = agitlog("replay", "--plain", bad, cwd=repo)
    assert refused.returncode == 1 and "damaged" in refused.stderr and f"agitlog rm {bad}" in refused.stderr
    assert agitlog("rm", bad, cwd=repo).returncode == 0
    assert bad not in {row["id"] for row in agitlog_json("log", cwd=repo)}


def test_unknown_format_is_refused_with_a_warning_in_log(repo: Path) -> None:
    future = craft(repo, "20200101-000000-ffffff", format="99")
    [row] = agitlog_json("log", cwd=repo)
    assert row["id"] == future and row["status"] == "damaged" and "upgrade agitlog" in row["damage"]
    plain = agitlog("log", cwd=repo)
    assert plain.returncode == 0 and "upgrade agitlog" in plain.stdout


def test_resolve_by_id_prefix_random_part_and_name(repo: Path) -> None:
    first = craft(repo, "20250101-000000-a1b2c3", name='"nightly"')
    second = craft(repo, "20250102-000000-d4e5f6", name='"nightly"')
    third = craft(repo, "20250103-000000-0a0b0c", name='"weekly"')
    store = _store(repo)
    assert store.resolve(first).id == first
    assert store.resolve("20250102").id == second
    assert store.resolve("0a0b").id == third
    assert store.resolve(f"refs/agent-sessions/{first}").id == first
    assert store.resolve(name="weekly").id == third
    assert store.resolve().id == third  # the latest
    with pytest.raises(UsageError, match=f"2 sessions are named 'nightly': {second}, {first}"):
        store.resolve(name="nightly")
    with pytest.raises(UsageError, match="matches 3 sessions"):
        store.resolve("2025")
    with pytest.raises(SessionNotFoundError):
        store.resolve("20990101")
    with pytest.raises(UsageError, match="not a session id"):
        store.resolve("../../etc")


def test_latest_original_skips_reruns_and_damaged(repo: Path) -> None:
    original = craft(repo, "20250101-000000-aaaaaa")
    craft(repo, "20250102-000000-bbbbbb", rerun_of=json.dumps(original))
    craft(repo, "20250103-000000-cccccc", pid='"x"')
    store = _store(repo)
    assert store.resolve(original=True).id == original
    with pytest.raises(CorruptRecordError, match="damaged"):
        store.resolve()  # the latest is damaged
    assert store.resolve(intact=False).id == "20250103-000000-cccccc"
    assert [s.id for s in store.list(originals_only=True)] == ["20250103-000000-cccccc", original]


def test_limited_listing_reads_only_the_sessions_it_shows(repo: Path) -> None:
    ids = [craft(repo, f"2025010{i}-000000-00000{i}", status='"failed"' if i % 2 else '"ok"') for i in range(1, 8)]
    read: list[str] = []

    class CountingStore(SessionStore):
        def _read_records(self, commits, **options):  # type: ignore[no-untyped-def]
            read.extend(sha for _, sha in commits)
            return super()._read_records(commits, **options)

    store = CountingStore(agit.find_repo(repo))
    assert [s.id for s in store.list(limit=2)] == ids[::-1][:2]
    assert len(read) <= 64 and store.list(limit=2, status=["failed"])[0].id == ids[6]
    read.clear()
    everything = CountingStore(agit.find_repo(repo)).all()
    assert [s.id for s in everything] == ids[::-1]
    read.clear()
    assert [s.id for s in CountingStore(agit.find_repo(repo)).all()] == ids[::-1]
    assert read == []  # the second full listing comes from the metadata cache


def test_a_step_ref_without_a_journal_is_listed_as_damaged_and_removable(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "update-ref", "refs/agent-sessions/20250101-000000-abcdef", head)
    [row] = agitlog_json("log", cwd=repo)
    assert row["status"] == "damaged" and "record commit" in row["damage"]
    assert agitlog("rm", "abcdef", cwd=repo).returncode == 0
    assert agitlog_json("log", cwd=repo) == []


def test_read_commands_do_not_load_the_recorder(repo: Path) -> None:
    import subprocess
    import sys

    code = ("import sys, agitlog.query.listing, agitlog.query.timeline, agitlog.query.diffs, agitlog.query.checkout,"
            " agitlog.query.bisect, agitlog.query.blame, agitlog.query.search, agitlog.query.compare,"
            " agitlog.query.state, agitlog.sharing.retention, agitlog.sharing.remotes, agitlog.store.sessions;"
            " print([m for m in sys.modules if m.startswith('agitlog.capture')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_base_commit_naming_no_object_breaks_nothing(repo: Path) -> None:
    craft(repo, "20200101-000002-cccccc", base="1" * 40)
    assert agitlog("hooks", "install", cwd=repo).returncode == 0
    (repo / "README.md").write_text("changed\n")
    git(repo, "add", "README.md")
    commit = agitlog_free_commit(repo)
    assert commit.returncode == 0 and "hook skipped" not in commit.stderr, commit.stderr
    assert agitlog("search", "anything", cwd=repo).returncode in (0, 1)  # 1: no match, not an error
    blame = agitlog("blame", "README.md", cwd=repo)
    assert blame.returncode == 0, blame.stderr
    assert [row["status"] for row in agitlog_json("log", cwd=repo)] == ["ok"]
    assert len(_store(repo).steps(_store(repo).resolve())) == 1  # found from steps.first, not the base


def agitlog_free_commit(repo: Path):  # type: ignore[no-untyped-def]
    import subprocess

    return subprocess.run(["git", "commit", "-q", "--no-gpg-sign", "-m", "edit"], cwd=repo, capture_output=True,
                          text=True)


def test_refs_read_from_files_match_git_packed_loose_and_mixed(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD").strip()
    for i in range(6):
        git(repo, "update-ref", f"refs/agent-sessions/2025010{i}-000000-00000{i}", head)
    git(repo, "tag", "-a", "-m", "t", "v1")  # a peeled line in packed-refs
    git(repo, "pack-refs", "--all", "--prune")
    tip = git(repo, "commit-tree", "-p", head, "-m", "x", git(repo, "rev-parse", "HEAD^{tree}").strip()).strip()
    git(repo, "update-ref", "refs/agent-sessions/20250103-000000-000003", tip)   # loose over packed
    git(repo, "update-ref", "refs/agent-sessions/20250109-000000-000009", tip)   # loose only
    git(repo, "update-ref", "-d", "refs/agent-sessions/20250101-000000-000001")  # deleted from packed
    where = agit.find_repo(repo)
    expected = [tuple(line.split()) for line in git(repo, "for-each-ref", "--sort=-refname",
                                                    "--format=%(refname) %(objectname)", "refs/agent-sessions/").splitlines()]
    assert list(agit.refs_newest_first(where, "refs/agent-sessions/")) == expected
    assert agit.ref_shas(where, "refs/agent-sessions") == dict(expected)
    assert _store(repo).ids() == [name.removeprefix("refs/agent-sessions/") for name, _ in expected]


def test_sessions_started_in_the_same_second_are_listed_by_their_exact_start(repo: Path) -> None:
    """An id names the second; its random part says nothing of order. `log`, "the latest" and the
    limited listing all follow the exact start time."""
    earlier = craft(repo, "20260101-000000-ffffff", started_at='"2026-01-01T00:00:00.100000Z"')
    later = craft(repo, "20260101-000000-000000", started_at='"2026-01-01T00:00:00.900000Z"')
    older = craft(repo, "20251231-235959-999999", started_at='"2025-12-31T23:59:59.000000Z"')
    store = _store(repo)
    assert [s.id for s in store.all()] == [later, earlier, older]
    assert [s.id for s in store.list(limit=2)] == [later, earlier]
    assert [s.id for s in _store(repo).list(limit=1)] == [later]  # the page runs on to the second's end
    assert store.resolve().id == later


def test_a_limited_listing_reads_only_the_sessions_it_shows(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`log -n N` parses N sessions' metadata (and the rest of the last one's second), not a page more."""
    ids = [craft(repo, f"20260101-0000{n:02d}-00000{n % 10}", started_at=f'"2026-01-01T00:00:{n:02d}.000000Z"')
           for n in range(12)]
    read: list[str] = []
    original = SessionStore._read_records
    monkeypatch.setattr(SessionStore, "_read_records",
                        lambda self, commits, **options: read.extend(sid for sid, _ in commits)
                        or original(self, commits, **options))
    assert [s.id for s in _store(repo).list(limit=3)] == ids[::-1][:3]
    assert sorted(read) == sorted(ids[::-1][:3])
