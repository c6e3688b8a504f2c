"""End to end: real agent processes using the real openai/anthropic SDKs, through the proxy, to the fake.

Every test runs with the current SDK majors (httpx2) and with the older ones (httpx), and with the
in-process re-routing injected as `agitlog run` does, so "recorded exactly once" is checked each time.

The scenarios that need nothing of their own (no failing fake, no second proxy) run in one agent
process per SDK generation (`batched`): importing the SDKs is most of an agent process's cost, and
the process boundary is not what they test. Each test still checks its own scenario's share.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from fakemodel import FakeModel, Received
from llm_testkit import Recorder, agent_env, run_agent

from agitlog.capture.llm.proxy import LLMProxy, LLMReply, LLMRequest, LLMResult
from agitlog.capture.llm.wire import canonical_request, request_event_data, response_event_data

CHAT_USAGE = {
    "input_tokens": 21,
    "output_tokens": 9,
    "total_tokens": 30,
    "cache_read_input_tokens": 3,
    "reasoning_tokens": 2,
}
MESSAGES_USAGE = {
    "input_tokens": 28,
    "output_tokens": 9,
    "cache_read_input_tokens": 3,
    "cache_creation_input_tokens": 4,
}
TOOL = {"name": "get_weather", "arguments": {"city": "Paris"}}


def finish(proxy: LLMProxy, recorder, count: int) -> list[tuple[LLMRequest, LLMResult]]:
    proxy.close()  # waits for every after_call
    assert len(recorder.calls) == count, [(r.path, res.status) for r, res in recorder.calls]
    return recorder.calls


def header(headers: dict[str, str], name: str) -> str | None:
    return next((value for key, value in headers.items() if key.lower() == name), None)


def assert_exact_bytes(calls, fake) -> None:
    """The hooks saw exactly what the fake received and sent, in order."""
    assert [request.body for request, _ in calls] == [r.body for r in fake.llm_requests()]
    assert [result.body for _, result in calls] == fake.sent
    for request, _ in calls:
        assert header(request.headers, "x-agitlog-upstream") is None
    for received in fake.received:
        assert header(received.headers, "x-agitlog-upstream") is None


# The scenarios `batched` runs in one process, with the number of model calls each makes.
BATCH = {"chat": 1, "chat_stream": 1, "responses": 1, "responses_stream": 1, "messages": 1,
         "messages_stream": 1, "chat_tools": 2, "chat_tools_stream": 2, "responses_tools": 2,
         "messages_tools": 2, "async_all": 4, "hardcoded": 2, "spawn": 2}


@dataclass
class ScenarioRun:
    """One scenario's share of a batched agent process: what the SDK printed, the calls the proxy
    recorded, and what the fake model received and sent for them (in the attributes FakeModel has)."""

    url: str
    lines: list[dict] = field(default_factory=list)
    calls: list[tuple[LLMRequest, LLMResult]] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    sent: list[bytes] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)

    def llm_requests(self) -> list[Received]:
        return self.received


@dataclass
class Batch:
    returncode: int
    stderr: str
    problem: str | None  # what made the whole process's recording wrong, if anything
    scenarios: dict[str, ScenarioRun]


def _run_batch(sdk: str) -> Batch:
    """Every BATCH scenario in one agent process, through one proxy to one fake, then split in order
    (one scenario's calls all finish before the next starts)."""
    fake, recorder = FakeModel().start(), Recorder()
    proxy = LLMProxy(hooks=recorder, upstreams={"openai": f"{fake.url}/v1", "anthropic": fake.url})
    proxy.start()
    try:
        run = run_agent(",".join(BATCH), agent_env(proxy, sdk, FAKE_URL=fake.url), timeout=300)
    finally:
        proxy.close()  # waits for every after_call
        fake.close()
    problem = None
    received = fake.llm_requests()
    try:
        assert len(recorder.calls) == len(received) == sum(BATCH.values()), (
            [(r.path, res.status) for r, res in recorder.calls], [r.path for r in received])
        assert_exact_bytes(recorder.calls, fake)
    except AssertionError as exc:
        problem = f"the batched agent's recording is wrong: {exc}"
    lines, scenarios, start = run.by_scenario(), {}, 0
    for name, count in BATCH.items():
        end = start + count
        scenarios[name] = ScenarioRun(fake.url, lines.get(name, []), recorder.calls[start:end],
                                      received[start:end], fake.sent[start:end], fake.answers[start:end])
        start = end
    return Batch(run.returncode, run.stderr, problem, scenarios)


@pytest.fixture(scope="session")
def _batches() -> Iterator[dict[str, Batch]]:
    yield {}


@pytest.fixture
def batched(sdk: str, _batches: dict[str, Batch]) -> Callable[[str], ScenarioRun]:
    """`batched(scenario)`: that scenario's share of the one agent process of this SDK generation."""
    if sdk not in _batches:
        _batches[sdk] = _run_batch(sdk)
    batch = _batches[sdk]

    def scenario(name: str) -> ScenarioRun:
        assert batch.returncode == 0, batch.stderr
        assert batch.problem is None, batch.problem
        return batch.scenarios[name]

    return scenario


# one worker runs every batched test, so each SDK generation's agent process runs once
in_the_batch = pytest.mark.xdist_group("test_llm_sdks_batch")


@in_the_batch
@pytest.mark.parametrize(
    ("scenario", "provider", "path", "api", "stream", "usage", "finish_reason"),
    [
        ("chat", "openai", "/chat/completions", "chat.completions", False, CHAT_USAGE, "stop"),
        ("chat_stream", "openai", "/chat/completions", "chat.completions", True, CHAT_USAGE, "stop"),
        ("responses", "openai", "/responses", "responses", False, CHAT_USAGE, "completed"),
        ("responses_stream", "openai", "/responses", "responses", True, CHAT_USAGE, "completed"),
        ("messages", "anthropic", "/v1/messages", "messages", False, MESSAGES_USAGE, "end_turn"),
        ("messages_stream", "anthropic", "/v1/messages", "messages", True, MESSAGES_USAGE, "end_turn"),
    ],
)
def test_single_call_is_recorded_once_with_its_meaning(
    sdk, batched, scenario, provider, path, api, stream, usage, finish_reason
):
    run = fake = batched(scenario)

    calls = run.calls
    assert len(calls) == 1
    assert_exact_bytes(calls, fake)
    request, result = calls[0]
    assert (request.provider, request.path, request.method) == (provider, path, "POST")
    assert request.url == fake.url + ("/v1" + path if provider == "openai" else path)
    # Credentials pass through untouched (anthropic 2.x sends a Bearer token, 0.x an x-api-key).
    auth = [header(request.headers, name) for name in ("authorization", "x-api-key")]
    assert auth == [header(fake.received[0].headers, name) for name in ("authorization", "x-api-key")]
    assert any(value and value.endswith("test-123") for value in auth)
    majors = {
        "current": ("OpenAI/Python 3.", "Anthropic/Python 2."),
        "old": ("OpenAI/Python 1.", "Anthropic/Python 0."),
    }
    assert header(request.headers, "user-agent").startswith(majors[sdk])
    assert (result.status, result.stream, result.error, result.served_from_recording) == (200, stream, None, False)
    assert (result.first_chunk_ms is not None) == stream

    asked = request_event_data(request)
    assert (asked["api"], asked["stream"], asked["provider"]) == (api, stream, provider)
    assert asked["model"] in ("gpt-test", "claude-test")
    got = response_event_data(request, result)
    assert got["text"] == run.lines[0]["text"] == fake.answers[0]
    assert (got["usage"], got["finish_reason"], got["tool_calls"], got["error"]) == (usage, finish_reason, [], None)
    assert got["model"] == asked["model"]


@in_the_batch
@pytest.mark.parametrize("scenario", ["chat_tools", "chat_tools_stream", "responses_tools", "messages_tools"])
def test_tool_use_round_trip(sdk, batched, scenario):
    run = fake = batched(scenario)

    calls = run.calls
    assert_exact_bytes(calls, fake)
    (first_req, first_res), (second_req, second_res) = calls
    sdk_calls = run.lines[0]["tool_calls"]
    got = response_event_data(first_req, first_res)
    assert [{"name": c["name"], "arguments": c["arguments"]} for c in got["tool_calls"]] == [TOOL]
    assert [c["id"] for c in got["tool_calls"]] == [c["id"] for c in sdk_calls]
    assert got["finish_reason"] in ("tool_calls", "tool_use", "completed")
    # The tool result went back in the next request, under the recorded id.
    assert sdk_calls[0]["id"] in json.dumps(request_event_data(second_req)["body"])
    assert response_event_data(second_req, second_res)["text"] == run.lines[1]["text"] == fake.answers[1]


@in_the_batch
def test_async_clients(sdk, batched):
    run = fake = batched("async_all")

    calls = run.calls
    assert_exact_bytes(calls, fake)
    events = [response_event_data(request, result) for request, result in calls]
    assert [(e["api"], e["stream"]) for e in events] == [
        ("chat.completions", True),
        ("responses", False),
        ("messages", True),
        ("messages", False),
    ]
    assert [e["text"] for e in events] == [line["text"] for line in run.lines] == fake.answers


def test_each_retry_after_a_5xx_is_its_own_call(sdk, agent, proxy, recorder, fake):
    fake.fail_next(2, status=503)
    run = agent("retry", sdk)
    assert run.returncode == 0, run.stderr

    calls = finish(proxy, recorder, 3)
    assert_exact_bytes(calls, fake)
    assert [result.status for _, result in calls] == [503, 503, 200]
    assert len({request.call_id for request, _ in calls}) == 3
    assert [header(request.headers, "x-stainless-retry-count") for request, _ in calls] == ["0", "1", "2"]
    failed = response_event_data(*calls[0])
    assert failed["error"] == "HTTP 503: fake failure 503" and failed["text"] == ""
    assert response_event_data(*calls[2])["text"] == run.lines[0]["text"]


def test_upstream_dying_mid_stream_ends_the_clients_stream(sdk, agent, proxy, recorder, fake):
    fake.die_mid_stream_next(1)
    run = agent("die", sdk)
    assert run.returncode == 0, run.stderr
    assert run.lines[0]["kind"] == "died", run.lines  # the SDK saw the stream break, did not hang

    calls = finish(proxy, recorder, 1)
    assert_exact_bytes(calls, fake)
    request, result = calls[0]
    assert result.stream and result.status == 200
    assert "mid-response" in result.error
    got = response_event_data(request, result)
    assert got["text"] == run.lines[0]["text"] != ""  # what arrived before the break
    assert got["error"] == result.error


def test_unreachable_upstream_is_a_502_the_sdk_surfaces(sdk, agent, recorder):
    with socket.socket() as probe:  # a port with nothing listening
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    down = LLMProxy(
        hooks=recorder, upstreams={"openai": f"http://127.0.0.1:{dead}/v1", "anthropic": "http://127.0.0.1:9"}
    )
    down.start()
    run = agent("unreachable", sdk, via=down)
    assert run.returncode == 0, run.stderr
    assert run.lines[0]["status"] == 502
    assert "unreachable" in run.lines[0]["message"]

    ((request, result),) = finish(down, recorder, 1)
    assert result.status is None and "unreachable" in result.error and "Refused" in result.error
    assert response_event_data(request, result)["error"] == result.error


@in_the_batch
def test_hard_coded_base_url_is_caught_in_process_exactly_once(sdk, batched):
    # Exactly once: `batched` checked that the proxy recorded as many calls as the fake received.
    run = fake = batched("hardcoded")

    calls = run.calls
    assert len(fake.llm_requests()) == 2
    assert_exact_bytes(calls, fake)
    assert [(r.provider, r.path, r.url) for r, _ in calls] == [
        ("openai", "/chat/completions", f"{fake.url}/v1/chat/completions"),
        ("anthropic", "/v1/messages", f"{fake.url}/v1/messages"),
    ]
    assert [response_event_data(*call)["text"] for call in calls] == [line["text"] for line in run.lines]


def test_without_injection_a_hard_coded_base_url_escapes(agent, proxy, recorder, fake):
    run = agent("hardcoded", inject=False, FAKE_URL=fake.url)
    assert run.returncode == 0, run.stderr
    finish(proxy, recorder, 0)
    assert len(fake.llm_requests()) == 2


@in_the_batch
def test_a_python_child_of_the_agent_is_recorded_too(sdk, batched):
    run = fake = batched("spawn")

    calls = run.calls
    assert_exact_bytes(calls, fake)
    assert [request.provider for request, _ in calls] == ["openai", "anthropic"]
    assert [response_event_data(*call)["text"] for call in calls] == [line["text"] for line in run.lines]


def test_served_recording_replaces_the_upstream(sdk, agent, proxy, recorder, fake):
    first = agent("served", sdk)
    assert first.returncode == 0, first.stderr
    recorded = finish(proxy, recorder, 3)
    sent_upstream = len(fake.received)

    by_request = {canonical_request(request.body): result for request, result in recorded}

    def replay(request: LLMRequest) -> LLMReply:
        result = by_request[canonical_request(request.body)]
        return LLMReply(status=result.status, headers=result.headers, body=result.body)

    from llm_testkit import Recorder  # a second, independent recorder and proxy

    second_recorder = Recorder(replies=replay)
    rerun_proxy = LLMProxy(hooks=second_recorder, upstreams={"openai": f"{fake.url}/v1", "anthropic": fake.url})
    rerun_proxy.start()
    second = agent("served", sdk, via=rerun_proxy)
    assert second.returncode == 0, second.stderr

    replayed = finish(rerun_proxy, second_recorder, 3)
    assert len(fake.received) == sent_upstream  # the fake model saw nothing
    assert second.lines == first.lines  # the SDK parsed the same (random) answers, streams included
    assert [result.body for _, result in replayed] == [result.body for _, result in recorded]
    assert all(result.served_from_recording for _, result in replayed)
    assert [result.stream for _, result in replayed] == [False, True, True]
    streamed = [result for _, result in replayed if result.stream]
    assert all(result.first_chunk_ms is not None for result in streamed)
