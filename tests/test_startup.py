"""The everyday commands stay light: `version`, `--version` and `emit` never load the CLI framework
(typer, click) or the SDK, `emit` speaks the wire protocol with the standard library alone, and the
read commands (log, show, replay, diff, state, blame, search) load none of the modules that made
their start-up slow. Asserted on the modules loaded, never on times (bench/bench_everyday.py
measures those)."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from agitlog.constants import VERSION
from helpers import agitlog, run_python_agent

HEAVY = ("typer", "click", "rich", "typing", "dataclasses", "agitlog.capture.sdk", "agitlog.capture.recorder")
# What a read command must not load (issue 9: start in <= 60 ms). typing (3-4 ms) and dataclasses
# (with inspect, ast, dis, tokenize: 7 ms, and every @dataclass compiles its methods) are what
# agitlog.datatypes and the TYPE_CHECKING imports keep away; tomllib (5 ms, it loads typing) is what
# store.metatoml keeps away; subprocess (2 ms) git/process.py's posix_spawn; the CLI framework and the
# recorder are never a reader's business.
READ_HEAVY = ("typer", "click", "rich", "typing", "dataclasses", "inspect", "ast", "tomllib", "string", "subprocess",
              "agitlog.capture.sdk", "agitlog.capture.recorder", "agitlog.capture.runner", "unidiff",
              "agitlog.store.journal", "agitlog.store.recovery")  # no journal, nothing to recover: not loaded


def _loaded_after(args: list[str], *, cwd: Path, env: dict[str, str] | None = None,
                  heavy: tuple[str, ...] = HEAVY, codes: tuple[int, ...] = (0,)) -> tuple[list[str], str]:
    """Run agitlog's entry point on ``args`` in a fresh interpreter, as the installed command does
    (its script imports re first); (the ``heavy`` modules it loaded, stdout)."""
    code = ("import re, sys, json\nfrom agitlog.cli import main\ncode = main(sys.argv[1:])\n"
            f"print(json.dumps([m for m in {heavy!r} if m in sys.modules]), file=sys.stderr)\nsys.exit(code)\n")
    proc = subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, env=dict(os.environ, **(env or {})),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode in codes, proc.stderr
    return json.loads(proc.stderr.strip().splitlines()[-1]), proc.stdout


def test_version_and_dash_dash_version_skip_the_cli_framework(tmp_path: Path) -> None:
    for args in (["version"], ["--version"]):
        loaded, out = _loaded_after(args, cwd=tmp_path)
        assert out == f"agitlog {VERSION}\n"
        assert loaded == []
    proc = agitlog("--version", cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout == f"agitlog {VERSION}\n"


def test_emit_sends_its_event_with_the_standard_library_only(tmp_path: Path) -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    env = {"AGITLOG_ADDR": f"127.0.0.1:{port}", "AGITLOG_TOKEN": "secret-token", "AGITLOG_SPAN": "0123456789abcdef",
           "AGITLOG_AGENT": "shell", "AGITLOG_DECISION": "d-42"}  # started inside a decision's scope
    with server:
        loaded, _ = _loaded_after(["emit", "decision", "choice=retry", "n=3"], cwd=tmp_path, env=env)
        conn, _ = server.accept()
        with conn, conn.makefile("rb") as reader:
            token = reader.readline()
            draft = json.loads(reader.readline())
    assert loaded == []
    assert token == b"secret-token\n"
    assert draft["type"] == "decision" and draft["data"] == {"choice": "retry", "n": 3, "decision_id": "d-42"}
    assert draft["span"] == "0123456789abcdef" and draft["agent"] == "shell"
    assert isinstance(draft["pid"], int) and draft["ts"].endswith("Z") and len(draft["ts"]) == 27


def test_read_commands_load_nothing_heavy(repo: Path, tmp_path: Path) -> None:
    """Each read command, on a repository with a recorded session (events, a decision, a changed
    file) and on one with none, in a pipe (plain text, no pager) and with --json."""
    proc = run_python_agent(repo, """
        import pathlib, agitlog
        agitlog.decision("rewrite", why="faster")
        pathlib.Path("src/app.py").write_text("def total(xs):\\n    return sum(xs) + 0\\n")
        agitlog.log("overdue_invoices")
    """)
    assert proc.returncode == 0, proc.stderr
    commands = [["log"], ["log", "--json"], ["show"], ["show", "--json"], ["replay", "--plain"], ["replay", "--json"],
                ["diff"], ["diff", "--stat"], ["state"], ["blame", "src/app.py"], ["search", "overdue_invoices"]]
    for args in commands:
        loaded, out = _loaded_after(args, cwd=repo, heavy=READ_HEAVY)
        # Parsing the patch is diff's work: unidiff (which loads typing) is the library for it.
        allowed = {"unidiff", "typing"} if args[0] == "diff" else set()
        assert out and set(loaded) <= allowed, (args, loaded)
    empty = tmp_path / "none"
    empty.mkdir()
    subprocess.run(["git", "init", "-q", str(empty)], check=True)
    loaded, _ = _loaded_after(["log"], cwd=empty, heavy=READ_HEAVY)
    assert loaded == []  # its "no sessions recorded yet" included


def _git_commands(args: list[str], *, cwd: Path, trace: Path) -> list[str]:
    """The git commands a read command runs (GIT_TRACE: one `built-in: git ...` line each)."""
    trace.unlink(missing_ok=True)
    proc = agitlog(*args, cwd=cwd, env={"GIT_TRACE": str(trace)}, process=True)
    assert proc.returncode == 0, proc.stderr
    lines = trace.read_text().splitlines() if trace.exists() else []
    return [line.split("built-in: git ", 1)[1] for line in lines if "built-in: git " in line]


def test_reading_one_session_takes_few_git_processes(repo: Path, tmp_path: Path) -> None:
    """Its metadata and events come through one `cat-file --batch`; a chain whose first step is
    known needs no base lookup; a diff's statuses and counts come from one `diff-tree`, and which
    event produced each step from the events (no per-step diffstats)."""
    proc = run_python_agent(repo, """
        import pathlib, agitlog
        agitlog.decision("rewrite")
        pathlib.Path("src/app.py").write_text("def total(xs):\\n    return sum(xs) + 0\\n")
    """)
    assert proc.returncode == 0, proc.stderr
    trace = tmp_path / "trace"
    show = _git_commands(["show"], cwd=repo, trace=trace)
    assert [c for c in show if c.startswith("cat-file")] == ["cat-file --batch"], show
    diff = _git_commands(["diff"], cwd=repo, trace=trace)
    assert not any("--batch-check" in c or c.startswith("cat-file -p") for c in diff), diff
    assert sum(c.startswith("diff-tree") and "--raw" in c for c in diff) == 1, diff
    assert not any(c.startswith("diff-tree") and "--numstat" in c and "--raw" not in c for c in diff), diff
    # which event produced each step: from the events alone, as step_changes (with its diffstats) says
    from agitlog import git as agit
    from agitlog.query.listing import step_changes, step_producers
    from agitlog.store.sessions import SessionStore

    store = SessionStore.open(agit.find_repo(repo))
    events = store.events(store.resolve(None))
    assert step_producers(events) == {change.step: seq for seq, change in step_changes(store.repo, events).items()}
    assert step_producers(events)
