"""End to end through the installed command: `agitlog run` records an unmodified agent on the real
SDKs (current and previous majors) with zero code changes, and `agitlog rerun` replays it with zero
upstream calls, reproducing events and files.

Every scenario runs in one agent process per SDK generation, so one session holds them all (and some
identical requests, which the rerun must serve in order): importing the SDKs is most of an agent
process's cost, twice per scenario (run and rerun) when each was its own session."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from fakemodel import FakeModel
from llm_testkit import AGENT, OLD_SDKS, AgentRun

from helpers import agitlog, agitlog_json

SCENARIOS = ["chat_stream", "chat_tools", "responses_stream", "responses_tools", "messages_stream",
             "messages_tools", "async_all", "hardcoded", "spawn"]


def _env(fake: FakeModel, sdk: str) -> dict[str, str]:
    env = {"OPENAI_BASE_URL": f"{fake.url}/v1", "ANTHROPIC_BASE_URL": fake.url, "FAKE_URL": fake.url,
           "OPENAI_API_KEY": "test-openai-key", "ANTHROPIC_API_KEY": "test-anthropic-key"}
    if sdk == "old":
        env["PYTHONPATH"] = str(OLD_SDKS)
    return env


def test_run_records_every_call_and_rerun_replays_it(repo: Path, fake: FakeModel, sdk: str) -> None:
    env = _env(fake, sdk)
    proc = agitlog("run", "--", sys.executable, str(AGENT), ",".join(SCENARIOS), cwd=repo, env=env)
    assert proc.returncode == 0, proc.stderr
    upstream = len(fake.llm_requests())
    data = agitlog_json("show", "--type", "llm", cwd=repo)
    responses = [e for e in data["events"] if e["type"] == "llm.response"]
    assert len(responses) == upstream  # every call recorded once, hard-coded base_url and child processes included
    recorded_texts = [e["data"].get("text") for e in responses]
    sdk_saw = AgentRun(proc.returncode, proc.stdout, proc.stderr).by_scenario()
    assert list(sdk_saw) == SCENARIOS
    for scenario, lines in sdk_saw.items():
        texts = [seen["text"] for seen in lines if seen.get("text")]
        assert texts, scenario  # each scenario called a model and saw its answer
        for text in texts:
            assert text in recorded_texts, scenario

    rerun = agitlog("rerun", "--json", cwd=repo, env=env)
    result = json.loads(rerun.stdout)
    assert result["upstream_calls"] == 0 and len(fake.llm_requests()) == upstream, result
    assert result["served_calls"] == upstream
    assert result["reproduced"] is True, result["comparison"]
    assert rerun.returncode == 0


def test_no_auto_leaves_the_environment_alone(repo: Path, fake: FakeModel) -> None:
    code = "import os; print(os.environ.get('OPENAI_BASE_URL')); print(os.environ.get('PYTHONPATH', ''))"
    proc = agitlog("run", "-q", "--no-auto", "--", sys.executable, "-c", code, cwd=repo, env=_env(fake, "current"))
    base_url, pythonpath = proc.stdout.splitlines()
    assert base_url == f"{fake.url}/v1" and "inject" not in pythonpath
    proc = agitlog("run", "-q", "--", sys.executable, "-c", code, cwd=repo, env=_env(fake, "current"))
    base_url, pythonpath = proc.stdout.splitlines()
    assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/openai") and os.sep in pythonpath
