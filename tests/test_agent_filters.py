"""`--agent` means the same in `show`, `replay` and `search`: a framework agent (named by its OTLP
span) owns the model calls its span made, although the proxy recorded them under the process's agent."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from crafted import craft_session
from helpers import agitlog, agitlog_json, git

ROOT = "0" * 16
TRIAGE = "a" * 16


def _event(seq: int, kind: str, agent: str, data: dict[str, Any], span: str = ROOT,
           parent: str | None = None) -> dict[str, Any]:
    return {"v": 1, "seq": seq, "ts": f"2026-01-01T00:00:0{seq}.000000Z", "session": "20260101-000000-abcdef",
            "type": kind, "agent": agent, "pid": 1, "span": span, "parent_span": parent, "step": 0,
            "commit": None, "data": data}


def _framework_session(repo: Path) -> str:
    """The proxy recorded one model call under "main"; the framework's span, exported afterwards,
    says the triage agent made it; a writer agent calls a tool."""
    tree = git(repo, "rev-parse", "HEAD^{tree}").strip()
    events = [
        _event(1, "llm.request", "main", {"model": "m", "call_id": "c1", "messages": [
            {"role": "user", "content": "which invoices are overdue?"}]}),
        _event(2, "llm.response", "main", {"model": "m", "call_id": "c1", "text": "three overdue invoices"}),
        _event(3, "span.start", "triage", {"name": "invoke_agent triage", "llm_calls": [1]}, TRIAGE, ROOT),
        _event(4, "span.end", "triage", {"name": "invoke_agent triage"}, TRIAGE, ROOT),
        _event(5, "tool.call", "writer", {"tool": "send_email", "arguments": {"about": "overdue invoices"}}),
    ]
    return craft_session(repo, tree, events=events)


def test_replay_agent_keeps_only_that_agents_events_and_its_model_calls(repo: Path) -> None:
    session = _framework_session(repo)
    replay = agitlog_json("replay", session, "--agent", "triage", cwd=repo)["events"]
    assert [(e["seq"], e["type"], e["agent"]) for e in replay] == [
        (1, "llm.request", "triage"), (2, "llm.response", "triage"), (3, "span.start", "triage"),
        (4, "span.end", "triage")]
    shown = agitlog_json("show", session, "--agent", "triage", cwd=repo)["events"]
    assert [e["seq"] for e in shown] == [e["seq"] for e in replay]
    writer = agitlog_json("replay", session, "--agent", "writer", cwd=repo)["events"]
    assert [(e["seq"], e["type"]) for e in writer] == [(5, "tool.call")]
    plain = agitlog("replay", session, "--agent", "triage", "--plain", cwd=repo).stdout
    assert "llm.request" in plain and "send_email" not in plain
    everyone = agitlog_json("replay", session, cwd=repo)["events"]
    assert len(everyone) == 6  # session.start too
    proc = agitlog("replay", session, "--agent", "nobody", "--plain", cwd=repo)
    assert proc.returncode == 2 and "its agents: main, triage, writer" in proc.stderr


def test_search_agent_finds_a_framework_agents_model_calls(repo: Path) -> None:
    session = _framework_session(repo)
    hits = agitlog_json("search", "overdue", "--agent", "triage", cwd=repo)["hits"]
    assert sorted((h["session"], h["seq"], h["type"], h["agent"]) for h in hits) == [
        (session, 1, "llm.request", "triage"), (session, 2, "llm.response", "triage")]
    hits = agitlog_json("search", "overdue", cwd=repo)["hits"]
    assert {h["seq"]: h["agent"] for h in hits} == {1: "triage", 2: "triage", 5: "writer"}
    proc = agitlog("search", "overdue", "--agent", "main", "--json", cwd=repo)  # the proxy's agent owns none now
    assert proc.returncode == 1 and json.loads(proc.stdout)["hits"] == []
