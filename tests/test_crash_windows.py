"""Crash windows (issue 10, item 6): the recorder is SIGKILLed at every step of finishing a session and
of recovering it; every time, the next commands leave exactly one well-formed session and a clean
`git fsck --strict`. The kill comes from the recorder itself (agitlog.store.faults.crash_point)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agitlog.constants import ENV_CRASH_AT
from agitlog.store.faults import CRASH_POINTS
from helpers import AGITLOG, agitlog, agitlog_json, fsck, git, run_python_agent

AGENT = """
import pathlib, agitlog
agitlog.decision("write the answer", reasoning="test")
pathlib.Path("answer.txt").write_text("42\\n")
agitlog.emit("tool.call", {"tool": "write_file", "arguments": {"path": "answer.txt"}}, snapshot=True)
"""
FINISH_POINTS = [p for p in CRASH_POINTS if p.startswith(("finish.", "finalize."))]
RECOVER_POINTS = [p for p in CRASH_POINTS if p.startswith(("recover.", "finalize."))]


def _journal_dir(repo: Path) -> Path:
    return (repo / git(repo, "rev-parse", "--git-common-dir").strip()).resolve() / "agitlog" / "journal"


def assert_one_well_formed_session(repo: Path, tmp: Path) -> dict:
    refs = git(repo, "for-each-ref", "--format=%(refname)", "refs/agent-sessions/").split()
    assert len(refs) == 1, refs
    kinds = git(repo, "log", "--first-parent", "--format=%(trailers:key=Agitlog-Kind,valueonly)", refs[0]).split()
    assert kinds[0] == "record" and kinds.count("record") == 1 and set(kinds[1:]) == {"step"}, kinds
    [row] = agitlog_json("log", cwd=repo)
    assert row["status"] in ("ok", "crashed") and "damage" not in row, row
    shown = agitlog_json("show", cwd=repo)
    events = shown["events"]
    assert [e["seq"] for e in events] == list(range(len(events)))
    assert events[0]["type"] == "session.start" and events[-1]["type"] == "session.end"
    assert [e["type"] for e in events].count("session.end") == 1
    assert not any(e["data"].get("error") == "malformed stored event" for e in events)
    last = shown["session"]["steps"]["count"] - 1
    out = tmp / f"export-{time.monotonic_ns()}"
    assert agitlog("checkout", "--step", str(last), "--export", str(out), cwd=repo).returncode == 0
    files = sorted(p.name for p in out.iterdir())
    assert "session.toml" not in files and "events.jsonl" not in files and "README.md" in files
    assert os.listdir(_journal_dir(repo)) == []  # finished and interrupted removals both cleaned
    fsck(repo)
    return shown


@pytest.mark.parametrize("point", FINISH_POINTS)
def test_killed_while_finishing_then_while_recovering(repo: Path, tmp_path: Path, point: str) -> None:
    proc = run_python_agent(repo, AGENT, env={ENV_CRASH_AT: point})
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    codes = [agitlog("recover", cwd=repo, env={ENV_CRASH_AT: recover_point}).returncode
             for recover_point in RECOVER_POINTS]  # each recovery attempt dies at the next point it reaches
    if point == "finish.snapshot-taken":  # nothing finished yet: recovery passes every one of its points
        assert codes == [-signal.SIGKILL] * len(RECOVER_POINTS)
    assert agitlog("recover", cwd=repo).returncode == 0
    shown = assert_one_well_formed_session(repo, tmp_path)
    types = [e["type"] for e in shown["events"]]
    assert types[:3] == ["session.start", "decision", "tool.call"]
    # once session.end is in the journal the run's own outcome is kept; before it, the session crashed
    assert shown["session"]["status"] == ("crashed" if point == "finish.snapshot-taken" else "ok")
    assert shown["session"]["steps"]["count"] >= 2
    assert git(repo, "show", f"refs/agent-sessions/{shown['session']['id']}~1:answer.txt") == "42\n"


def test_recorder_sigkilled_the_agent_keeps_running_unrecorded(repo: Path) -> None:
    """What docs/commands/run.md promises: the agent is not stopped; what it does after the recorder
    died is not recorded, and its SDK calls neither fail nor block; the next agitlog command finishes
    the session as crashed with everything recorded before the kill."""
    flags = repo.parent
    script = flags / "agent.py"
    script.write_text(f"""
import pathlib, time, agitlog
agitlog.decision("before", reasoning="recorded")
pathlib.Path({str(flags / 'started')!r}).write_text("")
while not pathlib.Path({str(flags / 'go')!r}).exists():
    time.sleep(0.05)
agitlog.decision("after", reasoning="the recorder is gone")
pathlib.Path("after.txt").write_text("written unrecorded\\n")
pathlib.Path({str(flags / 'done')!r}).write_text("")
""")
    proc = subprocess.Popen([AGITLOG, "run", "--", sys.executable, str(script)], cwd=repo,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_for(flags / "started")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    (flags / "go").write_text("")
    _wait_for(flags / "done")  # the agent carried on and finished
    assert (repo / "after.txt").read_text() == "written unrecorded\n"
    [row] = agitlog_json("log", cwd=repo)
    assert row["status"] == "crashed"
    events = agitlog_json("show", cwd=repo)["events"]
    assert [e["type"] for e in events] == ["session.start", "decision", "session.end"]
    assert events[1]["data"]["decision"] == "before" and events[2]["data"]["status"] == "crashed"
    fsck(repo)


def test_stale_journal_leftovers_are_cleaned(repo: Path) -> None:
    journal = _journal_dir(repo)
    journal.mkdir(parents=True)
    (journal / ".removed-20250101-000000-abcdef-123").mkdir()
    (journal / ".removed-20250101-000000-abcdef-123" / "events.jsonl").write_text("{}\n")
    never_started = journal / "20250101-000000-fedcba"
    never_started.mkdir()
    (never_started / "lock").write_text("")
    old = time.time() - 3600
    os.utime(never_started, (old, old))
    young = journal / "20250101-000001-012345"
    young.mkdir()  # may be a session starting right now: kept
    report = json.loads(agitlog("recover", "--json", cwd=repo).stdout)
    assert report is not None
    assert sorted(os.listdir(journal)) == ["20250101-000001-012345"]


def _wait_for(path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)
