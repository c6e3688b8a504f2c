"""Codex CLI (the real CLI, pinned in .ci/run) under `agitlog run` with no user configuration: its
model traffic goes through the recording proxy (passed as -c provider overrides for this run), the
turn's prompt and end are recorded, the rollout is attached; `agitlog import codex` turns the same
rollout into a session, idempotently.

Codex's PreToolUse/PostToolUse hooks, added for the run when no one else's hooks exist, make each
tool call that changed files its own step, linked to the tool call and the llm.response that asked
for it; otherwise a turn's changes become a step at the next model call (the proxy snapshots there)."""
from __future__ import annotations

import json
import os
from pathlib import Path

from agentkit import agent_cli
from fakemodel import FakeModel, codex_script

from agitlog.capture.adapters import codex as adapter
from helpers import agitlog, agitlog_json, git


def _env(fake: FakeModel) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "OPENAI_API_KEY": "sk-test-codex", "OPENAI_BASE_URL": f"{fake.url}/v1"}


def test_codex_exec_is_recorded_without_configuration(repo: Path, isolated_env: Path) -> None:
    codex = agent_cli("codex")
    assert agitlog("hooks", "install", cwd=repo).returncode == 0
    fake = FakeModel().start()
    fake.script = codex_script()
    try:  # -m: a model Codex does not know gets its plain tool set (exec_command), not its JavaScript one
        proc = agitlog("run", "--", str(codex), "-m", "fake-1", "exec", "--dangerously-bypass-approvals-and-sandbox",
                       "make notes", cwd=repo, env=_env(fake))
        answers = list(fake.answers)
    finally:
        fake.close()
    assert proc.returncode == 0, proc.stderr
    events = agitlog_json("show", cwd=repo)["events"]
    responses = [e for e in events if e["type"] == "llm.response"]
    assert len(responses) == len(answers) == 5 and responses[0]["data"]["api"] == "responses"  # through the proxy
    calls = [r["data"]["tool_calls"][0]["arguments"]["cmd"] for r in responses[:4]]
    assert calls == [step["input"]["cmd"] for step in codex_script()]
    # each command is its own step, taken when its PostToolUse hook ran, before the next model call
    requests = [e for e in events if e["type"] == "llm.request"]
    after = [r["commit"] for r in requests[1:4]]
    assert git(repo, "show", f"{after[0]}:notes.txt") == "hello\n"
    assert git(repo, "show", f"{after[1]}:lines.txt") == "1 notes.txt\n"
    assert git(repo, "show", f"{after[2]}:notes.txt") == "hello world\n"
    results = [e for e in events if e["type"] == "tool.result"]
    assert len(results) == 4
    for response, result, commit in zip(responses, results, after):  # linked to the call and its response
        assert result["data"]["call_id"] == response["data"]["tool_calls"][0]["id"]
        assert result["data"]["llm_response_seq"] == response["seq"]
        assert f"Agitlog-Event: {result['seq']}" in git(repo, "log", "-1", "--format=%B", commit)
    assert [e["data"]["prompt"] for e in events if e["type"] == "user.prompt"] == ["make notes"]
    [made] = [e for e in events if e["type"] == "git.commit"]
    session = agitlog_json("show", cwd=repo)["session"]["id"]
    assert made["data"]["linked"] is True and f"Agent-Session: {session}" in git(repo, "log", "-1", "--format=%B")
    [rollout] = [e for e in events if e["type"] == "agent.transcript"]
    assert rollout["data"]["agent"] == "codex" and rollout["data"]["path"].startswith(str(isolated_env / ".codex"))
    assert not (isolated_env / ".codex" / "config.toml").exists()  # no configuration written

    [imported] = json.loads(agitlog("import", "codex", "--json", cwd=repo).stdout)["sessions"]
    assert imported["status"] == "imported"
    shown = agitlog_json("show", imported["session_id"], cwd=repo)
    kinds = [e["type"] for e in shown["events"]]
    assert kinds[0] == "agent.session" and "user.prompt" in kinds and "agent.stop" in kinds
    imported_calls = [e["data"] for e in shown["events"] if e["type"] == "tool.call"]
    assert [json.loads(c["arguments"])["cmd"] for c in imported_calls] == calls
    assert [c["call_id"] for c in imported_calls] == [r["data"]["tool_calls"][0]["id"] for r in responses[:4]]
    assert shown["session"]["import"]["agent_version"] == "0.171.0"
    again = json.loads(agitlog("import", "codex", "--json", cwd=repo).stdout)["sessions"]
    assert [s["status"] for s in again] == ["unchanged"]


# the second command of the turn waits (60 s at most) until the first one's tool.result is in the journal,
# which is written after its step's snapshot: the order of the two steps is then fixed, not timed
SECOND = ("for i in $(seq 600); do grep -h '\"tool.result\"' .git/agitlog/journal/*/events.jsonl 2>/dev/null"
          " | grep -q 'printf one' && break; sleep 0.1; done; printf two > two.txt")


def test_codex_tool_calls_of_one_turn_are_separate_steps(repo: Path, isolated_env: Path) -> None:
    codex = agent_cli("codex")
    # one model turn asks for two commands, which Codex runs at the same time; the second waits until
    # the first one's PostToolUse snapshot is taken, so that snapshot sees only the first's file
    fake = FakeModel().start()
    fake.script = [{"name": "exec_command", "input": {"cmd": "printf one > one.txt"}, "together": 2},
                   {"name": "exec_command", "input": {"cmd": SECOND}},
                   {"name": "exec_command", "input": {"cmd": "printf three > three.txt"}}]
    try:
        proc = agitlog("run", "--", str(codex), "-m", "fake-1", "exec", "--dangerously-bypass-approvals-and-sandbox",
                       "make files", cwd=repo, env=_env(fake))
    finally:
        fake.close()
    assert proc.returncode == 0, proc.stderr
    events = agitlog_json("show", cwd=repo)["events"]
    first_turn = next(e for e in events if e["type"] == "llm.response" and len(e["data"]["tool_calls"]) == 2)
    results = {e["data"]["arguments"]["command"]: e for e in events if e["type"] == "tool.result"}
    one, two = results["printf one > one.txt"], results[SECOND]
    for result, call in zip((one, two), first_turn["data"]["tool_calls"]):
        assert result["data"]["call_id"] == call["id"] and result["data"]["llm_response_seq"] == first_turn["seq"]
    # the two calls of one model turn are two steps: one.txt's step does not hold two.txt yet
    files = {name: git(repo, "ls-tree", "--name-only", results[name]["commit"]).split() for name in results}
    assert "one.txt" in files["printf one > one.txt"] and "two.txt" not in files["printf one > one.txt"]
    assert "two.txt" in files[SECOND] and one["step"] < two["step"]
    three = results["printf three > three.txt"]
    assert f"Agitlog-Event: {three['seq']}" in git(repo, "log", "-1", "--format=%B", three["commit"])
    assert {e["data"]["call_id"] for e in events if e["type"] == "tool.call"} \
        == {r["data"]["call_id"] for r in results.values()}


def test_provider_override_only_with_an_api_key_and_no_provider_of_the_users(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "OPENAI_BASE_URL": "http://127.0.0.1:9/openai", "OPENAI_API_KEY": "k"}
    argv = adapter.ADAPTER.prepare(["codex", "exec", "hi"], hook_command="py -m agitlog hook codex", env=env).command
    assert argv[0] == "codex" and argv[-2:] == ["exec", "hi"]
    assert "model_provider=agitlog" in argv
    assert any(a.startswith("model_providers.agitlog=") and "http://127.0.0.1:9/openai" in a for a in argv)
    assert 'notify=["py", "-m", "agitlog", "hook", "codex"]' in argv
    assert adapter.BYPASS_HOOK_TRUST in argv and any(a.startswith("hooks.PostToolUse=") for a in argv)
    no_key = adapter.ADAPTER.prepare(["codex"], hook_command="h", env={k: v for k, v in env.items()
                                                                       if k != "OPENAI_API_KEY"}).command
    assert not any("model_provider" in a for a in no_key)  # a ChatGPT sign-in is left alone
    (tmp_path / ".codex").mkdir()
    (tmp_path / ".codex" / "config.toml").write_text('notify = ["my-notifier"]\nmodel_provider = "azure"\n')
    theirs = adapter.ADAPTER.prepare(["codex"], hook_command="h", env=env).command
    assert theirs[:1] == ["codex"] and not any("model_provider" in a or "notify" in a for a in theirs)
    (tmp_path / ".codex" / "hooks.json").write_text('{"hooks": {}}')  # their own hooks: no trust bypass from us
    assert adapter.ADAPTER.prepare(["codex"], hook_command="h", env=env).command == ["codex"]


def test_notify_payload_becomes_turn_events() -> None:
    payload = {"type": "agent-turn-complete", "thread-id": "t", "turn-id": "u", "input-messages": ["fix it"],
               "last-assistant-message": "done"}
    prompt, stop = adapter.hook_drafts(payload, os.environ)
    assert prompt.draft["data"]["prompt"] == "fix it" and not prompt.snapshot
    assert stop.draft["type"] == "agent.stop" and stop.snapshot and stop.draft["data"]["turn_id"] == "u"
