"""Gemini CLI (the real CLI, pinned in .ci/run) under `agitlog run`, against the fake model's
generateContent: hooks from a system-defaults settings file for this run only give the prompt, each
model call, and each tool call as its own step; the agent's commit is recorded; `agitlog import gemini`
rebuilds the session from the chat file Gemini CLI wrote."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from agentkit import agent_cli
from fakemodel import FakeModel, gemini_script

from agitlog.capture.adapters import gemini as adapter
from helpers import agitlog, agitlog_json, git, tree_files, user_state


@pytest.fixture
def runtime_dir() -> Iterator[Path]:
    """Gemini CLI only reads settings files whose every parent directory is private; /tmp is not,
    so the run's XDG_RUNTIME_DIR lives in the checkout's .ci directory."""
    path = Path(tempfile.mkdtemp(prefix="tmp-gemini-", dir=Path(__file__).resolve().parents[2] / ".ci"))
    if adapter.private_dir({"XDG_RUNTIME_DIR": str(path), "HOME": str(path)}) is None:
        shutil.rmtree(path)
        pytest.skip("the checkout is in a directory others can write: Gemini CLI would ignore the hook settings")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _gemini_home(home: Path) -> Path:
    """User settings that pick the Gemini API key (so the model traffic can cross the proxy)."""
    (home / ".gemini").mkdir()
    user_settings = home / ".gemini" / "settings.json"
    user_settings.write_text(json.dumps({"security": {"auth": {"selectedType": "gemini-api-key"},
                                                      "folderTrust": {"enabled": False}}}))
    return user_settings


def _gemini_env(model: FakeModel, runtime_dir: Path) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "GEMINI_API_KEY": "test-gemini-key", "GOOGLE_GEMINI_BASE_URL": model.url,
            "XDG_RUNTIME_DIR": str(runtime_dir)}


def test_gemini_hooks_record_prompt_model_calls_and_tool_steps(repo: Path, isolated_env: Path,
                                                               runtime_dir: Path) -> None:
    gemini = agent_cli("gemini")
    user_settings = _gemini_home(isolated_env)
    before = user_settings.read_text()
    theirs = repo / ".git" / "hooks" / "prepare-commit-msg"  # kept by `hooks install` as the legacy hook
    theirs.write_text(f"#!/bin/sh\necho ran >> {repo / '.git' / 'their-hook-ran'}\n")
    theirs.chmod(0o755)
    assert agitlog("hooks", "install", cwd=repo).returncode == 0
    git(repo, "config", "user.name", "Agent")  # Gemini CLI's shell tool points GIT_CONFIG_GLOBAL at /dev/null
    git(repo, "config", "user.email", "agent@example.com")
    model = FakeModel().start()
    model.script = gemini_script(str(repo))
    env = _gemini_env(model, runtime_dir)
    try:  # -m: a fixed model, so Gemini CLI skips its model router (a JSON classifier call)
        proc = agitlog("run", "--", str(gemini), "-m", "gemini-2.5-flash", "-p", "make notes", "--yolo",
                       cwd=repo, env=env)
        answers = list(model.answers)
    finally:
        model.close()
    assert proc.returncode == 0, proc.stderr
    events = agitlog_json("show", cwd=repo)["events"]
    assert [e["data"]["prompt"] for e in events if e["type"] == "user.prompt"] == ["make notes"]
    # the model calls crossed the proxy (exact bytes, tool calls read from the functionCall parts);
    # the hooks' BeforeModel/AfterModel keep Gemini CLI's own text-only view next to them
    responses = [e for e in events if e["type"] == "llm.response"]
    assert [e["data"]["text"] for e in responses] == answers and len(model.llm_requests()) == len(answers)
    assert [c["name"] for e in responses for c in e["data"]["tool_calls"]] == [
        "write_file", "run_shell_command", "replace", "run_shell_command"]
    assert {e["data"]["provider"] for e in responses} == {"gemini"}
    assert [e["data"]["text"] for e in events if e["type"] == "gemini.after_model"] == answers
    results = [e for e in events if e["type"] == "tool.result"]
    assert [e["data"]["tool"] for e in results] == ["write_file", "run_shell_command", "replace", "run_shell_command"]
    write, shell, edit, _ = results
    assert len({write["step"], shell["step"], edit["step"]}) == 3
    assert git(repo, "show", f"{write['commit']}:notes.txt") == "hello\n"
    assert git(repo, "show", f"{shell['commit']}:lines.txt") == "1 notes.txt\n"
    assert git(repo, "show", f"{edit['commit']}:notes.txt") == "hello world\n"
    [made] = [e for e in events if e["type"] == "git.commit"]
    assert made["data"]["commit"] == git(repo, "rev-parse", "HEAD").strip() and made["data"]["message"] == "Add notes"
    # Gemini CLI 0.61 runs shell commands with core.hooksPath="" appended; the run turns agitlog's own
    # prepare-commit-msg back on (and only it), so the agent's commit carries the trailer
    session_id = agitlog_json("log", cwd=repo)[0]["id"]
    assert made["data"]["linked"] is True
    assert f"Agent-Session: {session_id}" in git(repo, "log", "-1", "--format=%B")
    assert not (repo / ".git" / "their-hook-ran").exists()  # the repository's other hooks stay off
    assert [e["data"]["agent"] for e in events if e["type"] == "agent.transcript"] == ["gemini"]
    assert user_settings.read_text() == before  # nothing left behind: settings, the private hooks directory
    assert list(runtime_dir.rglob("*.json")) == [] and list((repo / ".git").rglob("gemini-git-hooks-*")) == []

    [imported] = json.loads(agitlog("import", "gemini", "--json", cwd=repo).stdout)["sessions"]
    assert imported["status"] == "imported" and imported["steps"] == 3  # step 0, write_file, replace
    events = agitlog_json("show", imported["session_id"], cwd=repo)["events"]
    assert [e["data"]["prompt"] for e in events if e["type"] == "user.prompt"] == ["make notes"]
    write, _, edit, _ = [e for e in events if e["type"] == "tool.result"]
    assert git(repo, "show", f"{write['commit']}:notes.txt") == "hello\n"
    assert git(repo, "show", f"{edit['commit']}:notes.txt") == "hello world\n"
    again = json.loads(agitlog("import", "gemini", "--json", cwd=repo).stdout)["sessions"]
    assert [s["status"] for s in again] == ["unchanged"]


def test_gemini_session_reruns_offline(repo: Path, isolated_env: Path, runtime_dir: Path) -> None:
    """Recorded through the proxy, rerun with the model server gone: every answer (function calls
    included) is served from the recording, the agent writes, runs, edits and commits as before."""
    gemini = agent_cli("gemini")
    _gemini_home(isolated_env)
    assert agitlog("hooks", "install", cwd=repo).returncode == 0  # the original commit gets its trailer
    git(repo, "config", "user.name", "Agent")
    git(repo, "config", "user.email", "agent@example.com")
    (repo / "README.md").write_text("# demo, edited but not committed\n")
    model = FakeModel().start()
    model.script = gemini_script(str(repo))
    env = _gemini_env(model, runtime_dir)
    try:
        proc = agitlog("run", "--", str(gemini), "-m", "gemini-2.5-flash", "-p", "make notes", "--yolo",
                       cwd=repo, env=env)
        calls = len(model.llm_requests())
    finally:
        model.close()  # no network from here on: the rerun has nothing to reach
    assert proc.returncode == 0, proc.stderr
    original = agitlog_json("log", cwd=repo)[0]
    (repo / "notes.txt").unlink()  # the user moves on; the rerun must not bring it back
    before = user_state(repo)
    rerun = agitlog("rerun", original["id"], "--json", cwd=repo, env=env, timeout=300)
    result = json.loads(rerun.stdout)
    difference = result["comparison"]["first_difference"]
    explained = json.dumps(difference and {k: difference[k] for k in ("index", "fields", "changes")})
    assert rerun.returncode == 0 and result["reproduced"], explained + rerun.stderr[-2000:]
    assert result["upstream_calls"] == 0 and result["served_calls"] == result["recorded_calls"] == calls > 0
    assert user_state(repo) == before and not (repo / "notes.txt").exists()
    again = agitlog_json("show", result["rerun"], cwd=repo)
    assert tree_files(repo, again["session"]["steps"]["last"]) == tree_files(repo, original["meta"]["steps"]["last"])
    assert [e["data"]["tool"] for e in again["events"] if e["type"] == "tool.result"] == [
        "write_file", "run_shell_command", "replace", "run_shell_command"]
    assert [e["data"]["message"] for e in again["events"] if e["type"] == "git.commit"] == ["Add notes"]
    # the sandbox runs no git hook: the rerun's commit has no trailer, and that is not a difference
    assert [e["data"]["linked"] for e in again["events"] if e["type"] == "git.commit"] == [False]


def test_commit_hook_survives_the_git_environment_gemini_gives_its_shell(repo: Path) -> None:
    """Gemini CLI appends core.hooksPath="" to GIT_CONFIG_COUNT for every shell command; the run's
    GIT_CONFIG_PARAMETERS brings back agitlog's own prepare-commit-msg, and nothing else."""
    hooks = repo / ".git" / "hooks"
    hooks.mkdir(exist_ok=True)
    ran = repo / ".git" / "ran"
    ours = hooks / adapter.COMMIT_HOOK  # stands for the installed one: the marker, the legacy hook first
    ours.write_text(f'#!/bin/sh\n# agitlog hook: test\n[ -x "$0.agitlog-legacy" ] && "$0.agitlog-legacy"\n'
                    f'echo ours >> {ran}\n')
    (hooks / f"{adapter.COMMIT_HOOK}.agitlog-legacy").write_text(f"#!/bin/sh\necho theirs >> {ran}\n")
    for hook in hooks.glob(f"{adapter.COMMIT_HOOK}*"):
        hook.chmod(0o755)
    directory = adapter.commit_hook_dir({"AGITLOG_REPO": str(repo)})
    assert directory is not None
    gemini_shell = {**os.environ, "GIT_CONFIG_COUNT": "2", "GIT_CONFIG_KEY_0": "core.hooksPath",
                    "GIT_CONFIG_VALUE_0": "", "GIT_CONFIG_KEY_1": "core.editor", "GIT_CONFIG_VALUE_1": ""}

    def commit(message: str, env: dict[str, str]) -> None:
        subprocess.run(["git", "commit", "-q", "--allow-empty", "--no-gpg-sign", "-m", message], cwd=repo, env=env,
                       check=True)

    commit("without agitlog", gemini_shell)
    assert not ran.exists()  # what Gemini CLI does: no hook at all
    config = adapter.with_git_config("'color.ui'='never'", "core.hooksPath", str(directory))
    commit("under agitlog run", {**gemini_shell, "GIT_CONFIG_PARAMETERS": config})
    assert ran.read_text() == "ours\n"  # ours only: the repository's other hook stays off
    (hooks / adapter.COMMIT_HOOK).write_text("#!/bin/sh\necho someone else\n")
    assert adapter.commit_hook_dir({"AGITLOG_REPO": str(repo)}) is None  # not installed: nothing turned on


def test_defaults_file_of_the_user_is_merged(tmp_path: Path) -> None:
    theirs = tmp_path / "defaults.json"
    theirs.write_text(json.dumps({"ui": {"theme": "x"}, "hooks": {"AfterTool": [{"hooks": [{"command": "mine"}]}]}}))
    private = Path(tempfile.mkdtemp(prefix="tmp-gemini-", dir=Path(__file__).resolve().parents[2] / ".ci"))
    try:
        env = {"HOME": str(private), "XDG_RUNTIME_DIR": str(private), adapter.ENV_DEFAULTS: str(theirs)}
        if adapter.private_dir(env) is None:
            pytest.skip("the checkout is in a directory others can write")
        prepared = adapter.GeminiAdapter().prepare(["gemini"], hook_command="H", env=env)
        settings = json.loads(Path(prepared.env[adapter.ENV_DEFAULTS]).read_text())
        assert settings["ui"] == {"theme": "x"}
        assert [h["hooks"][0]["command"] for h in settings["hooks"]["AfterTool"]] == ["mine", "H"]
        assert os.stat(prepared.env[adapter.ENV_DEFAULTS]).st_mode & 0o077 == 0
    finally:
        shutil.rmtree(private)


def test_model_hooks_are_the_record_only_when_the_proxy_is_not() -> None:
    payload = {"hook_event_name": "AfterModel", "llm_request": {"model": "gemini-2.5-flash"},
               "llm_response": {"text": "hi", "usageMetadata": {"promptTokenCount": 3}}}
    [proxied] = adapter.hook_drafts(payload, {adapter.ENV_VIA_PROXY: "1"})
    [alone] = adapter.hook_drafts(payload, {})
    assert (proxied.draft["type"], alone.draft["type"]) == ("gemini.after_model", "llm.response")
    assert proxied.draft["data"] == alone.draft["data"] and alone.draft["data"]["text"] == "hi"
    before = {"hook_event_name": "BeforeModel", "llm_request": {"model": "m", "messages": []}}
    assert adapter.hook_drafts(before, {adapter.ENV_VIA_PROXY: "1"})[0].draft["type"] == "gemini.before_model"


FAKE_GEMINI = """
import json, os, subprocess
settings = json.load(open(os.environ["GEMINI_CLI_SYSTEM_DEFAULTS_PATH"]))
command = settings["hooks"]["AfterModel"][0]["hooks"][0]["command"]
payload = {"hook_event_name": "AfterModel", "session_id": "s1", "llm_request": {"model": "gemini-2.5-flash"},
           "llm_response": {"text": "signed in with Google", "candidates": []}}
subprocess.run(command, shell=True, input=json.dumps(payload).encode(), check=True)
"""


def test_model_calls_around_the_proxy_are_named_as_not_rerunnable(repo: Path, runtime_dir: Path) -> None:
    """A Google sign-in talks to endpoints agitlog does not route: the run runs Gemini CLI's hooks
    as usual (here a stand-in that fires AfterModel the way Gemini CLI does), and says the session's
    model calls are the hooks' text only."""
    agent = repo / "fake_gemini.py"
    agent.write_text(FAKE_GEMINI)
    proc = agitlog("run", "--adapter", "gemini", "--", sys.executable, str(agent), cwd=repo,
                   env={"XDG_RUNTIME_DIR": str(runtime_dir)})
    assert proc.returncode == 0, proc.stderr
    events = agitlog_json("show", cwd=repo)["events"]
    assert [e["data"]["text"] for e in events if e["type"] == "gemini.after_model"] == ["signed in with Google"]
    [note] = [e["data"]["error"] for e in events if e["type"] == "error"]
    assert "did not go through agitlog's proxy" in note and "cannot answer them offline" in note
