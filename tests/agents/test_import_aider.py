"""`agitlog import aider`: the history the real aider (from PyPI, pinned in .ci/run) wrote without
agitlog, against the fake model, becomes one session per start of aider; its commits are linked and
the steps hold exactly what they committed; importing again changes nothing; a history being
written is imported up to its last complete line."""
from __future__ import annotations

import json
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest
from fakemodel import FakeModel, aider_script

from agitlog.capture.importers import aider as importer
from helpers import agitlog, agitlog_json, git

AIDER = Path(__file__).resolve().parents[2] / ".ci" / "aider-venv" / "bin" / "aider"
FLAGS = ["--model", "openai/fake-1", "--edit-format", "whole", "--yes-always", "--no-check-update", "--no-analytics",
         "--no-show-model-warnings", "--no-pretty", "--no-stream", "--no-gitignore"]


def _aider(repo: Path, model: FakeModel, message: str, *extra: str) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(repo.parent / "home"), "OPENAI_API_KEY": "sk-test-aider",
           "OPENAI_API_BASE": f"{model.url}/v1", "GIT_CONFIG_GLOBAL": str(repo.parent / "home" / ".gitconfig"),
           "GIT_CONFIG_NOSYSTEM": "1"}
    proc = subprocess.run([str(AIDER), *FLAGS, *extra, "--message", message, "notes.txt"], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _imported(repo: Path) -> list[dict]:
    proc = agitlog("import", "aider", "--json", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["sessions"]


def _local(text: str) -> str:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f").astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_import_aider_history(repo: Path, isolated_env: Path) -> None:
    if not AIDER.exists():
        pytest.skip("aider not installed: run .ci/run (it installs the pinned aider-chat into .ci/aider-venv)")
    (repo.parent / "home").mkdir()
    (repo.parent / "home" / ".gitconfig").write_text((isolated_env / ".gitconfig").read_text())
    model = FakeModel().start()
    model.script = aider_script()
    try:  # the first start keeps an LLM history too (aider's default does not)
        _aider(repo, model, "add notes", "--llm-history-file", ".aider.llm.history")
        _aider(repo, model, "greet the world")
    finally:
        model.close()
    aider_commits = git(repo, "log", "--format=%H %cn %(trailers:key=Co-authored-by,valueonly)", "HEAD", "^HEAD~3"
                        ).replace(">\n\n", ">\n").split("\n")[:-1]  # the dirty commit (committer "... (aider)"), then two edits (trailer)
    assert len(aider_commits) == 3 and all("(aider)" in c or "aider@aider.chat" in c for c in aider_commits)

    first = _imported(repo)
    assert [s["status"] for s in first] == ["imported", "imported"]
    one, two = (agitlog_json("show", s["session_id"], cwd=repo) for s in first)
    assert one["session"]["agent"] == "aider" and one["session"]["import"]["agent_version"] == "0.86.2"
    assert one["prompt"] == "add notes"  # what the user typed, not the example exchange aider's requests start with

    # the prompt at the time the input history gives it; the model call at the LLM history's times
    inputs = (repo / ".aider.input.history").read_text().split("\n")
    [prompt] = [e for e in one["events"] if e["type"] == "user.prompt"]
    assert prompt["data"]["prompt"] == "add notes" and prompt["ts"] == _local(inputs[1][2:])
    [request] = [e for e in one["events"] if e["type"] == "llm.request"]
    assert request["data"]["messages"][-1]["role"] == "user" and request["data"]["messages"][-1]["content"]\
        .startswith("add notes")
    [answer] = [e for e in one["events"] if e["type"] == "llm.response"]
    assert answer["data"]["text"] == "notes.txt\n```\nhello\n```" and answer["data"]["ts_from"] == "llm-history"
    assert [e["data"]["path"] for e in one["events"] if e["type"] == "tool.result"] == ["notes.txt"]

    # aider's commits linked, in order; each step holds exactly what that commit committed
    commits = [e for session in (one, two) for e in session["events"] if e["type"] == "git.commit"]
    assert [c["data"]["commit"] for c in commits] == [line.split()[0] for line in reversed(aider_commits)]
    assert all(c["data"]["by_aider"] and c["data"]["found_in"] == "chat-history" for c in commits)
    for event in commits:
        step = event["commit"]  # the step the event was recorded in: the one the commit's changes made
        assert git(repo, "show", f"{step}:notes.txt") == git(repo, "show", f"{event['data']['commit']}:notes.txt")
        assert "Agitlog-Reconstructed: true" in git(repo, "log", "-1", "--format=%B", step)
    assert git(repo, "show", f"{two['session']['steps']['last']}:notes.txt") == "hello world\n"
    [prompt_two] = [e for e in two["events"] if e["type"] == "user.prompt"]
    assert prompt_two["data"]["prompt"] == "greet the world" and prompt_two["data"]["ts_from"] == "input-history"
    assert not [e for e in two["events"] if e["type"] == "llm.request"]  # no LLM history for that start

    assert [s["status"] for s in _imported(repo)] == ["unchanged", "unchanged"]

    # aider starts again and is writing its history right now: imported up to the last complete line
    chat = repo / ".aider.chat.history.md"
    with open(chat, "a") as handle:
        handle.write("\n# aider chat started at 2099-01-01 10:00:00\n\n#### half writ")
    third = _imported(repo)
    assert [s["status"] for s in third] == ["unchanged", "unchanged", "imported"] and third[2]["partial"]
    with open(chat, "a") as handle:
        handle.write("ten  \n")
    again = _imported(repo)
    assert [s["status"] for s in again] == ["unchanged", "unchanged", "updated"] and not again[2]["partial"]
    shown = agitlog_json("show", again[2]["session_id"], cwd=repo)
    assert [e["data"]["prompt"] for e in shown["events"] if e["type"] == "user.prompt"] == ["half written"]


def test_history_files_follow_aiders_settings(tmp_path: Path) -> None:
    root, home = tmp_path / "repo", tmp_path / "home"
    root.mkdir(), home.mkdir()
    assert importer.history_files(root, home=home, env={}).chat == root / ".aider.chat.history.md"
    (home / ".aider.conf.yml").write_text("chat-history-file: ~/all-chats.md\nllm-history-file: 'llm.log'  # mine\n")
    files = importer.history_files(root, home=home, env={})
    assert files.chat == home / "all-chats.md" and files.llm == root / "llm.log"
    (root / ".aider.conf.yml").write_text("chat-history-file: logs/chat.md\n")
    assert importer.history_files(root, home=home, env={}).chat == root / "logs" / "chat.md"
    (root / ".env").write_text("export AIDER_INPUT_HISTORY_FILE=\"logs/input\"\n")
    assert importer.history_files(root, home=home, env={}).input == root / "logs" / "input"
    env = {"AIDER_CHAT_HISTORY_FILE": "/elsewhere/chat.md"}
    assert importer.history_files(root, home=home, env=env).chat == Path("/elsewhere/chat.md")


def test_chat_entries_keep_multiline_prompts_and_outputs() -> None:
    lines = ["", "> Aider v0.86.2  ", "#### fix it  ", "#### and test it  ", "", "Sure.", "", "more", "",
             "> Commit abc1234 a message", "spanning lines  ", "> Applied edit to a.py  "]
    assert importer.chat_entries(lines) == [
        ("output", "Aider v0.86.2"), ("prompt", "fix it\nand test it"), ("answer", "Sure.\n\nmore"),
        ("output", "Commit abc1234 a message\nspanning lines"), ("output", "Applied edit to a.py")]


def test_a_history_aider_did_not_write_is_refused_naming_the_version(repo: Path, isolated_env: Path) -> None:
    (repo / ".aider.chat.history.md").write_text("something else\n> Aider v9.1.0  \n")
    proc = agitlog("import", "aider", cwd=repo)
    assert proc.returncode == 1
    assert "aider 9.1.0" in proc.stderr and "tested: 0.86.2" in proc.stderr
    assert agitlog_json("log", cwd=repo) == []


def test_a_history_date_that_is_no_date_is_refused(repo: Path, isolated_env: Path) -> None:
    (repo / ".aider.chat.history.md").write_text("\n# aider chat started at 2026-13-45 10:00:00\n\n> Aider v0.86.2  \n")
    proc = agitlog("import", "aider", cwd=repo)
    assert proc.returncode == 1 and "aider 0.86.2" in proc.stderr


def test_a_shared_history_file_gives_only_the_chats_that_name_this_repositorys_commits(
        repo: Path, isolated_env: Path, tmp_path: Path) -> None:
    ours = git(repo, "rev-parse", "HEAD").strip()
    shared = tmp_path / "all-chats.md"
    shared.write_text("\n# aider chat started at 2026-11-01 09:00:00\n\n#### elsewhere  \n\nok\n\n"
                      "\n# aider chat started at 2026-11-02 09:00:00\n\n#### here  \n\ndone\n\n"
                      f"> Commit {ours[:7]} initial  \n")
    proc = agitlog("import", "aider", "--json", cwd=repo, env={"AIDER_CHAT_HISTORY_FILE": str(shared)})
    assert proc.returncode == 0, proc.stderr
    [session] = json.loads(proc.stdout)["sessions"]
    shown = agitlog_json("show", session["session_id"], cwd=repo)
    assert shown["prompt"] == "here"
    [commit] = [e for e in shown["events"] if e["type"] == "git.commit"]
    assert commit["data"]["commit"] == ours and commit["data"]["by_aider"] is False
