"""Claude Code (the real CLI, pinned in .ci/run) under `agitlog run`, against a scripted fake model:
each tool call that changed files is its own step commit, linked to its tool_use_id and to the
llm.response that asked for it; the prompt, the agent's own commit (with its trailer) and the
transcript are part of the session. Once in print mode, once interactively in a pty."""
from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import signal
import struct
import termios
import time
from pathlib import Path

from agentkit import agent_cli, claude_env
from fakemodel import FakeModel

from agitlog.capture.adapters import claude as adapter
from helpers import AGITLOG, agitlog, agitlog_json, git

PROMPT = "make notes"


def _events(repo: Path) -> list[dict]:
    return agitlog_json("show", cwd=repo)["events"]


def _file_at(repo: Path, commit: str, path: str) -> str | None:
    return git(repo, "show", f"{commit}:{path}", check=False) or None


def _check_recorded_task(repo: Path, model: FakeModel) -> None:
    events = _events(repo)
    by_type = lambda kind: [e for e in events if e["type"] == kind]  # noqa: E731
    assert [e["data"]["prompt"] for e in by_type("user.prompt")] == [PROMPT]
    results = by_type("tool.result")
    assert [e["data"]["tool"] for e in results] == ["Write", "Bash", "Edit", "Bash"]
    sent_ids = [b["id"] for body in model.sent for b in _tool_uses(body)]
    assert [e["data"]["call_id"] for e in results] == sent_ids
    responses = {e["seq"]: e for e in by_type("llm.response")}
    for result in results:  # the step's tool call leads back to the model turn that asked for it
        asked = responses[result["data"]["llm_response_seq"]]
        assert result["data"]["call_id"] in [c["id"] for c in asked["data"]["tool_calls"]]
    write, bash, edit, commit = results
    assert len({write["step"], bash["step"], edit["step"]}) == 3 and write["step"] > 0
    assert _file_at(repo, write["commit"], "notes.txt") == "hello\n"
    assert _file_at(repo, write["commit"], "lines.txt") is None
    assert _file_at(repo, bash["commit"], "lines.txt") == "1 notes.txt\n"
    assert _file_at(repo, edit["commit"], "notes.txt") == "hello world\n"
    assert commit["step"] == edit["step"]  # committing changed no file
    session = agitlog_json("show", cwd=repo)["session"]["id"]
    [made] = by_type("git.commit")
    assert made["data"]["commit"] == git(repo, "rev-parse", "HEAD").strip()
    assert made["data"]["message"] == "Add notes" and made["data"]["linked"] is True
    assert f"Agent-Session: {session}" in git(repo, "log", "-1", "--format=%B")
    [start] = by_type("agent.session")
    [transcript] = by_type("agent.transcript")
    assert transcript["data"]["path"] == start["data"]["transcript_path"] and transcript["data"]["body_ref"]


def _tool_uses(body: bytes) -> list[dict]:
    """tool_use blocks of one streamed Anthropic answer, as the fake model sent it."""
    blocks = []
    for line in body.decode().splitlines():
        if line.startswith("data: ") and '"content_block_start"' in line:
            block = json.loads(line[6:])["content_block"]
            if block["type"] == "tool_use":
                blocks.append(block)
    return blocks


def test_print_mode_records_each_tool_call_as_its_step(repo: Path, coding_model: FakeModel,
                                                       isolated_env: Path) -> None:
    claude = agent_cli("claude")
    assert agitlog("hooks", "install", cwd=repo).returncode == 0  # the trailer needs the user's hooks
    env = claude_env(coding_model, isolated_env, repo)
    marker = repo.parent / "user-hook-ran"
    user_settings = isolated_env / ".claude" / "settings.json"
    user_settings.parent.mkdir()
    user_settings.write_text(json.dumps({"hooks": {"Stop": [{"hooks": [
        {"type": "command", "command": f"touch {marker}"}]}]}}))
    proc = agitlog("run", "--", str(claude), "-p", PROMPT, "--dangerously-skip-permissions", cwd=repo, env=env)
    assert proc.returncode == 0, proc.stderr
    _check_recorded_task(repo, coding_model)
    meta = agitlog_json("show", cwd=repo)["session"]
    assert meta["adapter"]["name"] == "claude"
    shown = agitlog("show", cwd=repo).stdout  # as a person reads it: the prompt and the commit in words
    assert any("user.prompt" in line and line.rstrip().endswith(PROMPT) for line in shown.splitlines())
    assert any("git.commit" in line and line.rstrip().endswith("Add notes") for line in shown.splitlines())
    assert marker.exists()  # the user's own hooks still run ...
    assert "agitlog" not in user_settings.read_text()  # ... and their settings file is not edited


def test_adapter_none_records_only_the_model_calls(repo: Path, coding_model: FakeModel, isolated_env: Path) -> None:
    claude = agent_cli("claude")
    env = claude_env(coding_model, isolated_env, repo)
    proc = agitlog("run", "--adapter", "none", "--", str(claude), "-p", PROMPT, "--dangerously-skip-permissions",
                   cwd=repo, env=env)
    assert proc.returncode == 0, proc.stderr
    kinds = {e["type"] for e in _events(repo)}
    assert "llm.response" in kinds and not kinds & {"tool.result", "user.prompt", "agent.session"}


def test_interactive_tui_in_a_pty(repo: Path, coding_model: FakeModel, isolated_env: Path) -> None:
    claude = agent_cli("claude")
    assert agitlog("hooks", "install", cwd=repo).returncode == 0
    env = {**os.environ, **claude_env(coding_model, isolated_env, repo)}
    pid, fd = pty.fork()
    if pid == 0:  # the child: agitlog run, as typed in a terminal
        os.chdir(repo)
        os.execve(AGITLOG, [AGITLOG, "run", "--", str(claude), "--dangerously-skip-permissions"], env)
    screen = _Screen(fd)
    _resize(fd, pid, rows=40, cols=120)
    screen.wait_for(b"permissions")  # the TUI is up (words are drawn apart: cursor moves between them)
    os.write(fd, PROMPT.encode())
    screen.wait_for(b"notes")
    os.write(fd, b"\r")
    status: int | None = None
    try:
        deadline = time.monotonic() + 60
        while not any("fake model" in a for a in coding_model.answers) and time.monotonic() < deadline:
            screen.read(0.2)  # until the task's last model turn (the final answer) was sent
        _resize(fd, pid, rows=30, cols=100)  # a resized terminal reaches the agent, which keeps going
        screen.wait_for(b"token")  # the final answer on screen: the turn is over
        for _ in range(5):  # Ctrl-C twice is Claude Code's own way out
            os.write(fd, b"\x03")
            screen.read(0.2)
            os.write(fd, b"\x03")
            if (status := _wait_exit(pid, screen, 5)) is not None:
                break
    finally:
        if status is None:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, screen.text[-2000:]
    _check_recorded_task(repo, coding_model)


class _Screen:
    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.data = b""

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", "replace")

    def read(self, seconds: float) -> bool:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            ready, _, _ = select.select([self.fd], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(self.fd, 65536)
                except OSError:
                    return False
                if not chunk:
                    return False
                self.data += chunk
        return True

    def wait_for(self, needle: bytes, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.data and time.monotonic() < deadline:
            if not self.read(0.1):
                break
        assert needle in self.data, self.text[-2000:]

    def read_to_end(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.read(0.1):
            pass


def _wait_exit(pid: int, screen: _Screen, seconds: float) -> int | None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        screen.read(0.1)
    return None


def _resize(fd: int, pid: int, *, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    os.kill(pid, signal.SIGWINCH)


# --- the adapter's pieces ---------------------------------------------------------------------------

def test_user_settings_keep_their_hooks_and_ours_are_added(tmp_path: Path) -> None:
    mine = {"hooks": {"Stop": [{"hooks": [{"type": "command", "command": "notify-send done"}]}]}, "model": "x"}
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(mine))
    prepared = adapter.ADAPTER.prepare(["claude", "--settings", str(path), "-p", "hi"], hook_command="H")
    assert prepared.command[:2] == ["claude", "--settings"] and prepared.command[3:] == ["-p", "hi"]
    settings = json.loads(prepared.command[2])
    assert settings["model"] == "x"
    assert [h["hooks"][0]["command"] for h in settings["hooks"]["Stop"]] == ["notify-send done", "H"]
    assert set(settings["hooks"]) == set(adapter.HOOK_EVENTS)
    assert settings["hooks"]["PostToolUse"][0]["matcher"] == "*"


def test_hook_payloads_become_events() -> None:
    env = {"AGITLOG_SPAN": "00f067aa0ba902b7"}
    post = {"session_id": "s", "hook_event_name": "PostToolUse", "tool_name": "Write", "tool_use_id": "toolu_1",
            "tool_input": {"file_path": "/r/a"}, "tool_response": {"type": "create"}, "new_field": 1}
    [item] = adapter.hook_drafts(post, env)
    assert item.snapshot and item.draft["type"] == "tool.result"
    assert item.draft["data"] == {"tool": "Write", "call_id": "toolu_1", "ok": True, "result": {"type": "create"},
                                  "extra": {"new_field": 1}}
    inside = adapter.hook_drafts({**post, "hook_event_name": "PreToolUse", "agent_id": "a1", "agent_type": "Explore"},
                                 env)[0]
    assert not inside.snapshot and inside.draft["agent"] == "claude/Explore"
    assert inside.draft["parent_span"] == "00f067aa0ba902b7" and len(inside.draft["span"]) == 16
    stop = adapter.hook_drafts({"hook_event_name": "SubagentStop", "agent_id": "a1", "agent_type": "Explore"}, env)[0]
    assert stop.draft["type"] == "span.end" and stop.draft["span"] == inside.draft["span"]
    unknown = adapter.hook_drafts({"hook_event_name": "PreCompact", "trigger": "auto"}, env)[0]
    assert unknown.draft == {"type": "claude.pre_compact", "data": {"hook_event_name": "PreCompact", "trigger": "auto"}}


def test_subagents_are_child_spans_and_their_transcripts_are_imported(repo: Path, isolated_env: Path) -> None:
    from fakemodel import subagent_script

    claude = agent_cli("claude")
    model = FakeModel().start()
    model.script = subagent_script(str(repo))
    try:
        env = claude_env(model, isolated_env, repo)
        proc = agitlog("run", "--", str(claude), "-p", "delegate", "--dangerously-skip-permissions", cwd=repo,
                       env=env)
    finally:
        model.close()
    assert proc.returncode == 0, proc.stderr
    events = _events(repo)
    root = events[0]["span"]
    [start] = [e for e in events if e["type"] == "span.start"]
    [end] = [e for e in events if e["type"] == "span.end"]
    assert start["parent_span"] == root and start["span"] == end["span"] != root
    [write] = [e for e in events if e["type"] == "tool.result" and e["data"]["tool"] == "Write"]
    assert write["span"] == start["span"] and write["agent"] == "claude/general-purpose"
    assert _file_at(repo, write["commit"], "sub.txt") == "from the subagent\n"
    transcripts = [e["data"]["path"] for e in events if e["type"] == "agent.transcript"]
    assert len(transcripts) == 2 and any("/subagents/" in p for p in transcripts)

    imported = json.loads(agitlog("import", "claude", "--json", cwd=repo).stdout)["sessions"]
    [session] = [s for s in imported if s["status"] == "imported"]
    events = agitlog_json("show", session["session_id"], cwd=repo)["events"]
    [write] = [e for e in events if e["type"] == "tool.result" and e["data"]["tool"] == "Write"]
    assert write["agent"].startswith("claude/") and write["span"] != events[0]["span"]
    assert _file_at(repo, write["commit"], "sub.txt") == "from the subagent\n"
