"""Reading exchanges: request/response event data, SSE parsing, canonical requests."""

from __future__ import annotations

import gzip
import http.client
import json
from urllib.parse import urlsplit

import fakemodel
import pytest

from agitlog.capture.llm.proxy import LLMRequest, LLMResult
from agitlog.capture.llm.wire import canonical_request, detect_api, parse_sse, request_event_data, response_event_data

SSE = {"Content-Type": "text/event-stream"}


def make_request(path: str, body: dict | bytes, provider: str = "openai", url: str = "") -> LLMRequest:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return LLMRequest("c1", provider, "POST", url or f"https://api.example.com{path}", path, {}, raw, 0.0)


def make_result(body: bytes, *, stream: bool = False, status: int = 200, headers: dict | None = None) -> LLMResult:
    return LLMResult(
        status, headers or (SSE if stream else {}), body, stream, 12.5, 3.0 if stream else None, None, False
    )


def read(path: str, provider: str, body: bytes, stream: bool, request: dict | None = None, **kw) -> dict:
    return response_event_data(
        make_request(path, request or {"model": "m"}, provider), make_result(body, stream=stream, **kw)
    )


CHAT, RESPONSES, MESSAGES = "/chat/completions", "/responses", "/v1/messages"


def test_request_event_data():
    request = make_request(CHAT, {"model": "gpt-x", "stream": True, "messages": []})
    assert request_event_data(request) == {
        "call_id": "c1",
        "provider": "openai",
        "api": "chat.completions",
        "method": "POST",
        "path": CHAT,
        "model": "gpt-x",
        "stream": True,
        "body": {"model": "gpt-x", "stream": True, "messages": []},
    }
    odd = request_event_data(make_request("/upload", b"\xffnot json"))
    assert odd["body"] == {"raw": "\ufffdnot json"} and odd["api"] == "other" and odd["model"] is None
    azure = make_request(
        CHAT, {"messages": []}, url="https://r.openai.azure.com/openai/deployments/gpt4o/chat/completions?api-version=1"
    )
    assert request_event_data(azure)["model"] == "gpt4o"


@pytest.mark.parametrize(
    ("method", "path", "provider", "api"),
    [
        ("POST", "/chat/completions", "openai", "chat.completions"),
        ("POST", "/responses", "openai", "responses"),
        ("GET", "/responses", "openai", "other"),
        ("POST", "/responses/resp_1/cancel", "openai", "other"),
        ("POST", "/v1/messages", "anthropic", "messages"),
        ("POST", "/v1/messages/count_tokens", "anthropic", "other"),
        ("POST", "/completions", "openai", "other"),
        ("POST", "/embeddings", "openai", "other"),
    ],
)
def test_detect_api(method, path, provider, api):
    request = LLMRequest("c", provider, method, "", path, {}, b"", 0.0)
    assert detect_api(request) == api


@pytest.mark.parametrize("builder", [fakemodel._chat, fakemodel._responses, fakemodel._messages])
@pytest.mark.parametrize("tools", [False, True])
def test_stream_and_body_of_one_answer_read_the_same(builder, tools):
    path = {fakemodel._chat: CHAT, fakemodel._responses: RESPONSES, fakemodel._messages: MESSAGES}[builder]
    provider = "anthropic" if path == MESSAGES else "openai"
    request = {"model": "m", "stream_options": {"include_usage": True}}
    if tools:
        request["tools"] = [{"name": "get_weather", "type": "function"}]
    events, payload, text = builder(request)
    streamed = read(path, provider, b"".join(events), True, request)
    whole = read(path, provider, json.dumps(payload).encode(), False, request)
    for key in ("text", "tool_calls", "finish_reason", "usage", "model"):
        assert streamed[key] == whole[key], key
    assert whole["text"] == text
    assert [call["arguments"] for call in whole["tool_calls"]] == ([fakemodel.TOOL_ARGS] if tools else [])
    assert (streamed["stream"], whole["stream"], streamed["first_chunk_ms"]) == (True, False, 3.0)


def test_chat_stream_without_include_usage_has_no_usage_and_parallel_tool_calls_keep_order():
    def chunk(delta, finish=None):
        return (
            b"data: "
            + json.dumps(
                {"model": "gpt-x", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
            ).encode()
            + b"\n\n"
        )

    body = b"".join(
        [
            chunk(
                {
                    "role": "assistant",
                    "tool_calls": [{"index": 0, "id": "a", "function": {"name": "f", "arguments": ""}}],
                }
            ),
            chunk({"tool_calls": [{"index": 1, "id": "b", "function": {"name": "g", "arguments": '{"x"'}}]}),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"y": 1}'}}]}),
            chunk({"tool_calls": [{"index": 1, "function": {"arguments": ": 2}"}}]}),
            chunk({}, "tool_calls"),
            b"data: [DONE]\n\n",
        ]
    )
    got = read(CHAT, "openai", body, True)
    assert got["usage"] == {}
    assert got["tool_calls"] == [
        {"id": "a", "name": "f", "arguments": {"y": 1}},
        {"id": "b", "name": "g", "arguments": {"x": 2}},
    ]
    assert (got["finish_reason"], got["model"], got["text"]) == ("tool_calls", "gpt-x", "")


def test_anthropic_stream_usage_is_merged_and_thinking_is_not_text():
    events = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "model": "claude-x",
                    "usage": {"input_tokens": 10, "cache_read_input_tokens": 100, "output_tokens": 1},
                },
            },
        ),
        (
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}},
        ),
        (
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "hmm"}},
        ),
        (
            "content_block_start",
            {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
        ),
        (
            "content_block_delta",
            {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Hel"}},
        ),
        (
            "content_block_delta",
            {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "lo"}},
        ),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 2,
                "content_block": {"type": "tool_use", "id": "t1", "name": "noargs", "input": {}},
            },
        ),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "tool_use"},
                "usage": {"output_tokens": 42, "input_tokens": 12},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    body = "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events).encode()
    got = read(MESSAGES, "anthropic", body, True)
    assert got["text"] == "Hello"
    assert got["tool_calls"] == [{"id": "t1", "name": "noargs", "arguments": {}}]
    assert got["usage"] == {"input_tokens": 112, "output_tokens": 42, "cache_read_input_tokens": 100}
    assert (got["finish_reason"], got["model"]) == ("tool_use", "claude-x")


def test_a_stream_cut_short_reports_what_arrived():
    events, _, text = fakemodel._messages({"model": "m", "tools": [{"name": "get_weather"}]})
    body = b"".join(events)
    second = body.index(b"input_json_delta", body.index(b"input_json_delta") + 1)
    cut = body[: body.index(b"\n\n", second) + 10]  # two pieces of the tool input, then mid-event
    got = read(MESSAGES, "anthropic", cut, True)
    assert got["text"] == text and got["finish_reason"] is None
    assert got["usage"] == {
        "input_tokens": 28,
        "output_tokens": 1,
        "cache_read_input_tokens": 3,
        "cache_creation_input_tokens": 4,
    }
    (call,) = got["tool_calls"]
    assert call["name"] == "get_weather" and isinstance(call["arguments"], str)  # partial JSON stays raw


def test_responses_stream_without_terminal_event_is_assembled():
    events, _, _ = fakemodel._responses({"model": "m", "tools": [{"type": "function", "name": "get_weather"}]})
    body = b"".join(
        event for event in events if b"response.completed" not in event and b"output_item.done" not in event
    )
    got = read(RESPONSES, "openai", body, True)
    assert [(c["name"], c["arguments"]) for c in got["tool_calls"]] == [("get_weather", fakemodel.TOOL_ARGS)]
    assert got["model"] == "m" and got["finish_reason"] is None


def test_responses_incomplete_and_failed():
    incomplete = {
        "model": "m",
        "status": "incomplete",
        "incomplete_details": {"reason": "max_output_tokens"},
        "output": [],
    }
    assert read(RESPONSES, "openai", json.dumps(incomplete).encode(), False)["finish_reason"] == "max_output_tokens"
    failed = {
        "type": "response.failed",
        "response": {"status": "failed", "error": {"code": "server_error", "message": "boom"}, "output": []},
    }
    got = read(RESPONSES, "openai", f"event: response.failed\ndata: {json.dumps(failed)}\n\n".encode(), True)
    assert got["finish_reason"] == "failed" and got["error"] == "response failed: boom"


def test_errors_are_reported():
    body = json.dumps({"type": "error", "error": {"type": "invalid_request_error", "message": "bad model"}}).encode()
    assert read(MESSAGES, "anthropic", body, False, status=400)["error"] == "HTTP 400: bad model"
    assert read(CHAT, "openai", b"<html>oops</html>", False, status=502)["error"] == "HTTP 502: <html>oops</html>"
    stream_error = (
        b'event: error\ndata: {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}\n\n'
    )
    assert read(MESSAGES, "anthropic", stream_error, True)["error"] == "stream error: Overloaded"
    transport = LLMResult(None, {}, b"", False, 1.0, None, "upstream unreachable", False)
    assert response_event_data(make_request(CHAT, {}), transport)["error"] == "upstream unreachable"


def test_odd_bodies_never_raise():
    for body in (b"", b"\x00\xff", b"[1, 2]", b'{"choices": "nope"}', b'{"choices": [null]}', b"data: {broken\n\n"):
        for path, provider in ((CHAT, "openai"), (RESPONSES, "openai"), (MESSAGES, "anthropic")):
            for stream in (False, True):
                got = read(path, provider, body, stream)
                assert got["text"] == "" and got["tool_calls"] == []
    assert read(CHAT, "openai", b"\x00", False, headers={"Content-Encoding": "br"})["text"] == ""


def test_content_encoded_bodies_are_decoded(proxy, recorder, fake):
    fake.gzip_json = True
    conn = http.client.HTTPConnection(*proxy.address)
    body = json.dumps({"model": "gpt-test", "messages": []}).encode()
    conn.request(
        "POST", urlsplit(proxy.base_url("openai")).path + "/chat/completions", body, {"Accept-Encoding": "gzip", "Content-Type": "application/json"}
    )
    response = conn.getresponse()
    assert response.getheader("content-encoding") == "gzip"
    assert response.read() == fake.sent[0]
    proxy.close()
    ((request, result),) = recorder.calls
    assert result.body == fake.sent[0] and result.body[:2] == b"\x1f\x8b"  # the raw wire bytes
    assert response_event_data(request, result)["text"] == fake.answers[0]
    deflated = make_result(
        gzip.zlib.compress(json.dumps({"choices": [{"message": {"content": "hi"}}]}).encode()),
        headers={"content-encoding": "deflate"},
    )
    assert response_event_data(make_request(CHAT, {}), deflated)["text"] == "hi"


def test_parse_sse():
    text = ': comment\r\nevent: a\r\ndata: one\r\ndata:two\r\n\r\ndata: {"x": 1}\n\nevent: b\ndata: never terminated\n'
    assert parse_sse(text) == [("a", "one\ntwo"), (None, '{"x": 1}')]


def test_canonical_request():
    first = json.dumps(
        {
            "model": "m",
            "user": "u-1",
            "metadata": {"user_id": "s1"},
            "messages": [{"b": 1, "a": "é"}],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    )
    second = json.dumps(
        {
            "stream_options": {"include_usage": True},
            "messages": [{"a": "é", "b": 1}],
            "stream": True,
            "model": "m",
            "user": "u-2",
            "prompt_cache_key": "k",
            "safety_identifier": "x",
        }
    )
    assert canonical_request(first.encode()) == canonical_request(second.encode())
    assert (
        canonical_request(first.encode())
        == '{"messages":[{"a":"é","b":1}],"model":"m","stream":true,"stream_options":{"include_usage":true}}'
    )
    assert canonical_request(b"not json \xff") == "not json \ufffd"
    assert canonical_request(b"") == ""
    assert canonical_request(b'{"model": "m", "stream": false}') != canonical_request(b'{"model": "m", "stream": true}')


GEMINI_STREAM = "/v1beta/models/gemini-2.5-flash:streamGenerateContent"


def _gemini_chunk(parts: list[dict], **extra) -> bytes:
    payload = {"candidates": [{"content": {"role": "model", "parts": parts}, "index": 0}], **extra}
    return b"data: " + json.dumps(payload).encode() + b"\r\n\r\n"


def test_gemini_stream_text_thoughts_function_calls_and_usage():
    body = (_gemini_chunk([{"text": "plan", "thought": True}, {"text": "Next: "}])
            + _gemini_chunk([{"text": "write."}, {"functionCall": {"name": "write_file", "args": {"file_path": "a"}}}],
                            modelVersion="gemini-2.5-flash-001")
            + _gemini_chunk([{"functionCall": {"id": "c2", "name": "run_shell_command"}}],
                            usageMetadata={"promptTokenCount": 7, "candidatesTokenCount": 3, "thoughtsTokenCount": 2,
                                           "totalTokenCount": 12}))
    request = make_request(GEMINI_STREAM + "?alt=sse", {"contents": []}, provider="gemini")
    assert detect_api(request) == "generateContent"
    assert request_event_data(request)["model"] == "gemini-2.5-flash"
    assert request_event_data(request)["stream"] is True
    data = response_event_data(request, make_result(body, stream=True))
    assert data["text"] == "Next: write." and data["model"] == "gemini-2.5-flash-001"
    assert data["tool_calls"] == [{"id": None, "name": "write_file", "arguments": {"file_path": "a"}},
                                  {"id": "c2", "name": "run_shell_command", "arguments": {}}]
    assert data["usage"] == {"input_tokens": 7, "output_tokens": 3, "reasoning_tokens": 2, "total_tokens": 12}


def test_gemini_body_and_error():
    path = "/v1beta/models/gemini-2.5-pro:generateContent"
    ok = json.dumps({"candidates": [{"content": {"parts": [{"text": "hi"}]}, "finishReason": "STOP"}]}).encode()
    data = read(path, "gemini", ok, False, request={"contents": []})
    assert (data["api"], data["text"], data["finish_reason"], data["model"]) == ("generateContent", "hi", "STOP",
                                                                                 "gemini-2.5-pro")
    failed = json.dumps({"error": {"code": 429, "message": "quota"}}).encode()
    assert read(path, "gemini", failed, False, request={}, status=429)["error"] == "HTTP 429: quota"
