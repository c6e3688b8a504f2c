"""The OTLP receiver of `agitlog run`: OpenTelemetry spans from an unmodified program (the real
OpenTelemetry SDK and its OTLP/HTTP exporter, configured only by the environment) become events in
the session's span tree; JSON uploads too; the user's own endpoint still gets every upload; the
endpoint's token keeps other local processes out."""
from __future__ import annotations

import json
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest

from helpers import agitlog, agitlog_json, run_python_agent
from localhttp import QuietHandler, serving

from agitlog.capture.otlp import FrameworkSpan, _walk, decode_otlp, user_traces_endpoint

OTEL_AGENT = r'''
import json, os, time
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

provider = TracerProvider()
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
tracer = provider.get_tracer("crew")
agent = {"gen_ai.operation.name": "invoke_agent"}
with tracer.start_as_current_span("invoke_agent researcher", attributes=dict(agent, **{"gen_ai.agent.name": "researcher"})):
    with tracer.start_as_current_span("execute_tool search", attributes={
            "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search",
            "gen_ai.tool.call.arguments": json.dumps({"q": "overdue"}), "gen_ai.tool.call.result": "3 rows"}):
        time.sleep(0.01)
    with tracer.start_as_current_span("invoke_agent writer", attributes=dict(agent, **{"gen_ai.agent.name": "writer"})):
        with tracer.start_as_current_span("execute_tool send_email", attributes={
                "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "send_email"}) as span:
            span.set_status(trace.Status(trace.StatusCode.ERROR, "smtp down"))
provider.shutdown()
print(os.environ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"])
'''

JSON_AGENT = r'''
import json, os, urllib.request, urllib.error
span = {"traceId": "4bf92f3577b34da6a3ce929d0e0e4736", "spanId": "00f067aa0ba902b7", "name": "invoke_agent planner",
        "startTimeUnixNano": "1796012966817996000", "endTimeUnixNano": "1796012967225945000",
        "attributes": [{"key": "gen_ai.agent.name", "value": {"stringValue": "planner"}},
                       {"key": "gen_ai.operation.name", "value": {"stringValue": "invoke_agent"}}]}
body = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}).encode()
url = os.environ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
for target in (url, url.replace(url.split("/")[3], "0" * 32)):  # the real endpoint, then a guessed token
    request = urllib.request.Request(target, data=body, headers={"Content-Type": "application/json"})
    try:
        print(urllib.request.urlopen(request).status)
    except urllib.error.HTTPError as exc:
        print(exc.code)
'''


def _by_type(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == kind]


def test_spans_of_an_unmodified_otel_program_become_the_session_span_tree(repo: Path) -> None:
    proc = run_python_agent(repo, OTEL_AGENT)
    assert proc.returncode == 0, proc.stderr
    endpoint = proc.stdout.strip()
    assert endpoint.startswith("http://127.0.0.1:") and endpoint.endswith("/v1/traces")
    events = agitlog_json("show", cwd=repo)["events"]
    root = events[0]["span"]

    starts = {e["data"]["name"]: e for e in _by_type(events, "span.start")}
    assert set(starts) == {"invoke_agent researcher", "execute_tool search", "invoke_agent writer",
                           "execute_tool send_email"}
    researcher, writer = starts["invoke_agent researcher"], starts["invoke_agent writer"]
    assert researcher["parent_span"] == root and researcher["agent"] == "researcher"
    assert writer["parent_span"] == researcher["span"] and writer["agent"] == "writer"
    assert starts["execute_tool send_email"]["parent_span"] == writer["span"]
    assert researcher["data"]["operation"] == "invoke_agent" and researcher["data"]["source"] == "otlp"

    calls = {e["data"]["tool"]: e for e in _by_type(events, "tool.call")}
    results = {e["data"]["tool"]: e for e in _by_type(events, "tool.result")}
    assert calls["search"]["agent"] == "researcher" and calls["search"]["data"]["arguments"] == {"q": "overdue"}
    assert results["search"]["data"]["result"] == "3 rows" and results["search"]["data"]["ok"] is True
    assert results["send_email"]["agent"] == "writer" and results["send_email"]["data"]["ok"] is False
    assert results["send_email"]["data"]["error"] == "smtp down"
    # a walk of the tree: every span opens before its children and closes after them
    order = [(e["type"], e["data"].get("name")) for e in events if e["type"] in ("span.start", "span.end")]
    assert order == [("span.start", "invoke_agent researcher"), ("span.start", "execute_tool search"),
                     ("span.end", "execute_tool search"), ("span.start", "invoke_agent writer"),
                     ("span.start", "execute_tool send_email"), ("span.end", "execute_tool send_email"),
                     ("span.end", "invoke_agent writer"), ("span.end", "invoke_agent researcher")]

    plain = agitlog("replay", "--plain", cwd=repo).stdout.splitlines()

    def indent(text: str) -> int:
        line = next(line for line in plain if text in line)
        return len(line) - len(line.lstrip())

    # the replay document nests the agents: the writer inside the researcher inside the session
    assert 0 < indent("span.start  researcher") < indent("span.start  writer") < indent("tool.call  writer")
    only_writer = agitlog_json("show", "--agent", "writer", cwd=repo)["events"]
    assert {e["agent"] for e in only_writer} == {"writer"} and len(only_writer) == 6


def test_json_uploads_are_recorded_and_a_wrong_token_is_refused(repo: Path) -> None:
    proc = run_python_agent(repo, JSON_AGENT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["200", "404"]
    starts = _by_type(agitlog_json("show", cwd=repo)["events"], "span.start")
    assert [(e["agent"], e["span"], e["data"]["name"]) for e in starts] == [
        ("planner", "00f067aa0ba902b7", "invoke_agent planner")]


class _Collector(QuietHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.uploads.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))  # type: ignore[attr-defined]
        self.reply(b"", content_type=None)


@pytest.fixture
def collector() -> Iterator[ThreadingHTTPServer]:
    """The user's own OTLP endpoint: keeps what it is sent."""
    with serving(_Collector, uploads=[]) as server:
        yield server


def test_the_users_own_endpoint_still_gets_every_upload(repo: Path, collector: ThreadingHTTPServer) -> None:
    url = f"http://127.0.0.1:{collector.server_address[1]}"
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": url, "OTEL_EXPORTER_OTLP_HEADERS": "x-team-key=abc%20def"}
    proc = run_python_agent(repo, OTEL_AGENT, env=env)
    assert proc.returncode == 0, proc.stderr
    assert not proc.stdout.startswith(url)  # the child sends to agitlog...
    uploads = collector.uploads  # type: ignore[attr-defined]
    assert [path for path, _, _ in uploads] == ["/v1/traces"]  # ...which forwards to the user's endpoint
    path, headers, body = uploads[0]
    assert headers["x-team-key"] == "abc def" and headers["content-type"] == "application/x-protobuf"
    assert {s.name for s in decode_otlp(body, content_type="application/x-protobuf")} >= {"invoke_agent writer"}
    assert len(_by_type(agitlog_json("show", cwd=repo)["events"], "span.start")) == 4


def test_the_users_traces_endpoint_wins_over_the_general_one() -> None:
    assert user_traces_endpoint({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318/"}) == "http://a:4318/v1/traces"
    assert user_traces_endpoint({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318",
                                 "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://b/x"}) == "http://b/x"
    assert user_traces_endpoint({}) is None


def test_the_tree_walk_opens_parents_first_and_closes_them_last() -> None:
    def span(span_id: str, parent: str | None, start: float) -> FrameworkSpan:
        return FrameworkSpan(span_id=span_id * 16, parent=parent * 16 if parent else None, name=span_id,
                             operation="span", start=start, end=start + 1)

    spans = [span("c", "b", 2.0), span("b", "a", 1.0), span("a", None, 1.0), span("d", "a", 1.5), span("e", "z", 0.5)]
    walk = [(s.name, kids is not None) for s, kids in _walk(spans)]
    assert walk == [("e", True), ("e", False), ("a", True), ("b", True), ("c", True), ("c", False),
                    ("b", False), ("d", True), ("d", False), ("a", False)] or \
        walk == [("a", True), ("b", True), ("c", True), ("c", False), ("b", False), ("d", True), ("d", False),
                 ("a", False), ("e", True), ("e", False)]


def test_malformed_uploads_are_kept_as_errors_not_crashes() -> None:
    with pytest.raises(ValueError):
        decode_otlp(b"\xff\x00garbage", content_type="application/x-protobuf")
    with pytest.raises(ValueError):
        decode_otlp(b"{not json", content_type="application/json")
    assert decode_otlp(json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [{"spanId": "zz"}]}]}]}).encode(),
                       content_type="application/json") == []


class _Collecting:
    """Stands in for the session's Recorder: keeps the drafts it is given."""

    root_span = "f" * 16

    def __init__(self) -> None:
        self.drafts: list[dict[str, Any]] = []

    def record_many(self, drafts: list[dict[str, Any]]) -> None:
        self.drafts.extend(drafts)


def test_agents_sdk_uploads_give_agents_guardrails_and_failures_and_retries_are_not_recorded_twice() -> None:
    from agitlog.capture.otlp import SpanRecorder, agents_sdk_spans

    def item(ident: str, parent: str | None, data: dict[str, Any], error: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"object": "trace.span", "id": ident, "trace_id": "trace_1", "parent_id": parent,
                "started_at": "2026-11-30T04:00:00.000000+00:00", "ended_at": "2026-11-30T04:00:01.000000+00:00",
                "span_data": data, "error": error}

    upload = json.dumps({"data": [
        {"object": "trace", "id": "trace_1", "workflow_name": "Agent workflow"},
        item("span_a", None, {"type": "agent", "name": "triage", "handoffs": [], "tools": ["lookup"]}),
        item("span_g", "span_a", {"type": "guardrail", "name": "no_pii", "triggered": True}),
        item("span_t", "span_a", {"type": "function", "name": "lookup", "input": '{"id": 7}', "output": None},
             error={"message": "Error running tool", "data": {}}),
    ]}).encode()
    collecting = _Collecting()
    spans = SpanRecorder(collecting)  # type: ignore[arg-type]
    assert spans.record(agents_sdk_spans(upload)) == 3
    assert spans.record(agents_sdk_spans(upload)) == 0  # the SDK retried: nothing new
    kinds = [(d["type"], d["agent"]) for d in collecting.drafts]
    assert kinds == [("span.start", "triage"),                                     # the agent
                     ("span.start", "triage"), ("guardrail", "triage"), ("span.end", "triage"),
                     ("span.start", "triage"), ("tool.call", "triage"), ("tool.result", "triage"),
                     ("span.end", "triage"),
                     ("span.end", "triage")]
    by_type = {d["type"]: d for d in collecting.drafts}
    assert by_type["guardrail"]["data"] == {"name": "no_pii", "triggered": True}
    assert by_type["tool.call"]["data"]["arguments"] == {"id": 7}
    assert by_type["tool.result"]["data"]["ok"] is False and by_type["tool.result"]["data"]["error"] == "Error running tool"
    assert collecting.drafts[0]["parent_span"] == _Collecting.root_span
    assert collecting.drafts[1]["parent_span"] == collecting.drafts[0]["span"]
