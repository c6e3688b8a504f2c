"""Non-model traffic (connectivity checks, model lists, trace uploads) is recorded as `http.*` events,
not model calls, and a rerun answers it offline without calling it a divergence (issue 12, item 5)."""
from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from helpers import agitlog, agitlog_json, run_python_agent
from localhttp import QuietHandler, serving

AGENT = """
import json, os, urllib.request, uuid, time
base = os.environ["OPENAI_BASE_URL"]
def call(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        return response.status, response.read()
call("HEAD", "/")                                                   # a connectivity check
status, models = call("GET", "/models")
# a tracing upload, with ids and times that differ on every run
call("POST", "/traces/ingest", {"data": [{"id": str(uuid.uuid4()), "started_at": time.time()}]})
status, answer = call("POST", "/chat/completions", {"model": "m", "messages": [{"role": "user", "content": "hi"}]})
print(json.loads(models)["data"][0]["id"], json.loads(answer)["choices"][0]["message"]["content"])
"""


class _Upstream(QuietHandler):
    def _send(self, body: bytes, content_type: str | None = "application/json") -> None:
        self.server.hits.append((self.command, self.path))  # type: ignore[attr-defined]
        self.reply(body, content_type)

    def do_HEAD(self) -> None:  # noqa: N802
        self._send(b"", content_type=None)

    def do_GET(self) -> None:  # noqa: N802
        self._send(json.dumps({"object": "list", "data": [{"id": "model-a"}]}).encode())

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers["Content-Length"]))
        if self.path.endswith("/traces/ingest"):
            self._send(b"{}")
            return
        self._send(json.dumps({"id": "c", "object": "chat.completion", "model": "m", "choices": [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "hello"}}]}).encode())


@pytest.fixture
def upstream() -> Iterator[ThreadingHTTPServer]:
    with serving(_Upstream, hits=[]) as server:
        yield server


def test_non_model_traffic_is_http_and_reruns_offline(repo: Path, upstream: ThreadingHTTPServer) -> None:
    env = {"OPENAI_BASE_URL": f"http://127.0.0.1:{upstream.server_address[1]}/v1", "OPENAI_API_KEY": "k"}
    proc = run_python_agent(repo, AGENT, env=env)
    assert proc.returncode == 0 and "model-a hello" in proc.stdout, proc.stderr
    session = agitlog_json("log", cwd=repo)[0]
    events = agitlog_json("show", session["id"], cwd=repo)["events"]
    kinds = [(e["type"], e["data"].get("method"), e["data"].get("path")) for e in events
             if e["type"].startswith(("http.request", "llm.request"))]
    assert [k[0] for k in kinds] == ["http.request", "http.request", "http.request", "llm.request"]
    assert session["meta"]["stats"]["llm_calls"] == 1  # only the model call counts as one

    hits = len(upstream.hits)  # type: ignore[attr-defined]
    proc = agitlog("rerun", session["id"], "--json", cwd=repo, env=env)
    result = json.loads(proc.stdout)
    assert proc.returncode == 0 and result["reproduced"] is True, proc.stdout + proc.stderr
    assert result["upstream_calls"] == 0 and result["divergence"] is None
    assert len(upstream.hits) == hits  # type: ignore[attr-defined]  # nothing reached the network


VOLATILE_AGENT = """
import json, os, urllib.request, uuid
body = {"model": "m", "messages": [{"role": "user", "content": "hi", "id": str(uuid.uuid4())}]}
request = urllib.request.Request(os.environ["OPENAI_BASE_URL"] + "/chat/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
print(json.loads(urllib.request.urlopen(request).read())["choices"][0]["message"]["content"])
"""


def test_config_rules_leave_run_specific_fields_out_of_matching(repo: Path, upstream: ThreadingHTTPServer) -> None:
    """A client that puts a fresh id into every request never reproduces, until `[rerun] ignore`
    names that field."""
    env = {"OPENAI_BASE_URL": f"http://127.0.0.1:{upstream.server_address[1]}/v1", "OPENAI_API_KEY": "k"}
    assert run_python_agent(repo, VOLATILE_AGENT, env=env).returncode == 0
    session = agitlog_json("log", cwd=repo)[0]["id"]
    proc = agitlog("rerun", session, "--json", cwd=repo, env=env)
    result = json.loads(proc.stdout)
    assert proc.returncode == 1 and result["divergence"]["changes"][0]["path"] == "$.messages[0].id"
    (repo / ".agitlog.toml").write_text('[rerun]\nignore = ["$.messages[*].id"]\n')
    proc = agitlog("rerun", session, "--json", cwd=repo, env=env)
    assert proc.returncode == 0 and json.loads(proc.stdout)["reproduced"], proc.stdout + proc.stderr
