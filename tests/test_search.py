"""`agitlog search`: every filter, plain and regex, and an index that follows the refs."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from helpers import agitlog, agitlog_json, git, run_python_agent, unique_prefix
from team_agents import calc_repo, record_step_agent

OTHER_AGENT = """
    import agitlog, pathlib, sys
    with agitlog.span("research", agent="researcher"):
        agitlog.prompt("find overdue_invoices in the ledger", model="claude-test")
        agitlog.response("query the ledger table", model="claude-test")
        with agitlog.tool("sql", query="SELECT * FROM overdue_invoices") as call:
            call.result = [{"id": 7, "customer": "ACME \\x1b[31m corp"}]
    pathlib.Path("docs").mkdir(exist_ok=True)
    pathlib.Path("docs/notes.md").write_text("notes\\n")
    sys.exit(3)
"""


def _search(repo: Path, *args: str) -> list[dict]:
    proc = agitlog("search", "--json", *args, cwd=repo)
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads(proc.stdout)["hits"]


def _two_sessions(tmp_path: Path) -> tuple[Path, str, str]:
    """A repository with two recorded sessions, copied into ``tmp_path`` from one recorded once per
    test run (recording is most of these tests' time; each test may change its copy)."""
    template = tmp_path.parent / "search-two-sessions"
    if not template.exists():
        building = tmp_path.parent / f"search-two-sessions.{os.getpid()}"
        repo = calc_repo(building / "repo")
        record_step_agent(repo)
        assert run_python_agent(repo, OTHER_AGENT).returncode == 3
        building.rename(template)
    for item in template.iterdir():
        shutil.copytree(item, tmp_path / item.name, symlinks=True) if item.is_dir() else shutil.copy2(item, tmp_path)
    repo = tmp_path / "repo"
    rows = agitlog_json("log", cwd=repo)  # by exit code, not position: both may start within one second
    [first] = [row["id"] for row in rows if row["exit_code"] == 0]
    [second] = [row["id"] for row in rows if row["exit_code"] == 3]
    return repo, first, second


def test_plain_text_across_kinds_of_events(tmp_path: Path) -> None:
    repo, first, second = _two_sessions(tmp_path)
    hits = _search(repo, "overdue_invoices", "--limit", "0")
    kinds = {(h["session"], h["type"]) for h in hits}
    assert (first, "llm.request") in kinds
    assert {(second, "llm.request"), (second, "tool.call")} <= kinds
    assert all("overdue_invoices" in h["line"].lower() for h in hits)
    # responses, tool results, decisions, state and errors are searched too
    assert _search(repo, "rewrite calc.py for step 2")[0]["type"] == "llm.response"
    assert _search(repo, "wrote 4")[0]["type"] == "tool.result"
    assert _search(repo, "because step 4")[0]["type"] == "decision"
    assert _search(repo, "all four steps")[0]["type"] == "state"
    assert _search(repo, "LEDGER_SYNC")[0]["type"] == "error"  # case-insensitive
    assert _search(repo, "no such text anywhere") == []
    assert agitlog("search", "no such text anywhere", cwd=repo).returncode == 1


def test_each_filter(tmp_path: Path) -> None:
    repo, first, second = _two_sessions(tmp_path)
    by = lambda *args: {(h["session"], h["seq"]) for h in _search(repo, "overdue", "--limit", "0", *args)}  # noqa: E731
    everything = by()
    assert {s for s, _ in by("--type", "tool.call")} == {second}
    assert by("--type", "llm") == {k for k in everything if k not in by("--type", "tool")}
    assert {s for s, _ in by("--agent", "researcher")} == {second}
    assert {s for s, _ in by("--model", "gpt-test")} == {first}
    assert {s for s, _ in by("--tool", "sql")} == {second}
    assert {s for s, _ in by("--file", "app/calc.py")} == {first}
    assert {s for s, _ in by("--file", "docs")} == {second}
    assert {s for s, _ in by("--status", "failed")} == {second}
    assert {s for s, _ in by("--status", "ok")} == {first}
    assert {s for s, _ in by("--session", unique_prefix(first, [second]))} == {first}
    assert by("--since", "1h") == everything
    assert by("--since", "2999-01-01") == set()
    assert by("--until", "2000-01-01") == set()


def test_regex_and_context(tmp_path: Path) -> None:
    repo, first, _ = _two_sessions(tmp_path)
    hits = _search(repo, "-E", r"step [34]: improve", "--limit", "0")
    assert sorted(h["seq"] for h in hits if h["session"] == first) == sorted(
        h["seq"] for h in hits)  # only the first session has such prompts
    assert len(hits) == 2
    assert _search(repo, "-E", r"SELECT \* FROM \w+_invoices")[0]["type"] == "tool.call"
    proc = agitlog("search", "-E", "(", cwd=repo)
    assert proc.returncode == 2 and "invalid regular expression" in proc.stderr
    [hit] = _search(repo, "all four steps", "-C", "1")
    assert [c["seq"] for c in hit["context"]] == [hit["seq"] - 1, hit["seq"] + 1]
    text = agitlog("search", "all four steps", "-C", "1", cwd=repo).stdout
    assert f"{first}:{hit['seq']}" in text and f"{first}-{hit['seq'] - 1}" in text


def test_output_escapes_terminal_control_characters(tmp_path: Path) -> None:
    repo, _, _ = _two_sessions(tmp_path)
    proc = agitlog("search", "ACME", cwd=repo)
    assert proc.returncode == 0 and "\x1b" not in proc.stdout and "\\x1b" in proc.stdout


def test_index_follows_the_refs(tmp_path: Path) -> None:
    repo, first, second = _two_sessions(tmp_path)
    index = repo / ".git" / "agitlog" / "search.sqlite"
    assert {h["session"] for h in _search(repo, "overdue")} == {first, second}
    assert index.exists()
    git(repo, "update-ref", "-d", f"refs/agent-sessions/{second}")  # removed behind agitlog's back
    assert {h["session"] for h in _search(repo, "overdue")} == {first}
    record_step_agent(repo)
    assert len({h["session"] for h in _search(repo, "overdue")}) == 2
    index.unlink()  # the index is only a cache
    for suffix in ("-wal", "-shm"):
        Path(str(index) + suffix).unlink(missing_ok=True)
    assert len({h["session"] for h in _search(repo, "overdue")}) == 2
    result = agitlog_json("search", "overdue", "--reindex", cwd=repo)
    assert result["indexed_sessions"] == 2


def test_sessions_still_recording_are_searched_from_their_journal(tmp_path: Path) -> None:
    import subprocess
    import sys
    import time

    from helpers import AGITLOG

    repo, first, _ = _two_sessions(tmp_path)
    script = tmp_path / "slow.py"
    flag = tmp_path / "logged"
    script.write_text("import agitlog, pathlib, time\n"
                      "agitlog.decision('wait for the quarterly_close', reasoning='still running')\n"
                      f"pathlib.Path({str(flag)!r}).write_text('x')\n"
                      f"while pathlib.Path({str(flag)!r}).exists():\n    time.sleep(0.05)\n")
    proc = subprocess.Popen([AGITLOG, "run", "--", sys.executable, str(script)], cwd=repo,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 60
        while not flag.exists() and time.time() < deadline:
            time.sleep(0.05)
        hits = _search(repo, "quarterly_close")
        assert [h["type"] for h in hits] == ["decision"]
        assert hits[0]["session"] not in (first,)
        assert _search(repo, "quarterly_close", "--status", "ok") == []
    finally:
        flag.unlink(missing_ok=True)
        assert proc.wait(timeout=60) == 0
    assert [h["type"] for h in _search(repo, "quarterly_close")] == ["decision"]  # indexed once finished


def test_fetch_indexes_the_sessions_it_brings(tmp_path: Path) -> None:
    repo, first, second = _two_sessions(tmp_path)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    fetched = agitlog_json("fetch", "origin", cwd=clone)
    assert sorted(fetched["new"]) == sorted([first, second])
    assert (clone / ".git" / "agitlog" / "search.sqlite").exists()
    result = agitlog_json("search", "overdue", cwd=clone)
    assert result["reindexed"] == 0  # fetch did the work
    assert {h["session"] for h in result["hits"]} == {first, second}
    assert result["indexed_sessions"] == 2

