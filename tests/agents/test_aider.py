"""aider (the real CLI from PyPI, pinned in .ci/run into its own virtualenv) under `agitlog run`,
against the fake model's Chat Completions: its model calls go through the proxy, its auto-commits
are git.commit events, its prompts and history files are part of the session."""
from __future__ import annotations

from pathlib import Path

import pytest
from fakemodel import FakeModel, aider_script

from agitlog.capture.adapters import aider as adapter
from helpers import agitlog, agitlog_json, git

AIDER = Path(__file__).resolve().parents[2] / ".ci" / "aider-venv" / "bin" / "aider"


def test_aider_message_run_records_calls_commits_and_prompts(repo: Path, isolated_env: Path) -> None:
    if not AIDER.exists():
        pytest.skip("aider not installed: run .ci/run (it installs the pinned aider-chat into .ci/aider-venv)")
    assert agitlog("hooks", "install", cwd=repo).returncode == 0
    model = FakeModel().start()
    model.script = aider_script()
    env = {"PATH": "/usr/bin:/bin", "OPENAI_API_KEY": "sk-test-aider", "OPENAI_BASE_URL": f"{model.url}/v1",
           "OPENAI_API_BASE": f"{model.url}/v1"}
    flags = ["--model", "openai/fake-1", "--edit-format", "whole", "--yes-always", "--no-check-update",
             "--no-analytics", "--no-show-model-warnings", "--no-pretty", "--no-stream", "--no-gitignore"]
    try:
        first = agitlog("run", "--", str(AIDER), *flags, "--message", "add notes", "notes.txt", cwd=repo, env=env)
        second = agitlog("run", "--", str(AIDER), *flags, "--message", "greet the world", "notes.txt",
                         cwd=repo, env=env)
        answers = list(model.answers)
    finally:
        model.close()
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert (repo / "notes.txt").read_text() == "hello world\n"
    events = agitlog_json("show", cwd=repo)["events"]
    assert [e["data"]["prompt"] for e in events if e["type"] == "user.prompt"] == ["greet the world"]
    responses = [e["data"]["text"] for e in events if e["type"] == "llm.response"]
    assert responses and set(responses) <= set(answers)  # through the proxy
    [commit] = [e for e in events if e["type"] == "git.commit"]
    assert commit["data"]["commit"] == git(repo, "rev-parse", "HEAD").strip()
    assert git(repo, "show", f"{commit['data']['commit']}:notes.txt") == "hello world\n"
    session = agitlog_json("show", cwd=repo)["session"]["id"]
    assert commit["data"]["linked"] is True  # aider's commits run prepare-commit-msg: the trailer is there
    assert f"Agent-Session: {session}" in git(repo, "log", "-1", "--format=%B")
    transcripts = [e["data"]["path"] for e in events if e["type"] == "agent.transcript"]
    assert any(p.endswith(".aider.chat.history.md") for p in transcripts) and len(transcripts) == 2
    assert agitlog_json("show", cwd=repo)["session"]["adapter"]["name"] == "aider"


def test_chat_history_prompts() -> None:
    markdown = "# aider chat started at 2026-11-30\n\n#### add notes\n#### and tests\n\nok\n\n#### next\n"
    assert adapter.chat_prompts(markdown) == ["add notes\nand tests", "next"]
