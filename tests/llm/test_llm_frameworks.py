"""Real multi-agent frameworks, unmodified, recorded by `agitlog run` against the fake model: the
session shows their agents, handoffs and tools, with each model call the proxy recorded attributed
to the agent that made it (and never recorded twice).

- the OpenAI Agents SDK (tracing on): a triage agent hands off to a weather agent that calls a tool;
  its trace uploads to /v1/traces/ingest cross the proxy and become those events;
- LangGraph with OpenInference's LangChain instrumentor, exporting OTLP to the receiver `agitlog run`
  points OTEL_EXPORTER_OTLP_* at.
"""
from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import Any

from fakemodel import FakeModel

from helpers import agitlog, agitlog_json

AGENTS_SDK = '''
from agents import Agent, Runner, function_tool

@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"

weather = Agent(name="weather", instructions="Answer weather questions.", tools=[get_weather], model="fake-1")
triage = Agent(name="triage", instructions="Hand weather questions to the weather agent.", handoffs=[weather],
               model="fake-1")
result = Runner.run_sync(triage, "What is the weather in Paris?")
print("FINAL", result.final_output)
'''

LANGGRAPH = '''
import warnings
warnings.simplefilter("ignore")
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from openinference.instrumentation.langchain import LangChainInstrumentor

provider = TracerProvider()
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
LangChainInstrumentor().instrument(tracer_provider=provider)

from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from langgraph.prebuilt import create_react_agent

@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"

agent = create_react_agent(ChatOpenAI(model="fake-1"), [get_weather], name="weather_agent")
result = agent.invoke({"messages": [("user", "What is the weather in Paris?")]})
print("FINAL", result["messages"][-1].content)
provider.shutdown()
'''


def _run(repo: Path, fake: FakeModel, code: str) -> tuple[str, list[dict[str, Any]]]:
    script = repo.parent / "framework_agent.py"
    script.write_text(textwrap.dedent(code))
    env = {"OPENAI_BASE_URL": f"{fake.url}/v1", "OPENAI_API_KEY": "test-openai-key"}
    proc = agitlog("run", "--", sys.executable, str(script), cwd=repo, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "FINAL Hello from the fake model" in proc.stdout
    return proc.stdout, agitlog_json("show", cwd=repo)["events"]


def _of(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == kind]


def _check_model_calls_attributed(events: list[dict[str, Any]], fake: FakeModel) -> list[str]:
    """Every model call recorded once, claimed by exactly one framework LLM span; returns, per call in
    order, the agent that made it."""
    requests = _of(events, "llm.request")
    assert len(requests) == len(fake.llm_requests()) >= 2
    assert not [e for e in requests if "traces" in str(e["data"].get("path"))]  # an upload is no model call
    claimed = [seq for e in _of(events, "span.start") for seq in e["data"].get("llm_calls", [])]
    assert sorted(claimed) == [e["seq"] for e in requests]
    return [e["agent"] for e in requests]


def test_openai_agents_sdk_handoff_and_tool(repo: Path, fake: FakeModel) -> None:
    fake.each_tool_once = True  # triage calls its handoff, weather calls its tool, then answers
    _, events = _run(repo, fake, AGENTS_SDK)
    agents = {e["data"]["name"]: e for e in _of(events, "span.start") if e["data"].get("operation") == "invoke_agent"}
    assert set(agents) == {"triage", "weather"}
    assert all(e["data"]["source"] == "openai-agents" for e in agents.values())
    assert agents["triage"]["data"]["handoffs"] == ["weather"] and agents["weather"]["data"]["tools"] == ["get_weather"]

    [handoff] = _of(events, "handoff")
    assert handoff["data"] == {"from_agent": "triage", "to_agent": "weather"} and handoff["agent"] == "triage"
    [call], [result] = _of(events, "tool.call"), _of(events, "tool.result")
    assert call["agent"] == result["agent"] == "weather"
    assert call["data"]["tool"] == "get_weather" and call["data"]["arguments"] == {"city": "Paris"}
    assert result["data"]["result"] == "sunny in Paris" and result["data"]["ok"] is True

    # the proxy's model calls, seen through the views: the first by triage, the rest by weather
    assert _check_model_calls_attributed(agitlog_json("show", cwd=repo)["events"], fake) == \
        ["triage", "weather", "weather"]
    weather_only = agitlog_json("show", "--agent", "weather", "--type", "llm", cwd=repo)["events"]
    assert [e["type"] for e in weather_only] == ["llm.request", "llm.response"] * 2
    assert all(e["recorded"]["agent"] == "main" for e in weather_only)  # what the proxy recorded is kept
    plain = agitlog("replay", "--plain", cwd=repo).stdout
    assert "triage → weather" in plain and "get_weather" in plain

    # exported as OpenTelemetry, each model call is a chat span inside the framework span that made it
    exported = json.loads(agitlog("export", "--format", "otlp-json", cwd=repo).stdout)
    spans = [s for rs in exported["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]]
    names = {s["spanId"]: s["name"] for s in spans}
    chats = [s for s in spans if s["name"] == "chat fake-1"]
    assert len(chats) == 3 and {names[s["parentSpanId"]] for s in chats} == {"response"}
    assert [next(a["value"]["stringValue"] for a in s["attributes"] if a["key"] == "gen_ai.agent.name")
            for s in chats] == ["triage", "weather", "weather"]

    # a rerun serves the trace uploads' recorded answers: nothing goes upstream, and the agents are there again
    rerun = agitlog("rerun", "--json", cwd=repo, env={"OPENAI_API_KEY": "test-openai-key"}, timeout=300)
    result_json = json.loads(rerun.stdout)
    assert result_json["upstream_calls"] == 0, result_json
    again = agitlog_json("show", cwd=repo)["events"]
    assert {e["data"]["name"] for e in _of(again, "span.start") if e["data"].get("operation") == "invoke_agent"} \
        == {"triage", "weather"}


def test_langgraph_with_openinference_over_otlp(repo: Path, fake: FakeModel) -> None:
    _, events = _run(repo, fake, LANGGRAPH)
    starts = _of(events, "span.start")
    assert all(e["data"]["source"] == "otlp" for e in starts)
    graph = next(e for e in starts if e["data"]["name"] == "weather_agent")
    assert graph["parent_span"] == events[0]["span"]  # the graph hangs off the session's root span
    [call], [result] = _of(events, "tool.call"), _of(events, "tool.result")
    assert call["data"]["tool"] == "get_weather" and result["data"]["ok"] is True
    assert "sunny in Paris" in json.dumps(result["data"]["result"])
    llm_spans = [e for e in starts if e["data"].get("llm_calls") is not None]
    assert len(llm_spans) == 2 and all(e["data"]["model"] == "fake-1" for e in llm_spans)

    shown = agitlog_json("show", cwd=repo)["events"]
    by_agent = _check_model_calls_attributed(shown, fake)
    assert by_agent == [e["agent"] for e in llm_spans]
    # the model calls sit inside the LLM spans that made them, under the graph
    spans = {e["span"]: e for e in _of(shown, "span.start")}
    for request in _of(shown, "llm.request"):
        chain, current = [], request["span"]
        while current in spans:
            chain.append(spans[current]["data"]["name"])
            current = spans[current]["parent_span"]
        assert chain[0] == "ChatOpenAI" and chain[-1] == "weather_agent", chain
