"""Real coding agents reproduce under `agitlog rerun` (issue 12): Claude Code and Codex CLI record a
multi-step session (write a file, run a shell command, edit the file, commit) in a repository with
uncommitted changes; a rerun serves every model answer from the recording, makes no upstream call,
ends with the same files and every event the same ('reproduced'), and leaves the user's worktree and
repository byte for byte as they were, although the recorded tool calls hold absolute paths into it
and the agent commits.

Each session is rerun twice: the same day, and three days later under tests/fakeclock.py, which
moves the clock of agitlog and of every process it starts, static or dynamic, and the file times
they see (ptrace and seccomp; libfaketime reaches neither Codex, a static musl binary, nor Claude
Code's own file-time calls). The later reruns are held to every event too. Claude Code writes
today's date into its system prompt: the later rerun's requests carry the later date and still
match the recording. Codex names its rollout file by its own date: the later rerun's is the later
day's. Codex's turns read the same whether its notify came in time or from the rollout afterwards."""
from __future__ import annotations

import datetime
import json
import os
import subprocess
from pathlib import Path

import pytest

import fakeclock
from agentkit import agent_cli, claude_env
from fakemodel import FakeModel, codex_script

from helpers import AGITLOG, agitlog, agitlog_json, tree_files, user_state

LATER = 3  # days


def _rerun(repo: Path, session: str, env: dict[str, str], *, later: bool = False) -> dict:
    """Rerun (``later``: LATER days later, agitlog and every process it starts); every model call must
    be served, every event and the final files the same. Through the installed command, so that the
    faked clock is in agitlog's own process too, which matches the agent's later date to the recorded one."""
    if later and (reason := fakeclock.unusable()):
        pytest.skip(reason)
    argv = [AGITLOG, "rerun", session, "--json"]
    proc = subprocess.run(fakeclock.command(f"+{LATER}d", argv) if later else argv, cwd=repo,
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=300)
    result = json.loads(proc.stdout)
    difference = result["comparison"]["first_difference"]
    explained = json.dumps(difference and {k: difference[k] for k in ("index", "fields", "changes")})
    assert result["divergence"] is None and result["comparison"]["trees_equal"], explained + proc.stderr[-2000:]
    assert result["upstream_calls"] == 0 and result["served_calls"] == result["recorded_calls"] > 0
    assert proc.returncode == 0 and result["reproduced"], explained + proc.stderr[-2000:]
    return result


def _dates(repo: Path, session: dict) -> tuple[str, str]:
    """(the original's day, LATER days after it), as ISO dates."""
    today = datetime.date.fromisoformat(session["meta"]["started_at"][:10])
    return today.isoformat(), (today + datetime.timedelta(days=LATER)).isoformat()


def _dirty(repo: Path) -> None:
    (repo / "README.md").write_text("# demo, edited but not committed\n")
    (repo / "scratch.txt").write_text("untracked\n")


def test_claude_code_session_reruns_sealed(repo: Path, coding_model: FakeModel,
                                                          isolated_env: Path) -> None:
    claude = agent_cli("claude")
    _dirty(repo)
    env = claude_env(coding_model, isolated_env, repo)
    proc = agitlog("run", "--", str(claude), "-p", "make notes", "--dangerously-skip-permissions", cwd=repo, env=env)
    assert proc.returncode == 0, proc.stderr
    original = agitlog_json("log", cwd=repo)[0]
    (repo / "notes.txt").unlink()  # the user moves on; the rerun must not bring it back
    before, calls = user_state(repo), len(coding_model.received)
    result = _rerun(repo, original["id"], env)
    assert len(coding_model.received) == calls
    assert user_state(repo) == before and not (repo / "notes.txt").exists()
    rerun = agitlog_json("show", result["rerun"], cwd=repo)["session"]
    assert tree_files(repo, rerun["steps"]["last"]) == tree_files(repo, original["meta"]["steps"]["last"])

    today, later = _dates(repo, original)
    result = _rerun(repo, original["id"], env, later=True)
    assert len(coding_model.received) == calls and user_state(repo) == before
    rerun = agitlog_json("show", result["rerun"], cwd=repo)["session"]
    assert rerun["started_at"].startswith(later)
    asked = [json.dumps(e["data"]["body"]) for e in
             agitlog_json("show", result["rerun"], "--type", "llm.request", cwd=repo)["events"]]
    assert later in asked[0] and today not in asked[0]  # the agent saw the later day; matched as recorded


def test_codex_session_reruns_sealed(repo: Path, coding_model: FakeModel,
                                                    isolated_env: Path) -> None:
    codex = agent_cli("codex")
    _dirty(repo)
    coding_model.script = codex_script()
    env = {"PATH": "/usr/bin:/bin", "OPENAI_API_KEY": "sk-test-codex", "OPENAI_BASE_URL": f"{coding_model.url}/v1"}
    proc = agitlog("run", "--", str(codex), "-m", "fake-1", "exec", "--dangerously-bypass-approvals-and-sandbox",
                   "make notes", cwd=repo, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    original = agitlog_json("log", cwd=repo)[0]
    (repo / "notes.txt").unlink()
    before, calls = user_state(repo), len(coding_model.received)
    _rerun(repo, original["id"], env)  # every event: a turn reads the same whether its notify came in time
    assert len(coding_model.received) == calls
    assert user_state(repo) == before and not (repo / "notes.txt").exists()

    _, later = _dates(repo, original)
    result = _rerun(repo, original["id"], env, later=True)
    assert len(coding_model.received) == calls and user_state(repo) == before
    assert agitlog_json("show", result["rerun"], cwd=repo)["session"]["started_at"].startswith(later)
    rollout = agitlog_json("show", result["rerun"], "--type", "agent.transcript", cwd=repo)["events"][0]
    assert f"/sessions/{later.replace('-', '/')}/rollout-{later}" in rollout["data"]["path"]  # Codex's own clock
