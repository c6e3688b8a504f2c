"""The promises about untrusted input and crashes (issue 10 items 5 and 6): foreign sessions do not
run without consent, acks mean durable, crash logs are private, bad CLI input creates nothing."""
from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import pytest

from crafted import craft_session, make_blob, make_tree
from helpers import AGITLOG, agitlog, git, run_python_agent, session_ids


def _foreign_session(repo: Path, marker: Path, session_id: str = "20260101-000000-f0e1d2") -> str:
    """A session this clone did not record (as if fetched) whose command would create ``marker``."""
    tree = make_tree(repo, [("100644", "blob", make_blob(repo, b"x\n"), "file.txt")])
    craft_session(repo, tree, session_id=session_id)
    record = git(repo, "rev-parse", f"refs/agent-sessions/{session_id}").strip()
    meta = git(repo, "cat-file", "-p", f"{record}:session.toml").replace(
        'command = ["evil"]', f'command = ["sh", "-c", "touch {marker}"]')
    return _replace_meta(repo, session_id, meta)


def _replace_meta(repo: Path, session_id: str, meta: str) -> str:
    ref = f"refs/agent-sessions/{session_id}"
    record = git(repo, "rev-parse", ref).strip()
    events = git(repo, "rev-parse", f"{record}:events.jsonl").strip()
    tree = make_tree(repo, [("100644", "blob", events, "events.jsonl"),
                            ("100644", "blob", make_blob(repo, meta.encode()), "session.toml")])
    parent = git(repo, "rev-parse", f"{record}^").strip()
    commit = git(repo, "commit-tree", tree, "-p", parent, "-m",
                 f"agitlog session {session_id}\n\nAgitlog-Session: {session_id}\nAgitlog-Kind: record").strip()
    git(repo, "update-ref", ref, commit)
    return session_id


# --- rerun of a session recorded elsewhere ---------------------------------------------------------

def test_rerun_of_a_foreign_session_prints_the_command_and_runs_nothing(repo: Path, tmp_path: Path) -> None:
    marker = tmp_path / "EXECUTED"
    session = _foreign_session(repo, marker)
    proc = agitlog("rerun", session, cwd=repo)
    assert proc.returncode == 1
    assert f"sh -c 'touch {marker}'" in proc.stderr and "--trust" in proc.stderr
    assert "not recorded in this clone" in proc.stderr
    assert not marker.exists()
    proc = agitlog("rerun", session, "--json", cwd=repo)
    assert json.loads(proc.stdout)["error"]["code"] == "untrusted_session" and not marker.exists()
    assert session_ids(repo) == [session]  # nothing was recorded either


def test_rerun_with_trust_runs_a_foreign_session(repo: Path, tmp_path: Path) -> None:
    marker = tmp_path / "EXECUTED"
    session = _foreign_session(repo, marker)
    proc = agitlog("rerun", session, "--trust", cwd=repo)
    assert proc.returncode in (0, 1), proc.stderr
    assert marker.exists()


def test_a_deleted_local_session_does_not_lend_its_trust_to_a_foreign_one(repo: Path, tmp_path: Path) -> None:
    proc = run_python_agent(repo, "print('mine')\n")
    assert proc.returncode == 0, proc.stderr
    [mine] = session_ids(repo)
    assert agitlog("rm", mine, cwd=repo).returncode == 0
    marker = tmp_path / "EXECUTED"
    _foreign_session(repo, marker, session_id=mine)  # same id, another command
    proc = agitlog("rerun", mine, cwd=repo)
    assert proc.returncode == 1 and "--trust" in proc.stderr and not marker.exists()


def test_rerun_refuses_a_working_directory_outside_the_worktree_even_with_trust(repo: Path, tmp_path: Path) -> None:
    marker = tmp_path / "EXECUTED"
    session = _foreign_session(repo, marker)
    record = git(repo, "rev-parse", f"refs/agent-sessions/{session}").strip()
    meta = git(repo, "cat-file", "-p", f"{record}:session.toml").replace('status = "ok"\n', 'status = "ok"\ncwd = "../.."\n')
    _replace_meta(repo, session, meta)
    proc = agitlog("rerun", session, "--trust", cwd=repo)
    assert proc.returncode == 1 and "outside its worktree" in proc.stderr and not marker.exists()


def test_a_session_recorded_here_is_marked_with_its_command(repo: Path) -> None:
    from agitlog import git as agit
    from agitlog.store.origin import recorded_here

    proc = run_python_agent(repo, "print('mine')\n")
    assert proc.returncode == 0, proc.stderr
    [session] = session_ids(repo)
    command = json.loads(agitlog("show", session, "--json", cwd=repo).stdout)["session"]["command"]
    state = agit.find_repo(repo).state_dir
    assert recorded_here(state, session, command)
    assert not recorded_here(state, session, [*command, "--other"])


# --- CLI input that cannot be recorded or is out of range ------------------------------------------

@pytest.mark.parametrize("args", [
    [b"run", b"--name", b"\xff\xfe", b"--", b"sh", b"-c", b"touch EXECUTED"],
    [b"run", b"--", b"sh", b"-c", b"touch EXECUTED", b"\xff"],
    [b"log", b"--since", b"999999999d"],
    [b"search", b"x", b"--since", b"99999999999999999999d"],
    [b"search", b"x", b"-n", b"99999999999999999999999"],
    [b"search", b"x", b"-C", b"99999999999999999999999"],
    [b"gc", b"--older-than", b"999999999d", b"--dry-run"],
    [b"run", b"--name", b"n" * 70_000, b"--", b"sh", b"-c", b"touch EXECUTED"],  # more than session.toml holds
    [b"run", b"--agent", b"a" * 300, b"--", b"sh", b"-c", b"touch EXECUTED"],
    [b"run", b"--", b"sh", b"-c", b"touch EXECUTED", *[b"x"] * 10_001],
    [b"emit", b"decision", b"--data", b'{"a":' + b"[" * 20_000 + b"]" * 20_000 + b"}"],
    [b"show", b"--bad-\x1b]0;PWNED\x07"],
])
def test_bad_cli_input_is_a_usage_error_before_anything_is_created(repo: Path, args: list[bytes]) -> None:
    gitdir = repo / ".git"
    before = sorted(p.relative_to(gitdir) for p in gitdir.rglob("*"))
    proc = subprocess.run([os.fsencode(AGITLOG), *args], cwd=repo, capture_output=True, env=os.environ.copy())
    assert proc.returncode == 2, proc.stderr
    assert b"Traceback" not in proc.stderr and b"\x1b" not in proc.stderr + proc.stdout
    assert not (repo / "EXECUTED").exists()
    assert sorted(p.relative_to(gitdir) for p in gitdir.rglob("*")) == before  # no journal, no ref, no cache
    assert not (Path(os.environ["HOME"]) / ".local" / "state" / "agitlog" / "crash").exists()


def test_the_users_own_words_are_escaped_in_error_messages(repo: Path) -> None:
    assert run_python_agent(repo, "print('mine')\n").returncode == 0
    proc = agitlog("show", "\x1b]0;PWNED\x07", cwd=repo)
    assert proc.returncode in (1, 2) and "\x1b" not in proc.stderr and "\\x1b]0;PWNED" in proc.stderr


# --- crash logs ------------------------------------------------------------------------------------

def test_crash_log_is_private_and_never_follows_a_symlink(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    from agitlog.cli.output import crash_dir, print_crash

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert print_crash(RuntimeError("boom")) == 3
    [log] = list(crash_dir().iterdir())
    assert "RuntimeError: boom" in log.read_text()
    assert crash_dir().stat().st_mode & 0o777 == 0o700 and log.stat().st_mode & 0o777 == 0o600
    assert str(log) in capsys.readouterr().err

    # another user's planted symlink in place of the directory: nothing is written through it
    planted = tmp_path / "planted"
    planted.mkdir()
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "other"))
    (tmp_path / "other" / "agitlog").mkdir(parents=True)
    (tmp_path / "other" / "agitlog" / "crash").symlink_to(planted)
    assert print_crash(RuntimeError("boom")) == 3
    assert list(planted.iterdir()) == []
    assert "no crash log could be written" in capsys.readouterr().err


# --- acks mean durable -----------------------------------------------------------------------------

def test_an_acked_event_is_fsynced_before_the_reply(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The reply to ``"ack": true`` comes after an fsync of the journal that covers that event and every
    event sent before it (docs/events.md: "once the event is durable")."""
    import agitlog.store.journal as journal_module
    from agitlog import git as agit
    from agitlog.capture.channel import ChannelServer
    from agitlog.capture.lifecycle import finish_session, start_session

    synced: list[int] = []  # size of events.jsonl at each fsync of it
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        real_fsync(fd)
        if os.readlink(f"/proc/self/fd/{fd}").endswith("events.jsonl"):
            synced.append(os.fstat(fd).st_size)

    monkeypatch.setattr(journal_module.os, "fsync", spy)
    live = start_session(agit.find_repo(repo), command=["test"], cwd=repo)
    channel = ChannelServer(live.recorder)
    channel.start()
    try:
        with socket.create_connection(("127.0.0.1", channel.port)) as sock:
            sock.sendall(channel.token.encode() + b"\n")
            lines = b"".join(b'{"type":"log","data":{"n":%d}}\n' % i for i in range(50))
            sock.sendall(lines + b'{"type":"decision","data":{"decision":"go"},"ack":true}\n')
            reply = json.loads(sock.makefile("rb").readline())
            size_at_reply = live.journal.events_file.stat().st_size
    finally:
        channel.close()
        finish_session(live, status="ok", exit_code=0)
    assert reply["ok"] is True and reply["seq"] == 51  # session.start, 50 logs, then the decision
    assert synced and max(synced) >= size_at_reply, (synced, size_at_reply)


# --- events nested deeper than Python can walk -----------------------------------------------------

def test_deeply_nested_events_are_recorded_as_errors_and_recording_goes_on(repo: Path) -> None:
    code = """
import agitlog, os, socket
deep = []
for _ in range(990):
    deep = [deep]
agitlog.log("deep", payload=deep)  # the SDK cannot encode it: it must not fail the agent
host, port = os.environ["AGITLOG_ADDR"].rsplit(":", 1)
sock = socket.create_connection((host, int(port)))
sock.sendall(os.environ["AGITLOG_TOKEN"].encode() + b"\\n")
for depth in (100_000, 900):  # too deep to parse; parsed, but too deep to walk
    sock.sendall(b'{"type":"log","data":{"x":' + b"[" * depth + b"]" * depth + b"}}\\n")
sock.sendall(b'{"type":"log","data":{"message":"same connection, after"},"ack":true}\\n')
sock.makefile("rb").readline()
agitlog.decision("after", reasoning="still recording")
"""
    proc = run_python_agent(repo, code)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    events = json.loads(agitlog("show", "--json", cwd=repo).stdout)["events"]
    kinds = [(e["type"], e["data"].get("reason") or e["data"].get("message") or e["data"].get("decision")) for e in events]
    assert kinds[1:-1] == [("error", "nested too deeply"), ("error", "nested too deeply"),
                           ("error", "nested too deeply"), ("log", "same connection, after"), ("decision", "after")]
