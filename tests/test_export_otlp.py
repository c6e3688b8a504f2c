"""`agitlog export --format otlp-json` and `--otlp URL`: a session as one OpenTelemetry trace with the
GenAI semantic conventions, checked as JSON, as protobuf, and read back from a real Arize Phoenix."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

from helpers import agitlog, agitlog_json, run_python_agent
from replay_agents import MULTI_AGENT

# the shared fixture (a Phoenix server) is costly: the whole file runs on one worker (--dist loadgroup)
pytestmark = pytest.mark.xdist_group("test_export_otlp")

PHOENIX = Path(os.environ.get("AGITLOG_PHOENIX") or Path(__file__).parents[1] / ".ci" / "phoenix" / "bin" / "phoenix")

SECRETS = r'''
import agitlog
with agitlog.tool("lookup", account="acct-12345678") as call:
    call.result = {"owner": "acct-87654321", "note": "ok"}
agitlog.decision("bill acct-12345678", reasoning="overdue")
'''


def _attrs(span: dict[str, Any]) -> dict[str, Any]:
    """OTLP JSON key/value pairs as a plain dict."""
    def value(v: dict[str, Any]) -> Any:
        if "intValue" in v:
            return int(v["intValue"])
        if "arrayValue" in v:
            return [value(x) for x in v["arrayValue"]["values"]]
        return next(iter(v.values()))
    return {a["key"]: value(a["value"]) for a in span["attributes"]}


def _export_json(repo: Path, *args: str) -> dict[str, Any]:
    proc = agitlog("export", "--format", "otlp-json", *args, cwd=repo)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _spans(request: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for rs in request["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]]


def test_a_multi_agent_session_is_one_trace_with_genai_spans(repo: Path) -> None:
    assert run_python_agent(repo, MULTI_AGENT).returncode == 0
    shown = agitlog_json("show", cwd=repo)
    events, meta = shown["events"], shown["session"]
    request = _export_json(repo)
    spans = _spans(request)
    by_name = {s["name"]: s for s in spans}

    assert {s["traceId"] for s in spans} == {meta["trace_id"]}
    assert [s["name"] for s in spans] == [
        "invoke_agent main", "invoke_agent planner", "chat fake-1", "invoke_agent coder", "chat claude-fake",
        "execute_tool write_file", "execute_tool write_file", "execute_tool run_tests"]
    root, planner, coder = by_name["invoke_agent main"], by_name["invoke_agent planner"], by_name["invoke_agent coder"]
    assert "parentSpanId" not in root and root["spanId"] == events[0]["span"]
    assert planner["parentSpanId"] == root["spanId"] and coder["parentSpanId"] == root["spanId"]
    assert by_name["chat fake-1"]["parentSpanId"] == planner["spanId"]
    tools = [s for s in spans if s["name"].startswith("execute_tool")]
    assert all(s["parentSpanId"] == coder["spanId"] for s in tools)
    assert len({s["spanId"] for s in spans}) == len(spans)

    chat = _attrs(by_name["chat fake-1"])
    assert chat["gen_ai.operation.name"] == "chat" and chat["gen_ai.request.model"] == "fake-1"
    assert chat["gen_ai.usage.input_tokens"] == 120 and chat["gen_ai.usage.output_tokens"] == 12
    assert chat["gen_ai.response.finish_reasons"] == ["stop"] and chat["gen_ai.agent.name"] == "planner"
    assert _attrs(planner)["gen_ai.agent.name"] == "planner" and _attrs(planner)["agitlog.span.name"] == "plan"
    tool = _attrs(tools[0])
    assert tool["gen_ai.tool.name"] == "write_file" and tool["gen_ai.operation.name"] == "execute_tool"
    # the step commit the span ended at: the tool's result event produced step 1
    result_event = next(e for e in events if e["type"] == "tool.result")
    assert tool["agitlog.step"] == result_event["step"] == 1 and tool["agitlog.commit"] == result_event["commit"]
    assert tools[2]["status"]["code"] == 2 and "tests failed" in tools[2]["status"]["message"]
    assert _attrs(root)["agitlog.commit"] == events[-1]["commit"]
    # decisions and errors are events on the span they happened in
    assert [e["name"] for e in coder["events"]][-1] == "exception"
    assert any(e["name"] == "decision" for e in planner["events"])

    # content is opt-in
    assert not any(k.startswith(("gen_ai.input", "gen_ai.output", "gen_ai.tool.call.arg", "gen_ai.tool.call.res"))
                   for s in spans for k in _attrs(s))
    with_content = {s["name"]: _attrs(s) for s in _spans(_export_json(repo, "--include-content"))}
    messages = json.loads(with_content["chat fake-1"]["gen_ai.input.messages"])
    assert messages == [{"role": "user", "parts": [{"type": "text", "content": "Fix the off-by-one in total()"}]}]
    assert json.loads(with_content["chat fake-1"]["gen_ai.system_instructions"])[0]["content"] == \
        "You are a careful billing agent."
    assert "Plan: patch src/app.py" in with_content["chat fake-1"]["gen_ai.output.messages"]
    first_tool = next(_attrs(s) for s in _spans(_export_json(repo, "--include-content"))
                      if s["name"] == "execute_tool write_file")
    assert json.loads(first_tool["gen_ai.tool.call.arguments"]) == {"path": "src/app.py"}
    assert first_tool["gen_ai.tool.call.result"] == "ok"


def test_export_to_a_file_and_as_protobuf(repo: Path, tmp_path: Path) -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    from agitlog import git
    from agitlog.sharing.export.otlp import otlp_protobuf, session_trace

    assert run_python_agent(repo, MULTI_AGENT).returncode == 0
    out = tmp_path / "trace.json"
    proc = agitlog("export", "--format", "otlp-json", "-o", str(out), cwd=repo)
    assert proc.returncode == 0 and proc.stdout == "" and "spans" in proc.stderr
    request = json.loads(out.read_text())
    parsed = ExportTraceServiceRequest.FromString(otlp_protobuf(request))
    spans = [s for rs in parsed.resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert [s.name for s in spans] == [s["name"] for s in _spans(request)]
    assert {s.trace_id.hex() for s in spans} == {_spans(request)[0]["traceId"]}
    assert spans[2].parent_span_id.hex() == _spans(request)[2]["parentSpanId"]
    assert session_trace(git.find_repo(repo), session=None).request == request


def test_redaction_is_kept_and_current_patterns_apply(repo: Path) -> None:
    assert run_python_agent(repo, SECRETS).returncode == 0
    (repo / ".agitlog.toml").write_text('[redact]\npatterns = ["acct-[0-9]{8}"]\n')
    text = json.dumps(_export_json(repo, "--include-content"))
    assert "acct-1234" not in text and "acct-8765" not in text and "[REDACTED:custom]" in text


def test_export_usage_errors(repo: Path) -> None:
    assert run_python_agent(repo, "import agitlog\nagitlog.log('x')\n").returncode == 0
    assert agitlog("export", "--format", "zipkin", cwd=repo).returncode == 2
    assert agitlog("export", "--format", "otlp-json", "--html", "x.html", cwd=repo).returncode == 2
    proc = agitlog("export", "--otlp", "ftp://example/v1/traces", cwd=repo)
    assert proc.returncode == 2 and "OTLP/HTTP" in proc.stderr
    proc = agitlog("export", "--otlp", f"http://127.0.0.1:{_free_port()}/v1/traces", cwd=repo)
    assert proc.returncode == 1 and "could not send" in proc.stderr


# --- a real OTLP receiver: Arize Phoenix ----------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")  # not "module": xdist may interleave other files, which tears it down
def phoenix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Arize Phoenix (from PyPI, installed by .ci/run into its own virtualenv), offline, on loopback."""
    if not os.access(PHOENIX, os.X_OK):
        pytest.skip(f"Arize Phoenix is not installed at {PHOENIX} (.ci/run installs it)")
    work = tmp_path_factory.mktemp("phoenix")
    port = _free_port()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(work), "PHOENIX_WORKING_DIR": str(work),
           "PHOENIX_HOST": "127.0.0.1", "PHOENIX_PORT": str(port), "PHOENIX_GRPC_PORT": str(_free_port()),
           "PHOENIX_TELEMETRY_ENABLED": "false", "DO_NOT_TRACK": "1"}
    log = (work / "phoenix.log").open("wb")
    proc = subprocess.Popen([str(PHOENIX), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("Phoenix did not start:\n" + (work / "phoenix.log").read_text()[-3000:])
            time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _phoenix_spans(base: str, trace_id: str, count: int) -> list[dict[str, Any]]:
    """The trace's spans as Phoenix stored them (its ingestion is asynchronous: poll)."""
    deadline = time.monotonic() + 60
    while True:
        with urllib.request.urlopen(f"{base}/v1/projects/default/spans?limit=1000", timeout=10) as reply:
            spans = [s for s in json.load(reply)["data"] if s["context"]["trace_id"] == trace_id]
        if len(spans) >= count or time.monotonic() > deadline:
            return spans
        time.sleep(0.5)


def test_export_into_phoenix_and_read_it_back(repo: Path, phoenix: str) -> None:
    assert run_python_agent(repo, MULTI_AGENT).returncode == 0
    sent = agitlog_json("export", "--otlp", phoenix + "/v1/traces", "--include-content", cwd=repo)
    expected = _spans(_export_json(repo))
    assert sent["spans"] == len(expected) and sent["protocol"] == "http/protobuf"

    stored = {s["context"]["span_id"]: s for s in _phoenix_spans(phoenix, sent["trace_id"], len(expected))}
    assert set(stored) == {s["spanId"] for s in expected}
    for span in expected:
        got = stored[span["spanId"]]
        assert got["name"] == span["name"]
        assert got.get("parent_id") == span.get("parentSpanId")
    chat = next(s for s in stored.values() if s["name"] == "chat fake-1")["attributes"]
    assert chat["gen_ai.request.model"] == "fake-1" and chat["gen_ai.operation.name"] == "chat"
    assert chat["gen_ai.usage.input_tokens"] == 120 and chat["gen_ai.usage.output_tokens"] == 12
    assert chat["gen_ai.agent.name"] == "planner" and "gen_ai.input.messages" in chat
    tool = next(s for s in stored.values() if s["name"] == "execute_tool run_tests")
    assert tool["attributes"]["gen_ai.tool.name"] == "run_tests" and tool["status_code"] == "ERROR"
    assert len(tool["attributes"]["agitlog.commit"]) == 40
