"""`agitlog bisect`: the step that broke a command, and why; the user's state is never touched."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from helpers import agitlog, git, session_ids, user_state
from team_agents import calc_repo, check_command, record_step_agent


def _bisect(repo: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, dict]:
    proc = agitlog("bisect", "--json", *args, "--", *check_command(), cwd=repo, env=env)
    assert proc.stdout, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def test_finds_the_third_step_and_explains_it(tmp_path: Path) -> None:
    repo = calc_repo(tmp_path / "repo")
    record_step_agent(repo)
    git(repo, "stash", "-q")  # the user keeps working; bisect must not care
    (repo / "mine.txt").write_text("user work\n")
    before = user_state(repo)
    code, result = _bisect(repo)
    assert code == 0
    assert result["outcome"] == "found" and result["first_bad_step"] == 3
    events = result["events"]
    assert events["decision"]["data"]["decision"] == "rewrite calc 3"
    assert events["decision"]["data"]["reasoning"] == "because step 3 needs it"
    assert events["tool_call"]["data"]["arguments"] == {"path": "app/calc.py", "step": 3}
    assert events["response"]["data"]["text"] == "I will rewrite calc.py for step 3"
    assert events["prompt"]["data"]["prompt"] == "step 3: improve overdue_invoices totals"
    assert "+    return sum(xs) + 1  # off by one" in result["diff"]
    assert user_state(repo) == before
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1  # temporary worktree gone
    assert not (Path(git(repo, "rev-parse", "--git-dir").strip()) / "BISECT_LOG").exists()


def test_text_output_names_step_decision_and_diff(tmp_path: Path) -> None:
    repo = calc_repo(tmp_path / "repo")
    record_step_agent(repo)
    [sid] = session_ids(repo)
    proc = agitlog("bisect", sid[:15], "--patch", "--", *check_command(), cwd=repo)
    assert proc.returncode == 0, proc.stderr
    assert "first bad step: 3 of 4" in proc.stdout
    assert "rewrite calc 3" in proc.stdout and "because step 3 needs it" in proc.stdout
    assert "diff --git a/app/calc.py b/app/calc.py" in proc.stdout
    import re

    seqs = re.findall(r"^  [a-z ]{12} +(\d+)  \d\d:", proc.stdout, flags=re.MULTILINE)
    assert len(seqs) >= 4 and len(seqs) == len(set(seqs)), proc.stdout  # each event once
    assert "(made this step)" in proc.stdout and "produced by" not in proc.stdout  # the step's producer marked


def test_flaky_step_exits_125_and_is_skipped(tmp_path: Path) -> None:
    repo = calc_repo(tmp_path / "repo")
    record_step_agent(repo)
    code, result = _bisect(repo, env={"FLAKY": "4"})  # a skipped step after the break: still exact
    assert code == 0 and result["outcome"] == "found" and result["first_bad_step"] == 3
    code, result = _bisect(repo, env={"FLAKY": "2"})  # step 2 untestable, step 3 bad: 2 or 3
    assert code == 0 and result["outcome"] == "ambiguous"
    assert result["candidates"] == [2, 3] and result["first_bad_step"] == 3
    assert result["events"]["decision"]["data"]["decision"] == "rewrite calc 3"
    text = agitlog("bisect", "--", *check_command(), cwd=repo, env={"FLAKY": "2"}).stdout
    assert "the first bad step is one of 2, 3" in text


def test_good_at_the_end_and_bad_at_the_start(tmp_path: Path) -> None:
    repo = calc_repo(tmp_path / "repo")
    record_step_agent(repo)
    proc = agitlog("bisect", "--json", "--", sys.executable, "-c", "pass", cwd=repo)
    assert proc.returncode == 1 and json.loads(proc.stdout)["outcome"] == "good-at-end"
    proc = agitlog("bisect", "--", sys.executable, "-c", "raise SystemExit(1)", cwd=repo)
    assert proc.returncode == 1 and "already fails at step 0" in proc.stdout


def test_plain_git_bisect_works_on_step_commits(tmp_path: Path) -> None:
    repo = calc_repo(tmp_path / "repo")
    record_step_agent(repo)
    [sid] = session_ids(repo)
    _, result = _bisect(repo)
    base = git(repo, "rev-parse", "main").strip()
    last_step = git(repo, "rev-parse", f"refs/agent-sessions/{sid}^").strip()
    work = tmp_path / "by-hand"
    git(repo, "worktree", "add", "-q", "--detach", str(work), last_step)
    git(work, "bisect", "start", last_step, base)
    out = git(work, "bisect", "run", *check_command())
    assert f"{result['first_bad_commit']} is the first bad commit" in out
    assert "Agitlog-Step: 3" in out
    git(work, "bisect", "reset")


def test_session_without_changes_is_a_usage_error(repo: Path) -> None:
    from helpers import run_python_agent

    assert run_python_agent(repo, "pass\n").returncode == 0
    proc = agitlog("bisect", "--", "true", cwd=repo)
    assert proc.returncode == 2 and "nothing changed to bisect" in proc.stderr
