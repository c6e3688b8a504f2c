"""Real coding agents reproduce under `agitlog rerun` (issue 12): Claude Code and Codex CLI record a
multi-step session (write a file, run a shell command, edit the file, commit) in a repository with
uncommitted changes; a rerun serves every model answer from the recording, makes no upstream call,
ends with the same files, and leaves the user's worktree and repository byte for byte as they were,
although the recorded tool calls hold absolute paths into it and the agent commits.

Reruns also run three days later under libfaketime (Debian's 0.9.10, installed by .ci/run), agitlog
and the agent alike. Claude Code writes today's date into its system prompt: the later rerun's
requests carry the later date and still match the recording. (Claude Code, a Bun-built binary,
cannot open libfaketime's shared clock state and exited at start-up; its adapter now starts it
without that state.) On a later day the events are held to the model calls, not all of them:
Claude Code's Bash tool results carry a `bashEditDiff` it works out from file modification times
against its own clock, and libfaketime moves the clock it reads, not the times the kernel gives the
files the command wrote. The same-day rerun is held to every event.

Codex is rerun on the same day: it is a static musl binary that libfaketime cannot reach (a later
day changes nothing it sees), while the shell and git processes its tools start are reached, and
under libfaketime 0.9.10 one later-day run in six failed in one of them (most likely 0.9.10's
shared clock state, which a forked child of the process that created it deletes on exit while
others still use it: seen in a trace of an earlier attempt). Codex's rerun is held to every event:
its turns read the same whether its notify came in time or from the rollout afterwards."""
from __future__ import annotations

import datetime
import glob
import json
from pathlib import Path

import pytest

from agentkit import agent_cli, claude_env
from fakemodel import FakeModel, codex_script

from helpers import agitlog, agitlog_json, tree_files, user_state

FAKETIME_LIB = next(iter(glob.glob("/usr/lib/*/faketime/libfaketime.so.1")), None)
LATER = 3  # days


def _later(env: dict[str, str]) -> dict[str, str]:
    """``env`` with the clock LATER days ahead for agitlog and everything it starts."""
    if FAKETIME_LIB is None:
        pytest.skip("needs libfaketime for a rerun on a later day (Debian package faketime; .ci/run installs it)")
    return {**env, "LD_PRELOAD": FAKETIME_LIB, "FAKETIME": f"+{LATER}d"}


def _rerun(repo: Path, session: str, env: dict[str, str], *, whole_session: bool = True,
           later: bool = False) -> dict:
    """Rerun (``later``: LATER days later); every model call must be served and the final files the
    same. ``whole_session``: and every event too. Through the installed command, so that libfaketime
    is in agitlog's own process too, which matches the agent's later date to the recorded one."""
    proc = agitlog("rerun", session, "--json", cwd=repo, env=_later(env) if later else env, timeout=300,
                   process=later)
    result = json.loads(proc.stdout)
    difference = result["comparison"]["first_difference"]
    explained = json.dumps(difference and {k: difference[k] for k in ("index", "fields", "changes")})
    assert result["divergence"] is None and result["comparison"]["trees_equal"], explained + proc.stderr[-2000:]
    assert result["upstream_calls"] == 0 and result["served_calls"] == result["recorded_calls"] > 0
    if whole_session:
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
    result = _rerun(repo, original["id"], env, later=True, whole_session=False)
    assert len(coding_model.received) == calls and user_state(repo) == before
    rerun = agitlog_json("show", result["rerun"], cwd=repo)["session"]
    assert rerun["started_at"].startswith(later)
    asked = [json.dumps(e["data"]["body"]) for e in
             agitlog_json("show", result["rerun"], "--type", "llm.request", cwd=repo)["events"]]
    assert later in asked[0] and today not in asked[0]  # the agent saw the later day; matched as recorded
    first = result["comparison"]["first_difference"]
    assert first is None or all("bashEditDiff" in change["path"] for change in first["changes"]), first


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
