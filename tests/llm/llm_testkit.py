"""Helpers for the LLM capture tests: a recording ProxyHooks and a way to run agent processes.

The older SDK majors (openai 1.x, anthropic 0.x, on `httpx`) live in their own directory, given to
the agent processes on PYTHONPATH. Install them with:

    pip install --target "$AGITLOG_OLD_SDKS" "openai<2" "anthropic<1"

(default directory: ~/.cache/agitlog-test/old-sdks). Tests that need them skip when it is missing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from agitlog.capture.llm.inject import inject_dir
from agitlog.capture.llm.proxy import LLMProxy, LLMReply, LLMRequest, LLMResult

HERE = Path(__file__).resolve().parent
AGENT = HERE / "agents" / "sdk_agent.py"
OLD_SDKS = Path(os.environ.get("AGITLOG_OLD_SDKS") or Path.home() / ".cache" / "agitlog-test" / "old-sdks")
_SCRUBBED = (
    "OPENAI_",
    "ANTHROPIC_",
    "AZURE_OPENAI",
    "AGITLOG_",
    "PYTHONPATH",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
)


@dataclass
class Recorder:
    """ProxyHooks for tests: keeps every pair; `replies` maps a request to a served LLMReply."""

    calls: list[tuple[LLMRequest, LLMResult]] = field(default_factory=list)
    seen: list[LLMRequest] = field(default_factory=list)
    replies: Callable[[LLMRequest], LLMReply | None] | None = None
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def before_call(self, request: LLMRequest) -> LLMReply | None:
        with self._cond:
            self.seen.append(request)
        return self.replies(request) if self.replies else None

    def after_call(self, request: LLMRequest, result: LLMResult) -> None:
        with self._cond:
            self.calls.append((request, result))
            self._cond.notify_all()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[tuple[LLMRequest, LLMResult]]:
        with self._cond:
            self._cond.wait_for(lambda: len(self.calls) >= count, timeout=timeout)
            return list(self.calls)


@dataclass
class AgentRun:
    returncode: int
    stdout: str
    stderr: str

    @property
    def lines(self) -> list[dict]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.startswith("{")]

    def by_scenario(self) -> dict[str, list[dict]]:
        """The JSON lines of each scenario of a several-scenario run (`sdk_agent.py a,b,c`)."""
        lines: dict[str, list[dict]] = {}
        current: list[dict] = []
        for line in self.stdout.splitlines():
            if line.startswith("== "):
                current = lines.setdefault(line[3:], [])
            elif line.startswith("{"):
                current.append(json.loads(line))
        return lines


def agent_env(proxy: LLMProxy, sdk: str = "current", inject: bool = True, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED)}
    paths = ([str(inject_dir())] if inject else []) + ([str(OLD_SDKS)] if sdk == "old" else [])
    env.update(proxy.child_env(), **extra)
    if paths:
        env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def run_agent(scenario: str, env: dict[str, str], timeout: float = 60.0) -> AgentRun:
    done = subprocess.run(
        [sys.executable, str(AGENT), scenario], env=env, capture_output=True, text=True, timeout=timeout
    )
    return AgentRun(done.returncode, done.stdout, done.stderr)
