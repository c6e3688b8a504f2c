"""Concurrent processes: each model call is attributed to the process that made it, and a rerun
matches calls per calling process, so concurrent workers reproduce whatever order they arrive in
(issue 12, items 1 and 2)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from fakemodel import FakeModel  # tests/llm, on the path from tests/conftest.py

from helpers import agitlog, agitlog_json, run_python_agent, tree_files

pytestmark = pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="caller attribution needs Linux /proc")

WORKER = """
import json, os, pathlib, random, sys, time, urllib.request
name = sys.argv[1]
for turn in range(2):
    time.sleep(random.random() * 0.05)      # the two workers interleave differently every run
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": f"worker {name} task {turn}"}]})
    request = urllib.request.Request(os.environ["OPENAI_BASE_URL"] + "/chat/completions", data=body.encode(),
                                     headers={"Content-Type": "application/json"})
    answer = json.loads(urllib.request.urlopen(request).read())["choices"][0]["message"]["content"]
    with open(f"out-{name}.txt", "a") as out:
        out.write(answer + "\\n")
"""

PLANNER = """
import subprocess, sys
worker = sys.argv[1]
procs = [subprocess.Popen([sys.executable, worker, name]) for name in ("a", "b")]
sys.exit(max(p.wait() for p in procs))
"""


def test_concurrent_workers_are_attributed_and_reproduce_every_time(repo: Path, fake: FakeModel) -> None:
    env = {"OPENAI_BASE_URL": f"{fake.url}/v1", "OPENAI_API_KEY": "k"}
    worker = repo.parent / "worker.py"
    worker.write_text(WORKER)
    proc = run_python_agent(repo, PLANNER, name="planner.py", env=env, script_args=(str(worker),))
    assert proc.returncode == 0, proc.stderr
    original = agitlog_json("log", cwd=repo)[0]
    requests = agitlog_json("show", original["id"], "--type", "llm.request", cwd=repo)["events"]
    assert len(requests) == 4
    by_worker = {r["data"]["caller"]["argv"][-1]: r["pid"] for r in requests}
    assert set(by_worker) == {"a", "b"} and by_worker["a"] != by_worker["b"]
    assert original["meta"]["pid"] not in by_worker.values()  # the worker, not agitlog, made the call
    for request in requests:
        assert f"worker {request['data']['caller']['argv'][-1]} task" in json.dumps(request["data"]["body"])

    final = tree_files(repo, original["meta"]["steps"]["last"])
    calls = len(fake.llm_requests())
    for attempt in range(20):
        proc = agitlog("rerun", original["id"], "--json", cwd=repo, env=env)
        result = json.loads(proc.stdout)
        assert proc.returncode == 0 and result["reproduced"], f"rerun {attempt}: {proc.stdout}{proc.stderr}"
        assert result["served_calls"] == 4 and result["upstream_calls"] == 0
        rerun = agitlog_json("show", result["rerun"], cwd=repo)["session"]
        assert tree_files(repo, rerun["steps"]["last"]) == final
    assert len(fake.llm_requests()) == calls


FIRST_EVENT_THEN_CALL = """
import json, os, subprocess, sys, urllib.request
if len(sys.argv) > 1:
    import agitlog
    agitlog.state({"worker": sys.argv[1]})   # this process's first event: it opens a new connection
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": sys.argv[1]}]}).encode()
    request = urllib.request.Request(os.environ["OPENAI_BASE_URL"] + "/chat/completions", data=body,
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request).read()
else:
    for i in range(8):
        subprocess.run([sys.executable, __file__, str(i)], check=True)
"""


def test_a_process_first_event_is_never_overtaken_by_its_model_call(repo: Path, fake: FakeModel) -> None:
    """The proxy settles the event channel before recording a call, including connections not yet
    accepted: a rerun of the demo used to 'not reproduce' one time in four over this."""
    env = {"OPENAI_BASE_URL": f"{fake.url}/v1", "OPENAI_API_KEY": "k"}
    assert run_python_agent(repo, FIRST_EVENT_THEN_CALL, env=env).returncode == 0
    events = agitlog_json("show", cwd=repo)["events"]
    for worker in range(8):
        kinds = [e["type"] for e in events
                 if (e["type"] == "state" and e["data"]["state"].get("worker") == str(worker))
                 or (e["type"] == "llm.request" and e["data"]["caller"]["argv"][-1] == str(worker))]
        assert kinds == ["state", "llm.request"], (worker, kinds)
