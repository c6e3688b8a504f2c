"""`agitlog rerun --code`: the recorded answers against edited agent code (issue 12, item 6)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from fakemodel import FakeModel  # tests/llm, on the path from tests/conftest.py

from helpers import agitlog, agitlog_json, git, user_state

# A buggy agent that lives in the repository it works on: it asks the model twice and writes what
# the model says into report.txt. The "bug" is the second prompt's wording.
AGENT = '''
import json, os, pathlib, urllib.request

def ask(text):
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": text}]}).encode()
    request = urllib.request.Request(os.environ["OPENAI_BASE_URL"] + "/chat/completions", data=body,
                                     headers={"Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(request).read())["choices"][0]["message"]["content"]

first = ask("list overdue invoices")
second = ask("email every customer")
pathlib.Path("report.txt").write_text(first + "\\n" + second + "\\n")
'''


@pytest.fixture
def recorded(repo: Path, fake: FakeModel) -> str:
    (repo / "agent.py").write_text(AGENT)
    git(repo, "add", "agent.py")
    git(repo, "commit", "-q", "-m", "agent")
    proc = agitlog("run", "--", sys.executable, "agent.py", cwd=repo, env=_env(fake))
    assert proc.returncode == 0, proc.stderr
    return agitlog_json("log", cwd=repo)[0]["id"]


def _env(fake: FakeModel) -> dict[str, str]:
    return {"OPENAI_BASE_URL": f"{fake.url}/v1", "OPENAI_API_KEY": "test-key-not-secret"}


def _rerun(repo: Path, session: str, fake: FakeModel, *args: str) -> tuple[int, dict]:
    proc = agitlog("rerun", session, "--json", *args, cwd=repo, env=_env(fake))
    return proc.returncode, json.loads(proc.stdout)


def test_a_fix_is_reported_at_the_first_call_it_changes(repo: Path, fake: FakeModel, recorded: str) -> None:
    code, plain = _rerun(repo, recorded, fake)
    assert code == 0 and plain["reproduced"]
    calls = len(fake.llm_requests())
    # the one-line fix, uncommitted, in the user's worktree
    (repo / "agent.py").write_text(AGENT.replace("email every customer", "email overdue customers only"))
    before = user_state(repo)
    code, result = _rerun(repo, recorded, fake, "--code", ".")
    assert code == 1 and result["reproduced"] is False
    assert result["divergence"]["call_index"] == 1  # the first call still matches; the second changed
    change = result["divergence"]["changes"][0]
    assert change["path"] == "$.messages[0].content"
    assert "[every customer]" in change["a"] and "[overdue customers only]" in change["b"]
    assert result["upstream_calls"] == 0 and len(fake.llm_requests()) == calls
    assert user_state(repo) == before  # the user's worktree and repository are untouched
    bare = agitlog("rerun", "--json", cwd=repo, env=_env(fake))  # after a failed rerun: the original again
    assert json.loads(bare.stdout)["original"] == recorded


def test_a_change_that_asks_the_same_reproduces(repo: Path, fake: FakeModel, recorded: str) -> None:
    (repo / "agent.py").write_text("# refactored: same behaviour\n" + AGENT)
    code, result = _rerun(repo, recorded, fake, "--code", ".")
    assert code == 0 and result["reproduced"] is True, result
    assert result["code"]["files"] == ["agent.py"]
    # without --code the rerun runs the recorded code, which says nothing about the edit
    code, result = _rerun(repo, recorded, fake)
    assert code == 0 and result["code"] is None


def test_code_from_a_revision(repo: Path, fake: FakeModel, recorded: str) -> None:
    (repo / "agent.py").write_text(AGENT.replace("list overdue invoices", "list unpaid invoices"))
    git(repo, "commit", "-q", "-am", "fix prompt")
    code, result = _rerun(repo, recorded, fake, "--code", "HEAD")
    assert code == 1 and result["divergence"]["call_index"] == 0
    code, result = _rerun(repo, recorded, fake, "--code", "HEAD~1")
    assert code == 0 and result["reproduced"]
    proc = agitlog("rerun", recorded, "--code", "no-such-rev", cwd=repo, env=_env(fake))
    assert proc.returncode == 2 and "names no revision" in proc.stderr


def test_a_recorded_session_as_a_pytest_regression_test(repo: Path, fake: FakeModel, recorded: str,
                                                        tmp_path: Path) -> None:
    """The agitlog_rerun fixture, in a user's own pytest run (a real pytest process)."""
    import subprocess

    (repo / "test_agent_regression.py").write_text(f'''
def test_agent_reproduces(agitlog_rerun):
    result = agitlog_rerun("{recorded}")
    assert result.reproduced, result.explain()
''')
    env = {**__import__("os").environ, **_env(fake)}

    def run_pytest() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               "test_agent_regression.py"], cwd=repo, env=env, capture_output=True, text=True)

    passed = run_pytest()
    assert passed.returncode == 0, passed.stdout + passed.stderr
    (repo / "agent.py").write_text(AGENT.replace("email every customer", "email nobody"))
    failed = run_pytest()
    assert failed.returncode == 1
    assert "$.messages[0].content" in failed.stdout and "[every customer]" in failed.stdout
