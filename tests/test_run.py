"""`agitlog run` end to end, through the installed command, against real repositories."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


from helpers import AGITLOG, agitlog, agitlog_json, fsck, git, run_python_agent, session_ids, tree_files, user_state

EDITING_AGENT = """
    import pathlib, sys
    pathlib.Path("src/app.py").write_text("def total(xs):\\n    return sum(xs) + 1\\n")
    pathlib.Path("notes.txt").write_text("agent was here\\n")
    pathlib.Path("README.md").unlink()
    print("edited", file=sys.stderr)
    sys.exit(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
"""


def test_run_keeps_exit_code_and_records_before_and_after(repo: Path) -> None:
    proc = run_python_agent(repo, EDITING_AGENT.replace("else 0", "else 3"))
    assert proc.returncode == 3
    assert "edited" in proc.stderr
    [sid] = session_ids(repo)
    data = agitlog_json("show", sid, cwd=repo)
    meta = data["session"]
    assert meta["status"] == "failed" and meta["exit_code"] == 3
    assert meta["steps"]["count"] == 2
    before, after = meta["steps"]["first"], meta["steps"]["last"]
    head = git(repo, "rev-parse", "HEAD").strip()
    assert meta["git"] == {"base_commit": head, "branch": "main", "worktree": "main"}
    assert git(repo, "rev-parse", f"{before}^").strip() == head
    assert tree_files(repo, before)["src/app.py"] == b"def total(xs):\n    return sum(xs)\n"
    after_files = tree_files(repo, after)
    assert after_files["notes.txt"] == b"agent was here\n"
    assert "README.md" not in after_files
    assert [e["type"] for e in data["events"]] == ["session.start", "session.end"]
    assert data["events"][-1]["commit"] == after
    assert meta["stats"]["files_changed"] == 3
    fsck(repo)


def test_recording_never_touches_user_state(repo: Path) -> None:
    (repo / "src" / "app.py").write_text("dirty but not staged\n")
    (repo / "staged.txt").write_text("staged\n")
    git(repo, "add", "staged.txt")
    (repo / "untracked.txt").write_text("untracked\n")
    (repo / "ignored.tmp").write_text("ignored\n")
    (repo / "stash-me.txt").write_text("x")
    git(repo, "stash", "push", "-q", "--include-untracked", "--", "stash-me.txt")
    agent = "import pathlib; pathlib.Path('untracked.txt').read_text()\n"
    before = user_state(repo)
    assert run_python_agent(repo, agent).returncode == 0
    assert run_python_agent(repo, agent).returncode == 0
    assert user_state(repo) == before
    assert len(session_ids(repo)) == 2
    fsck(repo)


def test_step_zero_includes_dirty_untracked_and_ignored_tracked_files(repo: Path) -> None:
    (repo / "build").mkdir()
    (repo / "build" / "keep.txt").write_text("tracked despite .gitignore\n")
    git(repo, "add", "-f", "build/keep.txt")
    git(repo, "commit", "-q", "-m", "force-add an ignored path")
    (repo / "src" / "app.py").write_text("changed\n")
    (repo / "new.txt").write_text("new\n")
    (repo / "junk.tmp").write_text("ignored\n")
    run_python_agent(repo, "pass\n")
    meta = agitlog_json("show", cwd=repo)["session"]
    files = tree_files(repo, meta["steps"]["first"])
    assert files["build/keep.txt"] == b"tracked despite .gitignore\n"
    assert files["src/app.py"] == b"changed\n"
    assert files["new.txt"] == b"new\n"
    assert "junk.tmp" not in files
    assert meta["steps"]["count"] == 1  # nothing changed during the run: step 0 is also the after state


def test_unborn_branch(empty_repo: Path) -> None:
    (empty_repo / "first.txt").write_text("hello\n")
    proc = run_python_agent(empty_repo, "open('second.txt', 'w').write('x')\n")
    assert proc.returncode == 0, proc.stderr
    meta = agitlog_json("show", cwd=empty_repo)["session"]
    first = meta["steps"]["first"]
    assert git(empty_repo, "rev-list", "--parents", "-n1", first).split() == [first]  # no parent
    assert set(tree_files(empty_repo, meta["steps"]["last"])) == {"first.txt", "second.txt"}
    assert git(empty_repo, "rev-parse", "-q", "--verify", "HEAD", check=False) == ""
    fsck(empty_repo)


def test_from_subdirectory_and_linked_worktree(repo: Path, tmp_path: Path) -> None:
    proc = run_python_agent(repo, "open('made-here.txt', 'w').write('x')\n", cwd=repo / "src")
    assert proc.returncode == 0, proc.stderr
    meta = agitlog_json("show", cwd=repo)["session"]
    assert meta["cwd"] == "src"
    assert "src/made-here.txt" in tree_files(repo, meta["steps"]["last"])

    linked = tmp_path / "linked"
    git(repo, "worktree", "add", "-q", "-b", "feature", str(linked))
    (linked / "feature.txt").write_text("feature work\n")
    proc = run_python_agent(linked, "open('from-linked.txt', 'w').write('y')\n")
    assert proc.returncode == 0, proc.stderr
    rows = agitlog_json("log", cwd=repo)  # sessions are shared by all worktrees
    assert len(rows) == 2
    # two runs may start within one second: ids then order by their random part, so pick by id
    [linked_meta] = [row["meta"] for row in rows if row["id"] != meta["id"]]
    assert linked_meta["git"]["branch"] == "feature" and linked_meta["git"]["worktree"] == "linked"
    files = tree_files(repo, linked_meta["steps"]["last"])
    assert {"feature.txt", "from-linked.txt"} <= set(files)
    assert not (repo / "from-linked.txt").exists()
    fsck(repo)


def test_metadata_records_env_names_never_values(repo: Path) -> None:
    secret = "hunter2-" + "x" * 20
    run_python_agent(repo, "pass\n", env={"MY_DB_PASSWORD": secret, "PLAIN_SETTING": "visible-value"})
    [sid] = session_ids(repo)
    meta = agitlog_json("show", sid, cwd=repo)["session"]
    assert "MY_DB_PASSWORD" in meta["env_names"] and "PLAIN_SETTING" in meta["env_names"]
    everything = git(repo, "cat-file", "--batch-all-objects", "--batch")
    assert secret not in everything and "visible-value" not in everything
    for key in ("started_at", "ended_at", "host", "agitlog_version", "command", "cwd"):
        assert key in meta
    assert meta["started_at"].endswith("Z") and len(meta["started_at"]) == 27


def test_capture_output_records_and_still_shows(repo: Path) -> None:
    code = "import sys\nprint('to stdout')\nprint('to stderr', file=sys.stderr)\nsys.stdout.buffer.write(b'bad \\xff byte\\n')\n"
    proc = run_python_agent(repo, code, "--capture-output")
    assert "to stdout" in proc.stdout and "to stderr" in proc.stderr
    events = agitlog_json("show", "--type", "output", cwd=repo)["events"]
    text = {stream: "".join(e["data"]["text"] for e in events if e["data"]["stream"] == stream)
            for stream in ("stdout", "stderr")}
    assert "to stdout" in text["stdout"] and "bad \\xff byte" in text["stdout"]
    assert "to stderr" in text["stderr"]


def test_command_not_found_and_not_a_repo(repo: Path, tmp_path: Path) -> None:
    proc = agitlog("run", "--", "no-such-command-xyz", cwd=repo)
    assert proc.returncode == 127
    assert "command not found: no-such-command-xyz" in proc.stderr
    assert session_ids(repo) == []
    outside = tmp_path / "plain"
    outside.mkdir()
    proc = agitlog("run", "--", "true", cwd=outside)
    assert proc.returncode == 1 and "not a git repository" in proc.stderr and "git init" in proc.stderr
    proc = agitlog("log", "--json", cwd=outside)
    assert proc.returncode == 1 and json.loads(proc.stdout)["error"]["code"] == "not_a_repository"


def test_exit_code_of_signalled_child(repo: Path) -> None:
    proc = run_python_agent(repo, "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
    assert proc.returncode == 128 + 9
    meta = agitlog_json("show", cwd=repo)["session"]
    assert meta["status"] == "killed" and meta["signal"] == 9


def _start_recorded(repo: Path, code: str) -> subprocess.Popen[str]:
    script = repo.parent / "slow_agent.py"
    script.write_text(code)
    return subprocess.Popen([AGITLOG, "run", "--", sys.executable, str(script)], cwd=repo, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for(path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


SLEEPER = """
import pathlib, signal, sys, time
def on_int(*_):
    pathlib.Path("got-sigint.txt").write_text("yes")
    sys.exit(130)
signal.signal(signal.SIGINT, on_int)
pathlib.Path("started.txt").write_text("started")
time.sleep(60)
"""


def test_ctrl_c_reaches_agent_and_marks_interrupted(repo: Path) -> None:
    proc = _start_recorded(repo, SLEEPER)
    _wait_for(repo / "started.txt")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 130
    assert (repo / "got-sigint.txt").read_text() == "yes"
    meta = agitlog_json("show", cwd=repo)["session"]
    assert meta["status"] == "interrupted"
    assert "got-sigint.txt" in tree_files(repo, meta["steps"]["last"])


def test_sigterm_is_forwarded(repo: Path) -> None:
    proc = _start_recorded(repo, SLEEPER)
    _wait_for(repo / "started.txt")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 128 + signal.SIGTERM
    assert agitlog_json("show", cwd=repo)["session"]["status"] == "killed"


def test_agitlog_killed_with_sigkill_is_recovered_as_crashed(repo: Path) -> None:
    code = SLEEPER.replace('pathlib.Path("started.txt")',
                           'import agitlog\nagitlog.decision("go", reasoning="test")\npathlib.Path("started.txt")')
    proc = _start_recorded(repo, code)
    _wait_for(repo / "started.txt")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    rows = agitlog_json("log", cwd=repo)  # any command finalises abandoned sessions
    assert [r["status"] for r in rows] == ["crashed"]
    events = agitlog_json("show", cwd=repo)["events"]
    assert [e["type"] for e in events] == ["session.start", "decision", "session.end"]
    assert events[-1]["data"]["status"] == "crashed"
    gitdir = Path(git(repo, "rev-parse", "--absolute-git-dir").strip())
    assert list((gitdir / "agitlog" / "journal").iterdir()) == []
    fsck(repo)
    # the orphaned agent is still sleeping; end it
    subprocess.run(["pkill", "-f", str(repo.parent / "slow_agent.py")], check=False)


def test_two_concurrent_sessions_both_land(repo: Path) -> None:
    code = """
import agitlog, pathlib, sys, time
name = sys.argv[1]
for i in range(20):
    with agitlog.tool("write", i=i) as call:
        pathlib.Path(f"{name}-{i}.txt").write_text(str(i))
        call.result = i
"""
    script = repo.parent / "concurrent.py"
    script.write_text(code)
    procs = [subprocess.Popen([AGITLOG, "run", "--name", n, "--", sys.executable, str(script), n], cwd=repo,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for n in ("a", "b")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    rows = agitlog_json("log", cwd=repo)
    assert sorted(r["title"] for r in rows) == ["a", "b"]
    for row in rows:
        events = agitlog_json("show", row["id"], cwd=repo)["events"]
        assert [e["seq"] for e in events] == list(range(len(events)))
        assert sum(e["type"] == "tool.result" for e in events) == 20
        name = row["title"]
        last = tree_files(repo, row["meta"]["steps"]["last"])
        assert {f"{name}-{i}.txt" for i in range(20)} <= set(last)
    fsck(repo)


def test_plain_git_reads_step_commits(repo: Path) -> None:
    run_python_agent(repo, EDITING_AGENT)
    [sid] = session_ids(repo)
    log = git(repo, "log", "--oneline", f"refs/agent-sessions/{sid}^")
    assert "agitlog step 1" in log and "agitlog step 0" in log and "initial" in log
    message = git(repo, "log", "-1", "--format=%B", f"refs/agent-sessions/{sid}")
    assert f"Agitlog-Session: {sid}" in message and "Agitlog-Kind: record" in message
    assert git(repo, "show", f"refs/agent-sessions/{sid}:session.toml").startswith("format = 1")


def test_detached_head(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "checkout", "-q", "--detach")
    run_python_agent(repo, "pass\n")
    meta = agitlog_json("show", cwd=repo)["session"]
    assert meta["git"]["base_commit"] == head and "branch" not in meta["git"]


def test_recovery_keeps_a_line_cut_off_mid_write(repo: Path) -> None:
    from agitlog import git as agit
    from agitlog.capture.lifecycle import start_session
    from agitlog.store.recovery import recover_sessions

    live = start_session(agit.find_repo(repo), command=["agent"], cwd=repo)
    live.recorder.record({"type": "log", "data": {"message": "kept"}})
    live.recorder.close()
    with open(live.journal.events_file, "ab") as handle:
        handle.write(b'{"v":1,"seq":2,"type":"log","data":{"mess')  # the recorder died mid-write
    os.close(live.lock_fd)  # as the kernel does when the recorder dies
    report = recover_sessions(agit.find_repo(repo))
    assert report.recovered == [live.id] and report.problems == []
    events = agitlog_json("show", live.id, cwd=repo)["events"]
    assert [e["type"] for e in events] == ["session.start", "log", "error", "session.end"]
    assert events[2]["data"]["raw"] == '{"v":1,"seq":2,"type":"log","data":{"mess'
    assert events[3]["data"]["status"] == "crashed" and [e["seq"] for e in events] == [0, 1, 2, 3]
    fsck(repo)
