"""The injected sitecustomize: lazy, chained, re-routes only LLM endpoints that bypass the proxy."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agitlog.capture.llm.inject import inject_dir

PROBE_PATCHED = "import {mod}; print(json.dumps('_agitlog_patched' in {mod}.Client.__dict__))"


def load_sitecustomize():
    spec = importlib.util.spec_from_file_location("agitlog_sitecustomize_under_test", inject_dir() / "sitecustomize.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def child(code: str, env: dict[str, str], extra_path: list[str] = ()) -> list:
    """Runs `code` in a fresh interpreter with our dir first on PYTHONPATH; returns its JSON lines."""
    env = {k: v for k, v in env.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = os.pathsep.join([str(inject_dir()), *extra_path])
    done = subprocess.run(
        [sys.executable, "-c", "import json\n" + textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGITLOG_", "OPENAI_", "ANTHROPIC_"))}
    return {**env, **extra}


@pytest.mark.parametrize(
    ("host", "path", "expected"),
    [
        ("api.openai.com", "/v1/files", True),
        ("API.ANTHROPIC.COM", "/v1/messages/count_tokens", True),
        ("myres.openai.azure.com", "/openai/deployments/x/chat/completions", True),
        ("localhost", "/v1/chat/completions", True),
        ("llm.internal", "/v1/responses", True),
        ("llm.internal", "/v1/messages", True),
        ("llm.internal", "/v1/embeddings/", True),
        ("llm.internal", "/v1/models", False),
        ("example.com", "/messages", False),
        ("github.com", "/api", False),
    ],
)
def test_which_requests_are_llm_endpoints(host, path, expected):
    assert load_sitecustomize().is_llm_endpoint(host, path) is expected


def test_without_agitlog_proxy_nothing_is_hooked():
    (patched,) = child(PROBE_PATCHED.format(mod="httpx2"), base_env())
    assert patched is False


def test_hooks_only_when_httpx_is_imported():
    code = """
        import sys
        print(json.dumps(sorted(m for m in ("httpx", "httpx2", "httpcore", "httpcore2") if m in sys.modules)))
        import httpx2
        print(json.dumps('_agitlog_patched' in httpx2.Client.__dict__ and '_agitlog_patched' in httpx2.AsyncClient.__dict__))
        print(json.dumps(httpx2.__spec__.loader.__class__.__name__))
    """
    before, patched, loader = child(code, base_env(AGITLOG_PROXY="http://127.0.0.1:9"))
    assert before == [] and patched is True
    assert loader == "SourceFileLoader"  # our wrapper loader leaves no trace


def test_an_existing_sitecustomize_still_runs(tmp_path: Path):
    (tmp_path / "sitecustomize.py").write_text("import os\nos.environ['THEIRS_RAN'] = 'yes'\n")
    code = """
        import os, sys
        print(json.dumps([os.environ.get('THEIRS_RAN'), sys.modules['sitecustomize'].__file__]))
    """
    for env in (base_env(), base_env(AGITLOG_PROXY="http://127.0.0.1:9")):
        ((ran, file),) = child(code, env, extra_path=[str(tmp_path)])
        assert ran == "yes" and file == str(tmp_path / "sitecustomize.py")


def test_only_llm_calls_that_bypass_the_proxy_are_rerouted(proxy, recorder, fake):
    code = f"""
        import httpx2
        client = httpx2.Client()
        hard = client.post("{fake.url}/v1/chat/completions", json={{"model": "m", "messages": []}})
        print(json.dumps([hard.status_code, str(hard.request.url), str(hard.url)]))
        other = client.get("{fake.url}/v1/models")  # not an LLM endpoint: left alone
        print(json.dumps(other.status_code))
        via = client.post("{proxy.base_url("openai")}/chat/completions", json={{"model": "m", "messages": []}})
        print(json.dumps(via.status_code))
        seen = []
        mocked = httpx2.Client(transport=httpx2.MockTransport(lambda r: seen.append(str(r.url)) or httpx2.Response(200)))
        mocked.post("https://api.openai.com/v1/chat/completions", json={{}})
        print(json.dumps(seen))
    """
    (status, request_url, url), other, via, seen = child(code, base_env(AGITLOG_PROXY=proxy.root_url))
    assert status == 200 and request_url == url == f"{fake.url}/v1/chat/completions"
    assert (other, via) == (200, 200)
    assert seen == ["https://api.openai.com/v1/chat/completions"]
    proxy.close()
    assert [request.url for request, _ in recorder.calls] == [f"{fake.url}/v1/chat/completions"] * 2
    assert [received.path for received in fake.received] == [
        "/v1/chat/completions",
        "/v1/models",
        "/v1/chat/completions",
    ]


def test_async_and_aliased_httpx_are_rerouted_once(proxy, recorder, fake):
    code = f"""
        import asyncio, httpx2
        httpx2.alias_httpx()
        import httpx
        assert httpx is httpx2

        async def main():
            async with httpx.AsyncClient() as client:
                async with client.stream("POST", "{fake.url}/v1/chat/completions", json={{"model": "m", "messages": [], "stream": True}}) as response:
                    body = b"".join([chunk async for chunk in response.aiter_bytes()])
            print(json.dumps([response.status_code, body.decode().endswith("data: [DONE]\\n\\n")]))

        asyncio.run(main())
    """
    ((status, complete),) = child(code, base_env(AGITLOG_PROXY=proxy.root_url))
    assert status == 200 and complete
    proxy.close()
    assert len(recorder.calls) == 1 and recorder.calls[0][1].stream
    assert len(fake.received) == 1
