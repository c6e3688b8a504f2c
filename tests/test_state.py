"""`agitlog state --at N`: what the agent knew at event N; and the prompt shapes it reads."""
from __future__ import annotations

from pathlib import Path

from helpers import agitlog, agitlog_json, run_python_agent
from replay_agents import MULTI_AGENT

from agitlog.query.prompts import normalize_request


def _seq(events: list[dict], kind: str, **data: object) -> int:
    return next(e["seq"] for e in events if e["type"] == kind and all(e["data"].get(k) == v for k, v in data.items()))


def test_state_in_the_middle_of_the_coder_span(repo: Path) -> None:
    assert run_python_agent(repo, MULTI_AGENT).returncode == 0
    events = agitlog_json("show", cwd=repo)["events"]
    second_state = [e for e in events if e["type"] == "state"][1]["seq"]
    data = agitlog_json("state", "--at", str(second_state), cwd=repo)
    assert data["seq"] == second_state and data["agent"] == "coder"
    prompt = data["prompt"]
    assert prompt["model"] == "claude-fake" and prompt["system"] == "You write code."
    assert prompt["messages"] == [{"role": "user", "text": "Apply the plan"}]
    assert prompt["tools"][0]["name"] == "write_file"
    assert data["response"]["tool_calls"][0]["name"] == "write_file"
    assert data["state"] == {"goal": "fix totals", "attempt": 2, "files": ["src/app.py"]}
    assert data["decision"]["decision"] == "patch app.py"
    assert data["decision"]["alternatives"] == ["rewrite", "do nothing"]
    assert [s["name"] for s in data["open_spans"]] == ["code"]
    assert data["files"] == [{"path": "src/app.py", "added": 1, "deleted": 1}]


def test_state_early_and_at_the_end(repo: Path) -> None:
    assert run_python_agent(repo, MULTI_AGENT).returncode == 0
    events = agitlog_json("show", cwd=repo)["events"]
    request = _seq(events, "llm.request", model="fake-1")
    early = agitlog_json("state", "--at", str(request), cwd=repo)
    assert early["prompt"]["system"] == "You are a careful billing agent."
    assert early["response"] is None and early["decision"] is None and early["files"] == []
    assert [s["name"] for s in early["open_spans"]] == ["plan"]
    end = agitlog_json("state", cwd=repo)  # no --at: the last event
    assert end["seq"] == events[-1]["seq"] and end["open_spans"] == []
    assert end["decision"]["decision"] == "ship it"
    assert {f["path"] for f in end["files"]} == {"src/app.py", "notes.txt"}


def test_state_text(repo: Path) -> None:
    assert run_python_agent(repo, MULTI_AGENT).returncode == 0
    events = agitlog_json("show", cwd=repo)["events"]
    at = _seq(events, "tool.result", tool="write_file", result="ok")
    proc = agitlog("state", "--at", str(at), cwd=repo)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"state at event #{at} of session ") and "agent coder" in lines[0]
    assert "  [system] You write code." in lines
    assert "  [user] Apply the plan" in lines
    assert "last decision (#5): patch app.py" in lines
    assert "  code (coder, since #7)" in lines
    assert "  src/app.py  +1 -1" in lines


def test_state_at_unknown_event(repo: Path) -> None:
    assert run_python_agent(repo, MULTI_AGENT).returncode == 0
    proc = agitlog("state", "--at", "999", cwd=repo)
    assert proc.returncode == 2 and "no event 999" in proc.stderr


def test_normalize_openai_chat_body() -> None:
    prompt = normalize_request({"body": {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "Weather?"}, {"type": "image_url", "image_url": {}}]},
            {"role": "assistant", "content": None,
             "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Oslo\"}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "rain"},
        ],
        "tools": [{"type": "function", "function": {"name": "weather"}}],
    }})
    assert prompt.model == "gpt-4o" and prompt.system == "Be brief."
    assert [(m.role, m.text) for m in prompt.messages] == [
        ("user", "Weather?\n[image_url]"), ("assistant", '→ weather({"city":"Oslo"})'), ("tool", "[c1] rain")]
    assert prompt.tools[0]["function"]["name"] == "weather"


def test_normalize_openai_responses_and_anthropic_bodies() -> None:
    responses = normalize_request({"body": {"model": "gpt-5", "instructions": "Be kind.", "input": "Hi"}})
    assert responses.system == "Be kind." and [(m.role, m.text) for m in responses.messages] == [("user", "Hi")]
    anthropic = normalize_request({"body": {
        "model": "claude", "system": [{"type": "text", "text": "Sys A"}, {"type": "text", "text": "Sys B"}],
        "messages": [
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "ls", "input": {"dir": "."}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "a.txt"}]},
        ]}})
    assert anthropic.system == "Sys A\nSys B"
    assert [m.text for m in anthropic.messages] == ['→ ls({"dir": "."})', "[tool result t1] a.txt"]
    sdk = normalize_request({"prompt": "plain prompt", "model": "m"})
    assert [(m.role, m.text) for m in sdk.messages] == [("user", "plain prompt")]
