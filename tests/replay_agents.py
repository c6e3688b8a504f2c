"""Agents for the replay, diff, checkout and state tests: small real scripts run under `agitlog run`."""
from __future__ import annotations

# A planner and a coder (two agents, nested spans) that talk to a fake model, call tools that edit
# files, decide, record state, and fail once. Every kind of event the viewer shows is in here.
MULTI_AGENT = r'''
import pathlib
import agitlog

SYSTEM = "You are a careful billing agent."
TOOLS = [{"name": "write_file", "description": "write a file", "input_schema": {"type": "object"}}]

agitlog.state({"goal": "fix totals", "attempt": 1})
with agitlog.span("plan", agent="planner"):
    agitlog.prompt(model="fake-1", system=SYSTEM, tools=TOOLS,
                   messages=[{"role": "user", "content": "Fix the off-by-one in total()"}])
    agitlog.response("Plan: patch src/app.py, then add notes.", model="fake-1", input_tokens=120,
                     output_tokens=12, finish_reason="stop", latency_ms=850)
    agitlog.decision("patch app.py", reasoning="the bug is in total()", alternatives=["rewrite", "do nothing"])
with agitlog.span("code", agent="coder"):
    agitlog.emit("llm.request", {"body": {"model": "claude-fake", "system": [{"type": "text", "text": "You write code."}],
                 "messages": [{"role": "user", "content": [{"type": "text", "text": "Apply the plan"}]}],
                 "tools": TOOLS}})
    agitlog.response(None, model="claude-fake", input_tokens=300, output_tokens=40,
                     tool_calls=[{"name": "write_file", "input": {"path": "src/app.py"}}])
    with agitlog.tool("write_file", path="src/app.py") as call:
        pathlib.Path("src/app.py").write_text("def total(xs):\n    return sum(xs) + 1\n")
        call.result = "ok"
    agitlog.state({"attempt": 2, "files": ["src/app.py"]})
    with agitlog.tool("write_file", path="notes.txt") as call:
        pathlib.Path("notes.txt").write_text("fixed total\n")
        call.result = "ok"
    try:
        with agitlog.tool("run_tests") as call:
            raise RuntimeError("tests failed: 1 of 3")
    except RuntimeError as exc:
        agitlog.error(exc)
agitlog.decision("ship it", reasoning="good enough")
agitlog.log("done")
'''
