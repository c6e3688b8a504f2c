"""The OpenAI Agents SDK (from PyPI, unmodified, tracing on) under `agitlog run`, then `agitlog rerun`:
its trace uploads are non-model traffic, so the run reproduces with no upstream call (issue 12)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("agents")

from fakemodel import FakeModel  # noqa: E402

from helpers import agitlog, agitlog_json, run_python_agent  # noqa: E402

AGENT = """
import asyncio
from agents import Agent, Runner, function_tool

@function_tool
def get_weather(city: str) -> str:
    \"\"\"The weather in a city.\"\"\"
    open("weather.txt", "w").write(f"sunny in {city}\\n")
    return f"sunny in {city}"

agent = Agent(name="weather", instructions="Use your tools.", tools=[get_weather], model="fake-model")
print(asyncio.run(Runner.run(agent, "weather in Paris?")).final_output)
"""


def test_agents_sdk_with_tracing_on_reproduces(repo: Path, fake: FakeModel) -> None:
    env = {"OPENAI_BASE_URL": f"{fake.url}/v1", "OPENAI_API_KEY": "sk-test-not-a-secret"}
    proc = run_python_agent(repo, AGENT, env=env)
    assert proc.returncode == 0, proc.stderr
    original = agitlog_json("log", cwd=repo)[0]["id"]
    events = agitlog_json("show", original, cwd=repo)["events"]
    uploads = [e for e in events if e["type"] == "http.request" and e["data"]["path"].endswith("/traces/ingest")]
    assert uploads, "the SDK's trace upload crossed the proxy"  # tracing was on
    assert not any(e["type"] == "llm.request" and "traces" in e["data"]["path"] for e in events)
    calls = len(fake.llm_requests())
    proc = agitlog("rerun", original, "--json", cwd=repo, env=env)
    result = json.loads(proc.stdout)
    assert proc.returncode == 0 and result["reproduced"], proc.stdout + proc.stderr
    assert result["upstream_calls"] == 0 and result["served_calls"] == 2
    assert len(fake.llm_requests()) == calls
