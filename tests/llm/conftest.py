"""Fixtures for the LLM capture tests: a fake model server, a recording proxy, real agent processes.

See llm_testkit.py for where the older SDK majors are installed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # fakemodel and llm_testkit, for the test modules too

from fakemodel import FakeModel  # noqa: E402
from llm_testkit import OLD_SDKS, AgentRun, Recorder, agent_env, run_agent  # noqa: E402

from agitlog.capture.llm.proxy import LLMProxy  # noqa: E402


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def proxy(fake: FakeModel, recorder: Recorder) -> Iterator[LLMProxy]:
    server = LLMProxy(hooks=recorder, upstreams={"openai": f"{fake.url}/v1", "anthropic": fake.url})
    server.start()
    yield server
    server.close()


@pytest.fixture(params=["current", "old"])
def sdk(request: pytest.FixtureRequest) -> str:
    """Runs a test with the current SDK majors (httpx2) and with the older ones (httpx)."""
    if request.param == "old" and not (OLD_SDKS / "openai").is_dir():
        pytest.skip(f"older SDKs not installed: pip install --target {OLD_SDKS} 'openai<2' 'anthropic<1'")
    return request.param


@pytest.fixture
def agent(proxy: LLMProxy) -> Callable[..., AgentRun]:
    """`agent(scenario, sdk="current", inject=True, via=None, **env)` runs tests/llm/agents/sdk_agent.py.

    The agent's environment points at `via` (default: the `proxy` fixture) as `agitlog run` would.
    """

    def run(
        scenario: str, sdk: str = "current", inject: bool = True, via: LLMProxy | None = None, **extra: str
    ) -> AgentRun:
        return run_agent(scenario, agent_env(via or proxy, sdk, inject, **extra))

    return run
