"""The proxy at the HTTP level: routing, faithful forwarding, streaming, pooling, errors, hooks, lifecycle."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import threading
import time
from urllib.parse import urlsplit

import pytest

from agitlog.capture.llm.proxy import DEFAULT_UPSTREAMS, LLMProxy, LLMReply, classify_url

CHAT_BODY = json.dumps({"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}).encode()
STREAM_BODY = json.dumps({"model": "gpt-test", "messages": [], "stream": True}).encode()


def address(proxy: LLMProxy) -> tuple[str, int]:
    return proxy.address


def secret_path(proxy: LLMProxy, path: str) -> bytes:
    """A request target the proxy accepts: its secret segment, then ``path``."""
    return (urlsplit(proxy.root_url).path + path).encode()


class _Connection(http.client.HTTPConnection):
    prefix = ""


def connect(proxy: LLMProxy, *, authenticated: bool = True) -> http.client.HTTPConnection:
    conn = _Connection(*address(proxy), timeout=10)
    conn.prefix = urlsplit(proxy.root_url).path if authenticated else ""
    return conn


def post(conn: http.client.HTTPConnection, path: str, body: bytes, **headers: str) -> http.client.HTTPResponse:
    conn.putrequest("POST", getattr(conn, "prefix", "") + path, skip_accept_encoding=True)
    for key, value in {"Content-Type": "application/json", **headers}.items():
        conn.putheader(key, value)
    conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body)
    return conn.getresponse()


def raw_exchange(proxy: LLMProxy, data: bytes) -> bytes:
    with socket.create_connection(address(proxy), timeout=10) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_provider_routes_map_onto_upstream_bases_keeping_the_query(proxy, recorder, fake):
    conn = connect(proxy)
    conn.request("GET", conn.prefix + "/openai/models?limit=2&after=x", headers={"Authorization": "Bearer k"})
    response = conn.getresponse()
    assert response.status == 200 and json.loads(response.read())["object"] == "list"
    proxy.close()

    assert fake.received[0].path == "/v1/models?limit=2&after=x"
    ((request, result),) = recorder.calls
    assert (request.provider, request.method, request.path) == ("openai", "GET", "/models")
    assert request.url == f"{fake.url}/v1/models?limit=2&after=x"
    assert result.status == 200 and result.body == fake.sent[0]


def test_headers_and_body_go_upstream_unchanged_and_nothing_is_added(proxy, recorder, fake):
    body = CHAT_BODY + b"  "  # byte-exact, not re-serialised
    request = (
        b"POST " + secret_path(proxy, "/openai/chat/completions") + b" HTTP/1.1\r\nHost: whatever\r\nAuthorization: Bearer sk-secret\r\n"
        b"X-Custom-Thing: a b  c\r\nConnection: keep-alive, X-Hop\r\nX-Hop: dropped\r\nKeep-Alive: timeout=5\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    with socket.create_connection(address(proxy)) as sock:
        sock.sendall(request)
        response = http.client.HTTPResponse(sock, method="POST")
        response.begin()
        assert response.status == 200 and json.loads(response.read())["object"] == "chat.completion"
    proxy.close()

    received = fake.received[0]
    assert received.body == body
    assert received.headers == {
        "Host": fake.url.removeprefix("http://"),
        "Authorization": "Bearer sk-secret",
        "X-Custom-Thing": "a b  c",
        "Content-Type": "application/json",
        "Content-Length": str(len(body)),
    }
    ((recorded, _),) = recorder.calls
    assert recorded.body == body
    assert recorded.headers == {k: v for k, v in received.headers.items() if k != "Content-Length"}


def test_a_chunked_request_body_is_forwarded_whole(proxy, fake):
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (CHAT_BODY[:10], CHAT_BODY[10:])) + b"0\r\n\r\n"
    answer = raw_exchange(
        proxy,
        b"POST " + secret_path(proxy, "/openai/chat/completions") + b" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        b"Connection: close\r\n\r\n" + chunked,
    )
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert fake.received[0].body == CHAT_BODY
    assert fake.received[0].headers["Content-Length"] == str(len(CHAT_BODY))


def test_response_status_headers_and_body_come_back_as_sent(proxy, fake):
    fake.fail_next(1, status=429)
    response = post(connect(proxy), "/openai/chat/completions", CHAT_BODY)
    assert response.status == 429
    assert response.getheader("retry-after-ms") == "5"
    assert response.getheader("x-request-id", "").startswith("req_")
    assert response.read() == fake.sent[0]


def test_unknown_route_is_a_404_and_not_a_call(proxy, recorder):
    response = post(connect(proxy), "/nowhere/chat/completions", CHAT_BODY)
    assert response.status == 404
    assert "no route" in json.loads(response.read())["error"]["message"]
    proxy.close()
    assert recorder.calls == [] and recorder.seen == []


def test_explicit_upstream_header_routes_there_and_is_stripped(proxy, recorder, fake):
    upstream = f"{fake.url}/v1/chat/completions?api-version=1"
    response = post(connect(proxy), "/v1/chat/completions", CHAT_BODY, **{"X-Agitlog-Upstream": upstream})
    assert response.status == 200
    response.read()
    proxy.close()

    assert fake.received[0].path == "/v1/chat/completions?api-version=1"
    assert all(key.lower() != "x-agitlog-upstream" for key in fake.received[0].headers)
    ((request, _),) = recorder.calls
    assert (request.provider, request.path, request.url) == ("openai", "/chat/completions", upstream)


def test_explicit_upstream_pointing_at_the_proxy_is_refused(proxy, recorder):
    response = post(
        connect(proxy), "/x", CHAT_BODY, **{"x-agitlog-upstream": proxy.root_url + "/openai/chat/completions"}
    )
    assert response.status == 508
    proxy.close()
    assert recorder.calls == []


@pytest.mark.parametrize(
    ("host", "path", "expected"),
    [
        ("api.openai.com", "/v1/chat/completions", ("openai", "/chat/completions")),
        ("api.openai.com", "/v1/responses", ("openai", "/responses")),
        ("api.anthropic.com", "/v1/messages", ("anthropic", "/v1/messages")),
        ("gw.example.com", "/anthropic/v1/messages", ("anthropic", "/v1/messages")),
        ("res.openai.azure.com", "/openai/deployments/gpt4o/chat/completions", ("openai", "/chat/completions")),
        ("localhost", "/api/v1/embeddings", ("openai", "/embeddings")),
        ("localhost", "/health", ("other", "/health")),
    ],
)
def test_classify_url(host, path, expected):
    assert classify_url(host, path) == expected


def test_upstream_connections_are_kept_alive(proxy, recorder, fake):
    conn = connect(proxy)
    for _ in range(5):
        response = post(conn, "/openai/chat/completions", CHAT_BODY)
        assert response.status == 200
        response.read()
    for _ in range(2):  # a stream ends with its last chunk, not with the connection
        response = post(conn, "/openai/chat/completions", STREAM_BODY)
        assert response.read().endswith(b"data: [DONE]\n\n")
    proxy.close()
    assert len({received.peer for received in fake.received}) == 1
    assert len(recorder.calls) == 7


def test_a_stream_is_relayed_chunk_by_chunk(proxy, recorder, fake):
    fake.stream_gap = 0.5  # the fake pauses after its first event
    started = time.perf_counter()
    response = post(connect(proxy), "/openai/chat/completions", STREAM_BODY)
    assert response.getheader("content-type").startswith("text/event-stream")
    assert response.getheader("transfer-encoding") == "chunked"
    first = response.read1(65536)
    first_at = time.perf_counter() - started
    rest = response.read()
    total = time.perf_counter() - started
    assert first.startswith(b"data: {") and first_at < 0.3 <= 0.5 <= total
    proxy.close()
    ((_, result),) = recorder.calls
    assert result.body == first + rest == fake.sent[0]
    assert result.first_chunk_ms < 300 and result.latency_ms >= 500


def test_hooks_that_raise_are_reported_once_and_never_break_calls(fake, capsys):
    class Broken:
        def before_call(self, request):
            raise RuntimeError("before boom")

        def after_call(self, request, result):
            raise ValueError("after boom")

    with LLMProxy(hooks=Broken(), upstreams={"openai": f"{fake.url}/v1"}) as proxy:
        conn = connect(proxy)
        for _ in range(3):
            response = post(conn, "/openai/chat/completions", CHAT_BODY)
            assert response.status == 200
            response.read()
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    assert "before_call" in lines[0] and "before boom" in lines[0]
    assert "after_call" in lines[1] and "after boom" in lines[1]
    assert len(fake.received) == 3


def test_the_child_has_its_answer_only_once_after_call_recorded_it(fake):
    order: list[str] = []

    class Slow:
        def before_call(self, request):
            order.append("before " + json.loads(request.body)["n"])

        def after_call(self, request, result):
            time.sleep(0.2)  # e.g. writing git objects
            order.append("after " + json.loads(request.body)["n"])

    with LLMProxy(hooks=Slow(), upstreams={"openai": f"{fake.url}/v1"}) as proxy:
        for n in "12":  # a fresh connection each time: ordering must not depend on connection reuse
            response = post(connect(proxy), "/openai/chat/completions", json.dumps({"n": n}).encode())
            assert response.status == 200
            response.read()
            order.append("child has " + n)  # whatever the child does next comes after the recording
    assert order == ["before 1", "after 1", "child has 1", "before 2", "after 2", "child has 2"]


def test_a_reply_from_before_call_is_served_without_the_upstream(fake, recorder):
    events = [b'data: {"choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n', b"data: [DONE]\n\n"]
    replies = {
        b"plain": LLMReply(200, {"Content-Type": "application/json", "Content-Length": "999"}, b'{"recorded": true}'),
        b"stream": LLMReply(
            200, {"content-type": "text/event-stream", "Transfer-Encoding": "chunked"}, b"".join(events)
        ),
    }
    recorder.replies = lambda request: replies[json.loads(request.body)["kind"].encode()]
    with LLMProxy(hooks=recorder, upstreams={"openai": f"{fake.url}/v1"}) as proxy:
        conn = connect(proxy)
        plain = post(conn, "/openai/chat/completions", b'{"kind": "plain"}')
        assert plain.getheader("content-length") == "18" and plain.read() == b'{"recorded": true}'
        stream = post(conn, "/openai/chat/completions", b'{"kind": "stream"}')
        assert stream.getheader("transfer-encoding") == "chunked"
        assert [stream.read1(65536), stream.read1(65536), stream.read()] == [*events, b""]
    assert fake.received == []
    results = [result for _, result in recorder.calls]
    assert [(r.served_from_recording, r.stream, r.status) for r in results] == [(True, False, 200), (True, True, 200)]
    assert results[1].body == b"".join(events)


def test_upstream_timeout_is_a_504(recorder):
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never answers
        port = silent.getsockname()[1]
        with LLMProxy(hooks=recorder, upstreams={"openai": f"http://127.0.0.1:{port}"}, upstream_timeout=0.3) as proxy:
            response = post(connect(proxy), "/openai/chat/completions", CHAT_BODY)
            assert response.status == 504
            assert json.loads(response.read())["error"]["code"] == "agitlog_upstream_timed_out"
    ((_, result),) = recorder.calls
    assert result.status is None and "timed out" in result.error


def test_a_stale_pooled_connection_is_retried_once_on_a_fresh_one(recorder):
    served = []

    def one_shot_server(listener: socket.socket) -> None:
        # Answers one request per connection, then closes it without saying so.
        for _ in range(2):
            conn, _ = listener.accept()
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                served.append(data)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")

    with socket.create_server(("127.0.0.1", 0)) as listener:
        threading.Thread(target=one_shot_server, args=(listener,), daemon=True).start()
        upstreams = {"openai": f"http://127.0.0.1:{listener.getsockname()[1]}"}
        with LLMProxy(hooks=recorder, upstreams=upstreams) as proxy:
            conn = connect(proxy)
            for _ in range(2):
                response = post(conn, "/openai/chat/completions", b"")
                assert (response.status, response.read()) == (200, b"{}")
    assert len(served) == 2 and len(recorder.calls) == 2


def test_a_client_leaving_mid_stream_is_recorded_as_such(proxy, recorder, fake):
    fake.stream_gap = 0.3
    conn = connect(proxy)
    response = post(conn, "/openai/chat/completions", STREAM_BODY)
    response.read1(65536)
    conn.sock.shutdown(socket.SHUT_RDWR)
    conn.close()
    calls = recorder.wait_for(1)
    assert "client disconnected" in calls[0][1].error


def test_http10_client_gets_a_close_delimited_stream(proxy, fake):
    answer = raw_exchange(
        proxy,
        b"POST " + secret_path(proxy, "/openai/chat/completions")
        + b" HTTP/1.0\r\nContent-Length: %d\r\n\r\n%s" % (len(STREAM_BODY), STREAM_BODY),
    )
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"Transfer-Encoding" not in head and b"Connection: close" in head
    assert body == fake.sent[0]


def test_close_lets_calls_in_flight_finish_first(proxy, recorder, fake):
    fake.stream_gap = 0.3
    bodies = []

    def client() -> None:
        bodies.append(post(connect(proxy), "/openai/chat/completions", STREAM_BODY).read())

    thread = threading.Thread(target=client)
    thread.start()
    while not recorder.seen:
        time.sleep(0.01)
    proxy.close()
    assert len(recorder.calls) == 1 and recorder.calls[0][1].error is None
    thread.join()
    assert bodies == [recorder.calls[0][1].body]
    with pytest.raises(OSError):
        post(connect(proxy), "/openai/chat/completions", CHAT_BODY)


def test_child_env_points_the_sdks_at_the_proxy(proxy, monkeypatch):
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    env = proxy.child_env()
    assert env == {
        "OPENAI_BASE_URL": proxy.root_url + "/openai",
        "ANTHROPIC_BASE_URL": proxy.root_url + "/anthropic",
        "AGITLOG_PROXY": proxy.root_url,
    }
    monkeypatch.setenv("HTTPS_PROXY", "http://corp:3128")
    monkeypatch.setenv("NO_PROXY", "internal.example")
    assert proxy.child_env()["NO_PROXY"] == "internal.example,127.0.0.1,localhost"
    with pytest.raises(ValueError):
        proxy.base_url("mistral")


def test_upstreams_from_env():
    assert LLMProxy.upstreams_from_env({}) == DEFAULT_UPSTREAMS
    env = {"OPENAI_BASE_URL": "http://localhost:8000/v1/", "ANTHROPIC_BASE_URL": "",
           "GOOGLE_GEMINI_BASE_URL": "http://localhost:9000/"}
    assert LLMProxy.upstreams_from_env(env) == {
        "openai": "http://localhost:8000/v1",
        "anthropic": "https://api.anthropic.com",
        "gemini": "http://localhost:9000",
    }


def test_importing_the_proxy_loads_nothing_heavy():
    code = (
        "import sys; before = set(sys.modules); import agitlog.capture.llm.proxy, agitlog.capture.llm.wire, agitlog.capture.llm.inject;"
        "print(sorted({'http.client', 'ssl', 'email', 'http.server', 'logging', 'asyncio'} & (set(sys.modules) - before)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


# --- authentication (issue 11): only the recorded child knows the secret path segment -------------

def test_a_request_without_the_secret_is_refused_not_recorded_not_forwarded(proxy, recorder, fake):
    anonymous = connect(proxy, authenticated=False)
    for path in ("/openai/chat/completions", "/anthropic/v1/messages", "/"):
        response = post(anonymous, path, CHAT_BODY)
        assert response.status == 403
        assert json.loads(response.read())["error"]["code"] == "agitlog_forbidden"
    wrong = post(connect(proxy, authenticated=False), "/" + "0" * 32 + "/openai/chat/completions", CHAT_BODY)
    assert wrong.status == 403
    wrong.read()
    proxy.close()
    assert recorder.calls == [] and recorder.seen == []
    assert fake.received == []


def test_the_explicit_upstream_route_needs_the_secret_too(proxy, recorder, fake):
    upstream = f"{fake.url}/v1/chat/completions"
    refused = post(connect(proxy, authenticated=False), "/v1/chat/completions", CHAT_BODY,
                   **{"x-agitlog-upstream": upstream})
    assert refused.status == 403
    refused.read()
    accepted = post(connect(proxy), "/v1/chat/completions", CHAT_BODY, **{"x-agitlog-upstream": upstream})
    assert accepted.status == 200
    accepted.read()
    proxy.close()
    assert len(fake.received) == 1 and len(recorder.calls) == 1


def test_each_proxy_has_its_own_secret(fake, recorder):
    with LLMProxy(hooks=recorder, upstreams={"openai": f"{fake.url}/v1"}) as one, \
            LLMProxy(hooks=recorder, upstreams={"openai": f"{fake.url}/v1"}) as other:
        assert urlsplit(one.root_url).path != urlsplit(other.root_url).path
        assert len(urlsplit(one.root_url).path) >= 33  # "/" and 128 random bits in hex
        conn = connect(one)
        conn.prefix = urlsplit(other.root_url).path
        response = post(conn, "/openai/chat/completions", CHAT_BODY)
        assert response.status == 403
        response.read()


def test_another_user_cannot_use_the_proxy(proxy, recorder, fake):
    """A process under another uid (nobody) reaches the port but not the secret, which lives only in
    the recorded child's environment: it gets a 403 and nothing is recorded or forwarded."""
    import os
    import shutil

    setpriv = shutil.which("setpriv", path="/usr/bin:/bin")
    if os.geteuid() != 0 or setpriv is None:
        pytest.skip("needs root and setpriv to run a process as another user")
    host, port = address(proxy)
    code = (
        "import http.client, sys\n"
        f"c = http.client.HTTPConnection({host!r}, {port}, timeout=10)\n"
        "c.request('POST', '/openai/chat/completions', b'{}', {'x-agitlog-upstream': sys.argv[1]})\n"
        "print(c.getresponse().status)\n"
    )
    out = subprocess.run([setpriv, "--reuid", "65534", "--regid", "65534", "--clear-groups", sys.executable,
                          "-c", code, f"{fake.url}/v1/chat/completions"],
                         capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "403"
    proxy.close()
    assert recorder.calls == [] and recorder.seen == [] and fake.received == []
