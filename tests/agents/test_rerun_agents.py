"""Real coding agents reproduce under `agitlog rerun` (issue 12): Claude Code and Codex CLI record a
multi-step session (write a file, run a shell command, edit the file, commit) in a repository with
uncommitted changes; a rerun serves every model answer from the recording, makes no upstream call,
ends with the same files, and leaves the user's worktree and repository byte for byte as they were,
although the recorded tool calls hold absolute paths into it and the agent commits.

A later day is covered by tests/test_rerun_sandbox.py (a Python agent under libfaketime): Claude
Code under libfaketime inside `agitlog run` fails at start-up in libfaketime 0.9.10's shared-memory
set-up (sem_open), with or without agitlog's sandbox, so these tests run on the same day."""
from __future__ import annotations

import json
from pathlib import Path


from conftest import agent_cli, claude_env
from fakemodel import FakeModel, codex_script

from helpers import agitlog, agitlog_json, tree_files, user_state




def _rerun(repo: Path, session: str, env: dict[str, str], *, whole_session: bool = True) -> dict:
    """Rerun; every model call must be served and the final files the same. ``whole_session``: and
    every event too (Codex's adapter takes some events from its rollout file, written after the
    fact in its own order, so for Codex only the model calls and files are held to it)."""
    proc = agitlog("rerun", session, "--json", cwd=repo, env=env, timeout=300)
    result = json.loads(proc.stdout)
    difference = result["comparison"]["first_difference"]
    explained = json.dumps(difference and {k: difference[k] for k in ("index", "fields", "changes")})
    assert result["divergence"] is None and result["comparison"]["trees_equal"], explained + proc.stderr[-2000:]
    if whole_session:
        assert proc.returncode == 0 and result["reproduced"], explained + proc.stderr[-2000:]
    return result


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
    assert result["upstream_calls"] == 0 and result["served_calls"] == result["recorded_calls"] > 0
    assert len(coding_model.received) == calls
    assert user_state(repo) == before and not (repo / "notes.txt").exists()
    rerun = agitlog_json("show", result["rerun"], cwd=repo)["session"]
    assert tree_files(repo, rerun["steps"]["last"]) == tree_files(repo, original["meta"]["steps"]["last"])


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
    result = _rerun(repo, original["id"], env, whole_session=False)
    assert result["upstream_calls"] == 0 and result["served_calls"] == result["recorded_calls"] > 0
    assert len(coding_model.received) == calls
    assert user_state(repo) == before and not (repo / "notes.txt").exists()
