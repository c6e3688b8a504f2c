"""`agitlog import claude`: transcripts the real Claude Code wrote (run without agitlog) become
sessions with the prompt, model turns, tool calls and reconstructed steps whose trees hold the files
the agent wrote; importing again is a no-op; a transcript still being written is imported up to its
last complete line."""
from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from agentkit import agent_cli, claude_env
from fakemodel import FakeModel

from agitlog.capture.importers.claude import project_name
from helpers import agitlog, agitlog_json, git


def _run_claude_without_agitlog(repo: Path, model: FakeModel, home: Path) -> Path:
    claude = agent_cli("claude")
    env = {**os.environ, **claude_env(model, home, repo)}
    # HEAD's reflog counts whole seconds: start in a later second than the repository's first
    # commit, as a person would, so "the commit HEAD was on then" is not a coin toss with the
    # commit the (instant) fake model makes the agent write in that same second.
    time.sleep(1.05)
    subprocess.run([str(claude), "-p", "make notes", "--dangerously-skip-permissions"], cwd=repo, env=env,
                   check=True, capture_output=True, timeout=120)
    [transcript] = (home / ".claude" / "projects" / project_name(repo.resolve())).glob("*.jsonl")
    return transcript


def _import(repo: Path, *args: str) -> list[dict]:
    proc = agitlog("import", "claude", *args, "--json", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["sessions"]


def test_import_recreates_the_session_with_reconstructed_steps(repo: Path, coding_model: FakeModel,
                                                               isolated_env: Path) -> None:
    base = git(repo, "rev-parse", "HEAD").strip()
    transcript = _run_claude_without_agitlog(repo, coding_model, isolated_env)
    [imported] = _import(repo)
    assert imported["status"] == "imported" and imported["steps"] == 3  # step 0, Write, Edit
    shown = agitlog_json("show", imported["session_id"], cwd=repo)
    events = shown["events"]
    assert [e["data"]["prompt"] for e in events if e["type"] == "user.prompt"] == ["make notes"]
    results = [e for e in events if e["type"] == "tool.result"]
    assert [e["data"]["tool"] for e in results] == ["Write", "Bash", "Edit", "Bash"]
    lines = [json.loads(line) for line in transcript.read_text().splitlines()]
    first_prompt = next(r for r in lines if r.get("type") == "user")
    assert events[0]["ts"].startswith(first_prompt["timestamp"][:23])  # original timestamps
    write, _, edit, _ = results
    assert git(repo, "show", f"{write['commit']}:notes.txt") == "hello\n"
    assert git(repo, "show", f"{edit['commit']}:notes.txt") == "hello world\n"
    step0 = git(repo, "rev-list", "--reverse", edit["commit"]).split()[1]
    assert git(repo, "rev-parse", f"{step0}^").strip() == base  # on the commit that was HEAD then
    assert "Agitlog-Reconstructed: true" in git(repo, "log", "-1", "--format=%B", write["commit"])
    for result in (write, edit):
        response = events[result["data"]["llm_response_seq"]]
        assert result["data"]["call_id"] in [c["id"] for c in response["data"]["tool_calls"]]
    meta = shown["session"]
    assert meta["import"]["reconstructed"] is True and meta["import"]["agent_version"] == "2.1.332"
    assert meta["git"]["base_commit"] == base

    assert [s["status"] for s in _import(repo)] == ["unchanged"]  # idempotent
    assert len(agitlog_json("log", cwd=repo)) == 1


def test_transcript_being_written_is_imported_up_to_its_last_complete_line(repo: Path, isolated_env: Path) -> None:
    directory = isolated_env / ".claude" / "projects" / project_name(repo.resolve())
    directory.mkdir(parents=True)
    path = directory / "5e55-1on.jsonl"
    prompt = {"type": "user", "sessionId": "5e55-1on", "cwd": str(repo), "version": "2.1.332",
              "timestamp": "2026-11-29T10:00:00.000Z", "message": {"role": "user", "content": "add a file"}}
    write = {"type": "assistant", "sessionId": "5e55-1on", "timestamp": "2026-11-29T10:00:01.000Z",
             "message": {"id": "msg_1", "model": "m", "role": "assistant", "content": [
                 {"type": "tool_use", "id": "toolu_1", "name": "Write",
                  "input": {"file_path": str(repo / "new.txt"), "content": "new\n"}}]}}
    result = {"type": "user", "sessionId": "5e55-1on", "timestamp": "2026-11-29T10:00:02.000Z",
              "message": {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
                                                       "content": "ok"}]}}
    odd = {"type": "brand-new-kind", "sessionId": "5e55-1on", "timestamp": "2026-11-29T10:00:03.000Z", "x": 1}
    full = "".join(json.dumps(r) + "\n" for r in (prompt, write, result, odd))
    path.write_text(full[: full.index('"type": "tool_result"')])  # cut mid-line: still being written
    [first] = _import(repo)
    assert first["status"] == "imported" and first["partial"] is True and first["steps"] == 1
    path.write_text(full)
    [second] = _import(repo)
    assert second["status"] == "updated" and second["session_id"] == first["session_id"] and second["steps"] == 2
    events = agitlog_json("show", second["session_id"], cwd=repo)["events"]
    assert events[-1]["type"] == "claude.unknown" and events[-1]["data"]["record"]["x"] == 1  # kept as is
    assert git(repo, "show", f"{events[-2]['commit']}:new.txt") == "new\n"
    assert [s["status"] for s in _import(repo)] == ["unchanged"]


def test_a_format_not_understood_names_the_version(repo: Path, isolated_env: Path) -> None:
    directory = isolated_env / ".claude" / "projects" / project_name(repo.resolve())
    directory.mkdir(parents=True)
    (directory / "future.jsonl").write_text(json.dumps({"kind": "turn", "version": "9.0.0"}) + "\n")
    proc = agitlog("import", "claude", cwd=repo)
    assert proc.returncode == 1 and "Claude Code 9.0.0" in proc.stderr and "2.1.332" in proc.stderr


@pytest.mark.parametrize("since, expected", [("30d", 1), ("1h", 0)])
def test_since_skips_older_transcripts(repo: Path, isolated_env: Path, since: str, expected: int) -> None:
    directory = isolated_env / ".claude" / "projects" / project_name(repo.resolve())
    directory.mkdir(parents=True)
    path = directory / "old.jsonl"
    path.write_text(json.dumps({"type": "user", "sessionId": "old", "timestamp": "2026-11-20T10:00:00.000Z",
                                "message": {"role": "user", "content": "hi"}}) + "\n")
    old = path.stat().st_mtime - 2 * 86400
    os.utime(path, (old, old))
    assert len(_import(repo, "--since", since)) == expected
