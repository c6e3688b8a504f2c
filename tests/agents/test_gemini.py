"""Gemini CLI (the real CLI, pinned in .ci/run) under `agitlog run`, against the fake model's
generateContent: hooks from a system-defaults settings file for this run only give the prompt, each
model call, and each tool call as its own step; the agent's commit is recorded; `agitlog import gemini`
rebuilds the session from the chat file Gemini CLI wrote."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import agent_cli
from fakemodel import FakeModel, gemini_script

from agitlog.capture.adapters import gemini as adapter
from helpers import agitlog, agitlog_json, git


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


def test_gemini_hooks_record_prompt_model_calls_and_tool_steps(repo: Path, isolated_env: Path,
                                                               runtime_dir: Path) -> None:
    gemini = agent_cli("gemini")
    (isolated_env / ".gemini").mkdir()
    user_settings = isolated_env / ".gemini" / "settings.json"
    user_settings.write_text(json.dumps({"security": {"auth": {"selectedType": "gemini-api-key"},
                                                      "folderTrust": {"enabled": False}}}))
    before = user_settings.read_text()
    assert agitlog("hooks", "install", cwd=repo).returncode == 0
    git(repo, "config", "user.name", "Agent")  # Gemini CLI's shell tool points GIT_CONFIG_GLOBAL at /dev/null
    git(repo, "config", "user.email", "agent@example.com")
    model = FakeModel().start()
    model.script = gemini_script(str(repo))
    env = {"PATH": "/usr/bin:/bin", "GEMINI_API_KEY": "test-gemini-key", "GOOGLE_GEMINI_BASE_URL": model.url,
           "XDG_RUNTIME_DIR": str(runtime_dir)}
    try:  # -m: a fixed model, so Gemini CLI skips its model router (a JSON classifier call)
        proc = agitlog("run", "--", str(gemini), "-m", "gemini-2.5-flash", "-p", "make notes", "--yolo",
                       cwd=repo, env=env)
        answers = list(model.answers)
    finally:
        model.close()
    assert proc.returncode == 0, proc.stderr
    events = agitlog_json("show", cwd=repo)["events"]
    assert [e["data"]["prompt"] for e in events if e["type"] == "user.prompt"] == ["make notes"]
    assert [e["data"]["text"] for e in events if e["type"] == "llm.response"] == answers
    results = [e for e in events if e["type"] == "tool.result"]
    assert [e["data"]["tool"] for e in results] == ["write_file", "run_shell_command", "replace", "run_shell_command"]
    write, shell, edit, _ = results
    assert len({write["step"], shell["step"], edit["step"]}) == 3
    assert git(repo, "show", f"{write['commit']}:notes.txt") == "hello\n"
    assert git(repo, "show", f"{shell['commit']}:lines.txt") == "1 notes.txt\n"
    assert git(repo, "show", f"{edit['commit']}:notes.txt") == "hello world\n"
    [made] = [e for e in events if e["type"] == "git.commit"]
    assert made["data"]["commit"] == git(repo, "rev-parse", "HEAD").strip() and made["data"]["message"] == "Add notes"
    # Gemini CLI 0.61 runs git with core.hooksPath="" (no hooks), so its commits never get the trailer:
    # the session's git.commit event is the only link, and it says so.
    assert made["data"]["linked"] is False and "Agent-Session" not in git(repo, "log", "-1", "--format=%B")
    assert [e["data"]["agent"] for e in events if e["type"] == "agent.transcript"] == ["gemini"]
    assert user_settings.read_text() == before and list(runtime_dir.rglob("*.json")) == []  # nothing left behind

    [imported] = json.loads(agitlog("import", "gemini", "--json", cwd=repo).stdout)["sessions"]
    assert imported["status"] == "imported" and imported["steps"] == 3  # step 0, write_file, replace
    events = agitlog_json("show", imported["session_id"], cwd=repo)["events"]
    assert [e["data"]["prompt"] for e in events if e["type"] == "user.prompt"] == ["make notes"]
    write, _, edit, _ = [e for e in events if e["type"] == "tool.result"]
    assert git(repo, "show", f"{write['commit']}:notes.txt") == "hello\n"
    assert git(repo, "show", f"{edit['commit']}:notes.txt") == "hello world\n"
    again = json.loads(agitlog("import", "gemini", "--json", cwd=repo).stdout)["sessions"]
    assert [s["status"] for s in again] == ["unchanged"]


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
