"""The read commands, filters and error handling, through the installed command."""
from __future__ import annotations

import json
from pathlib import Path

from agitlog.constants import STATUSES
from helpers import agitlog, agitlog_json, git, run_python_agent, session_ids, unique_prefix


def _record(repo: Path, *args: str, code: str = "pass\n") -> str:
    proc = run_python_agent(repo, code, *args)
    assert proc.returncode in (0, 1), proc.stderr
    return agitlog_json("log", "--limit", "1", cwd=repo)[0]["id"]


def test_log_filters_and_prefixes(repo: Path) -> None:
    ok = _record(repo, "--name", "good", "--agent", "alpha")
    bad = _record(repo, "--name", "bad", "--agent", "beta", code="raise SystemExit(1)\n")
    rows = agitlog_json("log", cwd=repo)
    assert [r["id"] for r in rows] == [bad, ok]  # newest first
    assert [r["id"] for r in agitlog_json("log", "--status", "failed", cwd=repo)] == [bad]
    assert [r["id"] for r in agitlog_json("log", "--agent", "alpha", cwd=repo)] == [ok]
    assert len(agitlog_json("log", "--limit", "1", cwd=repo)) == 1
    assert agitlog_json("log", "--since", "1h", cwd=repo) != []
    assert agitlog_json("log", "--since", "2999-01-01", cwd=repo) == []
    text = agitlog("log", cwd=repo).stdout
    assert "good" in text and "failed (1)" in text and "\x1b" not in text
    # a unique prefix works; a shared one is refused with exit 2
    assert agitlog_json("show", unique_prefix(ok, [bad]), cwd=repo)["session"]["id"] == ok
    proc = agitlog("show", ok[:2], cwd=repo)  # "20": every id starts with the year
    assert proc.returncode == 2 and "matches 2 sessions" in proc.stderr


def test_show_type_filter_matches_prefixes(repo: Path) -> None:
    code = """
import agitlog
agitlog.prompt("hi", model="m")
agitlog.response("yo", model="m", input_tokens=1, output_tokens=2)
with agitlog.tool("t"):
    pass
agitlog.decision("done")
"""
    _record(repo, code=code)
    kinds = lambda *t: [e["type"] for e in agitlog_json("show", *t, cwd=repo)["events"]]  # noqa: E731
    assert kinds("--type", "llm") == ["llm.request", "llm.response"]
    assert kinds("--type", "tool") == ["tool.call", "tool.result"]
    assert kinds("--type", "decision", "--type", "tool.call") == ["tool.call", "decision"]


def test_errors_are_one_clear_line_with_exit_codes(repo: Path, tmp_path: Path) -> None:
    proc = agitlog("show", cwd=repo)
    assert proc.returncode == 1 and "no recorded sessions" in proc.stderr and "agitlog run" in proc.stderr
    _record(repo)
    proc = agitlog("show", "zzz", "--json", cwd=repo)
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["error"]["code"] == "session_not_found"
    proc = agitlog("log", "--since", "yesterday-ish", cwd=repo)
    assert proc.returncode == 2 and "cannot read time" in proc.stderr
    proc = agitlog("run", "--bogus", "--", "true", cwd=repo)
    assert proc.returncode == 2 and "unknown option" in proc.stderr
    proc = agitlog("emit", "NOT A TYPE", cwd=repo, env={"AGITLOG_ADDR": "127.0.0.1:9", "AGITLOG_TOKEN": "x"})
    assert proc.returncode == 2
    (repo / ".agitlog.toml").write_text("[snapshot\n")
    proc = agitlog("run", "--", "true", cwd=repo)
    assert proc.returncode == 1 and ".agitlog.toml" in proc.stderr


def test_without_git_on_path_read_and_run_commands_say_so(repo: Path, tmp_path: Path) -> None:
    """git is started by name (posix_spawnp, for `log` and `run` alike): with no git on PATH, one
    clear line and no traceback, whichever way agitlog started it."""
    for command in (("log",), ("run", "--", "true")):
        proc = agitlog(*command, cwd=repo, env={"PATH": str(tmp_path)}, process=True)
        assert proc.returncode == 1 and "git is not installed or not on PATH" in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr


def test_unwritable_git_dir_is_a_clear_error(repo: Path) -> None:
    (repo / ".git" / "agitlog").write_text("not a directory")
    proc = agitlog("run", "--", "true", cwd=repo)
    assert proc.returncode == 1
    assert "cannot write to" in proc.stderr and "Traceback" not in proc.stderr


def test_corrupt_journal_does_not_block_other_commands(repo: Path) -> None:
    sid = _record(repo)
    broken = repo / ".git" / "agitlog" / "journal" / "20200101-000000-abcdef"
    broken.mkdir(parents=True)
    (broken / "start.json").write_text("{not json")
    (broken / "lock").write_text("")
    assert [r["id"] for r in agitlog_json("log", cwd=repo)] == [sid]
    proc = agitlog("recover", cwd=repo)
    assert proc.returncode == 1 and "not valid JSON" in proc.stderr
    assert broken.exists()  # never deleted: a human decides


def test_emit_outside_a_session_is_harmless(tmp_path: Path) -> None:
    proc = agitlog("emit", "decision", "--data", '{"decision": "x"}', cwd=tmp_path)
    assert proc.returncode == 0


def test_demo_records_the_payment_agent(tmp_path: Path) -> None:
    target = tmp_path / "demo"
    proc = agitlog("demo", str(target), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Recorded session" in proc.stdout and "sent 60 reminders" in proc.stdout
    [sid] = session_ids(target)
    data = agitlog_json("show", sid, cwd=target)
    decision = next(e for e in data["events"] if e["type"] == "decision")
    assert decision["data"]["decision"] == "email 60 customers"
    assert "days_overdue >= 0" in decision["data"]["reasoning"]
    assert len(list((target / "outbox").iterdir())) == 60
    assert git(target, "status", "--porcelain").strip() == "?? outbox/"
    proc = agitlog("demo", str(target), cwd=tmp_path)
    assert proc.returncode == 1 and "not empty" in proc.stderr


def test_a_crafted_session_cannot_break_log_or_show(repo: Path) -> None:
    """Sessions fetched from a teammate are untrusted: wrong types and escape sequences in session.toml."""
    sid = _record(repo)
    ref = f"refs/agent-sessions/{sid}"
    bad_toml = ('format = "one"\nid = "evil"\nstatus = "\\u001b[2Jok"\nduration_s = "slow"\nexit_code = "x"\n'
                'command = "rm -rf /"\nsteps = 3\n[stats]\ninput_tokens = "many"\nmodels = 7\n')
    blob = git(repo, "hash-object", "-w", "--stdin", input=bad_toml.encode()).strip()
    events = git(repo, "rev-parse", f"{ref}:events.jsonl").strip()
    tree = git(repo, "mktree", input=f"100644 blob {events}\tevents.jsonl\n100644 blob {blob}\tsession.toml\n".encode()).strip()
    parent = git(repo, "rev-parse", f"{ref}^").strip()
    commit = git(repo, "commit-tree", tree, "-p", parent, "-m", f"x\n\nAgitlog-Kind: record\nAgitlog-Session: {sid}").strip()
    git(repo, "update-ref", ref, commit)
    for args in (["log"], ["show"], ["log", "--json"], ["show", sid]):
        proc = agitlog(*args, cwd=repo)
        assert proc.returncode == 0, (args, proc.stderr)
        assert "\x1b" not in proc.stdout
    assert agitlog_json("log", cwd=repo)[0]["id"] == sid


def _command_paths(command: object, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    for name, sub in getattr(command, "commands", {}).items():
        paths += _command_paths(sub, (*prefix, name))
    return paths


def test_no_help_screen_shows_escaped_brackets(capsys) -> None:
    import typer.main

    from agitlog.cli import main
    from agitlog.cli.app import app

    paths = _command_paths(typer.main.get_command(app))
    assert ("remote", "setup") in paths and ("log",) in paths
    for path in paths:
        assert main([*path, "--help"]) == 0, path
        out = capsys.readouterr().out
        assert out.startswith("Usage: agitlog") and "\\[" not in out, (path, out)
    # the installed command, on screens with a range, a default and a required option
    words = lambda *args: " ".join(agitlog(*args, "--help", cwd=Path.cwd()).stdout.split())  # noqa: E731
    assert "[x>=0; required]" in words("checkout")
    assert "[default: 100; x>=0]" in words("search")


def test_bare_agitlog_prints_help_and_version_flag(tmp_path: Path) -> None:
    bare = agitlog(cwd=tmp_path)
    assert bare.returncode == 0 and bare.stdout.startswith("Usage: agitlog") and "--version" in bare.stdout
    assert "Commands:" in bare.stdout and bare.stderr == ""
    group = agitlog("remote", cwd=tmp_path)
    assert group.returncode == 0 and "setup" in group.stdout
    version = agitlog("--version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout == agitlog("version", cwd=tmp_path).stdout
    assert version.stdout.startswith("agitlog ") and version.stdout.strip().split()[1][0].isdigit()


def _on_terminal(args: list[str], cwd: Path, columns: int) -> str:
    """The installed command's stdout as a terminal of ``columns`` columns shows it (escapes removed)."""
    import os
    import pty
    import re
    import subprocess

    from helpers import AGITLOG

    master, slave = pty.openpty()
    env = dict(os.environ, COLUMNS=str(columns), LINES="40", TERM="xterm")
    proc = subprocess.Popen([AGITLOG, *args], cwd=cwd, stdout=slave, stderr=subprocess.PIPE, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 1 << 16)
        except OSError:  # EIO: the command closed its end
            break
        if not chunk:
            break
        chunks.append(chunk)
    assert proc.wait(timeout=60) == 0, proc.stderr.read() if proc.stderr else ""
    os.close(master)
    return re.sub(r"\x1b\[[0-9;]*m", "", b"".join(chunks).decode()).replace("\r\n", "\n")


def test_log_never_wraps_a_session_id(repo: Path) -> None:
    long_name = "nightly dependency upgrade across every service with a very long description"
    ids = [_record(repo, "--name", long_name), _record(repo, code="raise SystemExit(1)\n")]
    for columns in (80, 100):
        screen = _on_terminal(["log"], repo, columns)
        lines = screen.splitlines()
        assert all(len(line) <= columns for line in lines), screen
        for session_id in ids:
            assert any(line.startswith(session_id + " ") for line in lines), (columns, screen)
        assert "failed (1)" in screen and "nightly" in screen


def test_empty_results_say_what_matched_nothing(repo: Path) -> None:
    _record(repo, "--agent", "alpha")
    for args, said in ((["--status", "failed"], "no sessions match --status failed"),
                       (["--agent", "nobody", "--status", "ok"], "no sessions match --status ok --agent nobody"),
                       (["--since", "2030-01-01"], "no sessions match --since 2030-01-01")):
        proc = agitlog("log", *args, cwd=repo)
        assert proc.returncode == 0 and proc.stdout == "" and said in proc.stderr, (args, proc.stderr)
        assert "recorded yet" not in proc.stderr
    for command in (["log"], ["search", "x"]):
        proc = agitlog(*command, "--status", "bogus", cwd=repo)
        assert proc.returncode == 2 and "unknown status 'bogus'" in proc.stderr
        assert "use one of: " + ", ".join(STATUSES) in proc.stderr


def test_fresh_clone_hints_fetch(repo: Path, tmp_path: Path) -> None:
    session = _record(repo)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    proc = agitlog("log", cwd=clone)
    assert proc.returncode == 0 and "origin has 1 session:" in proc.stderr and "`agitlog fetch origin`" in proc.stderr
    shown = agitlog("show", cwd=clone)  # every read command's "no recorded sessions" says so too
    assert shown.returncode == 1 and "hint: origin has 1 session: `agitlog fetch origin` brings them" in shown.stderr
    assert agitlog("fetch", "origin", cwd=clone).returncode == 0
    assert [r["id"] for r in agitlog_json("log", cwd=clone)] == [session]
    empty = tmp_path / "empty"
    git(tmp_path, "clone", "-q", str(clone), str(empty))
    git(empty, "remote", "set-url", "origin", str(tmp_path / "gone"))  # unreachable: no hint, no error
    proc = agitlog("log", cwd=empty)
    assert proc.returncode == 0 and "no sessions recorded yet" in proc.stderr
    assert "record one with `agitlog run" in agitlog("show", cwd=empty).stderr


CODING_AGENT = """
import agitlog
reminder = {"type": "text", "text": "<system-reminder>repo context, todo list</system-reminder>"}
agitlog.emit("llm.request", {"body": {"model": "claude-x", "system": "You are a coding agent.", "messages": [
    {"role": "system", "content": "tool policy: be careful"},
    {"role": "user", "content": [reminder, {"type": "text", "text": "fix the failing billing test"}]},
]}})
calls = [{"id": f"t{i}", "name": "edit", "input": {"file": f"f{i}.py"}} for i in range(4)]
agitlog.response("", model="claude-x", tool_calls=calls, latency_ms=1234.5678901234567, first_chunk_ms=87.654321)
agitlog.emit("llm.request", {"body": {"model": "claude-x", "messages": [
    {"role": "user", "content": "fix the failing billing test"},
    {"role": "system", "content": "reminder appended after the user turn"},
]}})
"""


def test_show_counts_asked_tool_calls_and_previews_the_users_prompt(repo: Path) -> None:
    session = _record(repo, code=CODING_AGENT)
    text = agitlog("show", session, cwd=repo).stdout
    assert "tool calls 4 (4 asked by a model, 0 recorded)" in text
    assert "prompt    fix the failing billing test" in text and "system-reminder" not in text.split("\n\n")[0]
    assert "model     claude-x: 1 call, in 0, out 0" in text
    request_lines = [line for line in text.splitlines() if "llm.request" in line]
    assert request_lines[0].endswith("msg: fix the failing billing test")
    assert request_lines[1].endswith("msg: fix the failing billing test")  # not the system message after it
    assert agitlog_json("show", session, "--type", "decision", cwd=repo)["prompt"] == "fix the failing billing test"
    assert agitlog_json("show", session, cwd=repo)["session"]["stats"]["model_tool_calls"] == 4
    plain = agitlog("replay", session, "--plain", cwd=repo).stdout
    assert "latency: 1235 ms" in plain and "first chunk: 88 ms" in plain and "1234.56" not in plain
    summary = agitlog("run", "--", "true", cwd=repo).stderr
    assert "1 step)" in summary and "steps)" not in summary  # `run` on an unchanged tree: step 0 only
