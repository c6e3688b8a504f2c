"""One attribution model for "which decision made this change" (agitlog.query.attribution): show, diff,
blame and bisect agree with each other and with `git blame` over the step commits, for an agent that
decides then acts (``with agitlog.decision``) and one that acts then explains (a plain decision)."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from agitlog.query.attribution import NONE, OWN_SNAPSHOT, SCOPE, attribute_steps, explain_step
from helpers import AGITLOG, agitlog, agitlog_json, git, init_repo, run_python_agent, session_ids
from team_agents import calc_repo

V1 = "def total(xs):\\n    return sum(xs)\\n\\n\\ndef greet():\\n    pass\\n"
V2 = ("def total(xs):\\n    return sum(xs) + 1\\n\\n\\ndef greet():\\n    pass\\n"
      "\\n\\ndef farewell():\\n    pass\\n")

# Decides, then acts: each decision scopes what it changes. notes.txt is written between the two
# decisions, outside any tool or decision: it belongs to no decision (never to the next one).
DECIDE_THEN_ACT = f"""
    import agitlog, pathlib
    with agitlog.decision("add greet", reasoning="users asked for it"):
        with agitlog.tool("write_file", path="app/calc.py"):
            pathlib.Path("app/calc.py").write_text("{V1}")
    pathlib.Path("notes.txt").write_text("scratch\\n")
    with agitlog.decision("add farewell", reasoning="symmetry"):
        pathlib.Path("app/calc.py").write_text("{V2}")
"""

# Acts, then explains: each plain decision owns what changed since the previous snapshot. notes.txt
# is written before a tool that changes nothing: that tool's snapshot holds it, under no decision.
ACT_THEN_EXPLAIN = f"""
    import agitlog, pathlib
    pathlib.Path("app/calc.py").write_text("{V1}")
    agitlog.decision("add greet", reasoning="users asked for it")
    pathlib.Path("notes.txt").write_text("scratch\\n")
    with agitlog.tool("lint"):
        pass
    pathlib.Path("app/calc.py").write_text("{V2}")
    agitlog.decision("add farewell", reasoning="symmetry")
"""


def _record(tmp_path: Path, agent: str) -> tuple[Path, str]:
    repo = calc_repo(tmp_path / "repo")
    proc = run_python_agent(repo, agent)
    assert proc.returncode == 0, proc.stderr
    [sid] = session_ids(repo)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "take the agent's work")  # no hook: blame links by content
    return repo, sid


def _git_blame_steps(repo: Path, sid: str, path: str) -> list[int | None]:
    """Per line, the step `git blame` over the session's step commits names (None: before step 0)."""
    out = git(repo, "blame", "--line-porcelain", f"refs/agent-sessions/{sid}^", "--", path)
    shas = [line.split()[0] for line in out.splitlines() if len(line) > 40 and line[40:41] == " "
            and all(c in "0123456789abcdef" for c in line[:40])]
    steps = []
    for sha in shas:
        trailers = git(repo, "log", "-1", "--format=%(trailers:key=Agitlog-Step,valueonly)", sha).strip()
        steps.append(int(trailers) if trailers else None)
    return steps


def _decisions_by_step(repo: Path, sid: str) -> tuple[dict[int, int | None], dict[int, int], dict[int, str]]:
    """What show and diff say: step -> decision seq; and seq -> decision text."""
    shown = agitlog_json("show", sid, cwd=repo)
    show = {entry["step"]: entry["decision"] for entry in shown["steps"].values()}
    diff = {int(step): seq for step, seq in agitlog_json("diff", sid, cwd=repo)["decisions"].items()}
    texts = {e["seq"]: e["data"]["decision"] for e in shown["events"] if e["type"] == "decision"}
    return show, diff, texts


@pytest.mark.parametrize("agent", [DECIDE_THEN_ACT, ACT_THEN_EXPLAIN], ids=["decide-then-act", "act-then-explain"])
def test_show_diff_blame_bisect_and_git_blame_agree(tmp_path: Path, agent: str) -> None:
    repo, sid = _record(tmp_path, agent)
    show, diff, texts = _decisions_by_step(repo, sid)
    assert {step: seq for step, seq in show.items() if seq is not None} == diff

    blamed = agitlog_json("blame", "app/calc.py", cwd=repo)["lines"]
    git_steps = _git_blame_steps(repo, sid, "app/calc.py")
    assert len(blamed) == len(git_steps) == 10
    for line, git_step in zip(blamed, git_steps):
        session = line["session"]
        if git_step in (None, 0):  # older than the session, or the user's worktree before it ran
            assert session is None, line
            continue
        assert session["session"] == sid and session["step"] == git_step, (line, git_step)
        expected = texts.get(show[git_step]) if show.get(git_step) is not None else None
        assert session["decision"] == expected, line
    by_line = {line["number"]: line["session"] for line in blamed}
    assert by_line[2]["decision"] == "add farewell" and by_line[6]["decision"] == "add greet"
    assert by_line[6]["step"] < by_line[10]["step"]  # the same text "    pass", two different steps

    [notes] = agitlog_json("blame", "notes.txt", cwd=repo)["lines"]
    assert notes["session"]["session"] == sid and notes["session"]["decision"] is None  # not the next decision
    assert show[notes["session"]["step"]] is None

    proc = agitlog("bisect", "--json", "--", sys.executable, "check.py", cwd=repo)
    result = json.loads(proc.stdout)
    assert result["outcome"] == "found" and result["first_bad_step"] == by_line[2]["step"]
    assert result["events"]["decision"]["data"]["decision"] == "add farewell"
    assert result["events"]["decision"]["seq"] == show[result["first_bad_step"]]

    hunk_decisions = {d for f in agitlog_json("diff", sid, cwd=repo)["files"] if f["path"] == "app/calc.py"
                      for h in f["hunks"] for d in h["decisions"]}
    assert {texts[d] for d in hunk_decisions if d is not None} == {"add greet", "add farewell"}


def test_decision_ids_differ_between_runs_but_compare_ignores_them(tmp_path: Path) -> None:
    repo, first = _record(tmp_path, DECIDE_THEN_ACT)
    git(repo, "checkout", "-q", "HEAD~1", "--", "app/calc.py")  # the same start for the second run
    git(repo, "rm", "-q", "--cached", "notes.txt")
    (repo / "notes.txt").unlink()
    assert run_python_agent(repo, DECIDE_THEN_ACT).returncode == 0
    [second] = [sid for sid in session_ids(repo) if sid != first]
    ids = [{e["data"]["decision_id"] for e in agitlog_json("show", sid, cwd=repo)["events"] if e["type"] == "decision"}
           for sid in (first, second)]
    assert len(ids[0]) == 2 and not ids[0] & ids[1]
    proc = agitlog("compare", first, second, "--json", cwd=repo)
    assert proc.returncode == 0, proc.stdout  # a faithful re-execution: same events, same final tree


def _event(seq: int, kind: str, step: int, **data: Any) -> dict[str, Any]:
    return {"seq": seq, "type": kind, "step": step, "agent": "main", "data": data}


def test_a_scoped_decision_owns_its_scope_not_what_came_before() -> None:
    events = [
        _event(0, "session.start", 0),
        _event(1, "decision", 1, decision="outer", decision_id="o"),       # snapshot: earlier changes
        _event(2, "decision", 2, decision="inner", decision_id="i", parent_decision_id="o"),
        _event(3, "tool.call", 2, tool="write", call_id="c", decision_id="i"),
        _event(4, "tool.result", 3, tool="write", call_id="c", decision_id="i"),
        _event(5, "decision.end", 3, decision_id="i"),
        _event(6, "decision.end", 4, decision_id="o"),
        _event(7, "decision", 5, decision="explained afterwards"),          # unscoped: its own snapshot
        _event(8, "tool.call", 6, tool="lint", call_id="d"),                # changes outside everything
        _event(9, "decision", 6, decision="next one"),
        _event(10, "session.end", 7),
    ]
    found = attribute_steps(events)
    assert (found[1].decision, found[1].rule) == (None, NONE)          # made before "outer" was taken
    assert (found[2].decision_seq, found[2].rule) == (1, SCOPE)        # before "inner", inside "outer"
    assert (found[3].decision_seq, found[3].rule) == (2, SCOPE)        # the tool inside "inner"
    assert found[4].decision_seq == 1                                  # closing "outer"
    assert (found[5].decision_seq, found[5].rule) == (7, OWN_SNAPSHOT)
    assert found[6].decision is None and found[6].producer["seq"] == 8  # never the next decision
    assert found[7].decision is None
    explained = explain_step(events, 3)
    assert explained.tool_call["seq"] == 3 and explained.tool_result["seq"] == 4
    assert explained.decision["data"]["decision"] == "inner"


def test_a_wire_event_can_name_its_decision(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    (repo / "a.txt").write_text("a\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "a")
    script = tmp_path / "agent.sh"
    script.write_text(  # the agitlog that records it, by absolute path: the test must not rely on PATH
        f"#!/bin/sh\nset -e\n"
        f"{AGITLOG} emit decision decision_id=fix-1 'decision=use sed' >/dev/null\n"
        f"echo b > a.txt\n"
        f"{AGITLOG} emit tool.result tool=sed decision_id=fix-1 --snapshot >/dev/null\n"
        f"{AGITLOG} emit decision.end decision_id=fix-1 --snapshot >/dev/null\n")
    script.chmod(0o755)
    proc = agitlog("run", "--", str(script), cwd=repo)
    assert proc.returncode == 0, proc.stderr
    shown = agitlog_json("show", cwd=repo)
    [change] = [c for c in shown["steps"].values() if c["files"]]
    decision = next(e for e in shown["events"] if e["seq"] == change["decision"])
    assert decision["data"]["decision"] == "use sed"


def test_processes_started_inside_a_scope_belong_to_it(tmp_path: Path) -> None:
    agent = f"""
        import agitlog, subprocess
        with agitlog.decision("regenerate", reasoning="stale"):
            subprocess.run(["sh", "-c", "echo fresh > gen.txt && {AGITLOG} emit tool.result tool=gen --snapshot"],
                           check=True, stdout=subprocess.DEVNULL)
        subprocess.run(["sh", "-c", "echo later > late.txt && {AGITLOG} emit tool.result tool=late --snapshot"],
                       check=True, stdout=subprocess.DEVNULL)
    """
    repo = init_repo(tmp_path / "repo")
    (repo / "a.txt").write_text("a\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "a")
    assert run_python_agent(repo, agent).returncode == 0
    shown = agitlog_json("show", cwd=repo)
    events = {e["seq"]: e for e in shown["events"]}
    by_file = {c["files"][0]["path"]: c for c in shown["steps"].values() if c["files"]}
    assert events[by_file["gen.txt"]["decision"]]["data"]["decision"] == "regenerate"
    assert by_file["late.txt"]["decision"] is None  # the scope had ended: the env is restored
