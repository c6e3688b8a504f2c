"""`agitlog blame`: after the user commits an agent's changes, each line names its session and step."""
from __future__ import annotations

from pathlib import Path

from helpers import agitlog, agitlog_json, git, session_ids
from team_agents import calc_repo, record_step_agent


def _lines(repo: Path, path: str = "app/calc.py") -> dict[str, dict]:
    data = agitlog_json("blame", path, cwd=repo)
    return {line["text"]: line for line in data["lines"]}


def test_blame_follows_the_trailer_to_step_and_decision(tmp_path: Path) -> None:
    repo = calc_repo(tmp_path / "repo")
    assert agitlog("hooks", "install", cwd=repo).returncode == 0
    record_step_agent(repo)
    [sid] = session_ids(repo)
    git(repo, "add", "app/calc.py")
    git(repo, "commit", "-q", "-m", "take the agent's work")
    lines = _lines(repo)
    assert lines["def total(xs):"]["session"] is None  # written by the user's first commit
    tidy = lines["    # tidy"]["session"]
    assert tidy["session"] == sid and tidy["step"] == 1 and tidy["via"] == "trailer"
    assert tidy["decision"] == "rewrite calc 1" and tidy["agent"] == "main"
    off_by_one = lines["    return sum(xs) + 1  # off by one"]["session"]
    assert off_by_one["step"] == 3 and off_by_one["reasoning"] == "because step 3 needs it"
    assert lines["TAX = 0.2"]["session"]["step"] == 4

    text = agitlog("blame", "app/calc.py", cwd=repo)
    assert text.returncode == 0
    assert f"{sid} @3 main rewrite calc 3" in text.stdout


def test_blame_matches_content_without_the_hook(tmp_path: Path) -> None:
    repo = calc_repo(tmp_path / "repo")
    record_step_agent(repo)
    [sid] = session_ids(repo)
    git(repo, "commit", "-q", "-am", "no hook installed")
    assert "Agent-Session" not in git(repo, "log", "-1", "--format=%B")
    line = _lines(repo)["TAX = 0.2"]
    assert line["session"]["session"] == sid and line["session"]["via"] == "content"


def test_blame_of_adopted_step_commits_and_uncommitted_lines(tmp_path: Path) -> None:
    repo = calc_repo(tmp_path / "repo")
    record_step_agent(repo)
    [sid] = session_ids(repo)
    last_step = git(repo, "rev-parse", f"refs/agent-sessions/{sid}^").strip()
    git(repo, "checkout", "-q", "-f", "-B", "adopt", last_step)  # a branch built on the steps themselves
    line = _lines(repo)["    return sum(xs) + 1  # off by one"]
    assert line["session"]["via"] == "step-commit" and line["session"]["step"] == 3
    (repo / "app" / "calc.py").write_text((repo / "app" / "calc.py").read_text() + "# mine\n")
    mine = _lines(repo)["# mine"]
    assert mine["session"] is None and set(mine["commit"]) == {"0"}


def test_blame_names_sessions_that_were_not_fetched(tmp_path: Path) -> None:
    repo = calc_repo(tmp_path / "repo")
    (repo / "app" / "calc.py").write_text("def total(xs):\n    return 0\n")
    git(repo, "commit", "-q", "-am", "from a teammate\n\nAgent-Session: 20260101-000000-abcdef")
    (repo / "app" / "calc.py").write_text("def total(xs):\n    return 0\n# evil\n")
    git(repo, "commit", "-q", "-am", "evil\n\nAgent-Session: \x1b]0;pwned\x07")
    line = _lines(repo)["    return 0"]
    assert line["session"] == {**line["session"], "session": "20260101-000000-abcdef", "present": False}
    text = agitlog("blame", "app/calc.py", cwd=repo).stdout
    assert "(not fetched)" in text and "\x1b" not in text and "\\x1b]0;pwned" in text


def test_blame_outside_the_repo_is_a_usage_error(tmp_path: Path) -> None:
    repo = calc_repo(tmp_path / "repo")
    proc = agitlog("blame", str(tmp_path / "elsewhere.py"), cwd=repo)
    assert proc.returncode == 2 and "outside the repository" in proc.stderr
