"""Capture (issue 3): the SDK, the wire protocol from bash, multi-process and nested runs, malformed
input, snapshots tied to tool calls and decisions."""
from __future__ import annotations

import sys
import textwrap
from pathlib import Path

from helpers import agitlog, agitlog_json, fsck, git, path_without_agitlog, run_python_agent, session_ids, tree_files

SDK_AGENT = """
import agitlog, pathlib
agitlog.prompt("Which customers are overdue?", model="gpt-4o", system="You are a billing agent")
agitlog.response("SELECT * FROM invoices", model="gpt-4o", input_tokens=812, output_tokens=40,
                 finish_reason="stop", cache_read_input_tokens=100)
with agitlog.tool("write_query", path="query.sql") as call:
    pathlib.Path("query.sql").write_text("SELECT * FROM invoices;\\n")
    call.result = {"rows": 500}
pathlib.Path("after-tool.txt").write_text("written right after the tool returned\\n")
agitlog.decision("email 500 customers", reasoning="query returned 500 overdue rows",
                 alternatives=["email 12 customers"])
agitlog.state({"queue": [1, 2, 3], "attempt": 2})
with agitlog.span("planner", agent="planner") as outer:
    agitlog.log("planning")
    with agitlog.span("writer", agent="writer"):
        agitlog.log("writing")
try:
    with agitlog.tool("send_email", to="c-1"):
        raise TimeoutError("smtp timed out")
except TimeoutError:
    pass

@agitlog.tool
def add(a, b=2):
    return a + b

add(1, b=5)
agitlog.error(ValueError("bad row"))
"""


def test_sdk_records_everything_in_order_with_step_commits(repo: Path) -> None:
    proc = run_python_agent(repo, SDK_AGENT)
    assert proc.returncode == 0, proc.stderr
    data = agitlog_json("show", cwd=repo)
    events = data["events"]
    types = [e["type"] for e in events]
    assert types == ["session.start", "llm.request", "llm.response", "tool.call", "tool.result", "decision",
                     "state", "span.start", "log", "span.start", "log", "span.end", "span.end", "tool.call",
                     "tool.result", "tool.call", "tool.result", "error", "session.end"]
    assert [e["seq"] for e in events] == list(range(len(events)))
    by_type = {e["type"]: e for e in events}
    assert by_type["llm.response"]["data"]["usage"] == {"input_tokens": 812, "output_tokens": 40,
                                                         "cache_read_input_tokens": 100}
    assert data["session"]["stats"]["input_tokens"] == 812

    call, result, decision = events[3], events[4], events[5]
    # the tool's commit has exactly the tool's change; the decision's has what came after it
    assert result["commit"] != call["commit"]
    tool_files = git(repo, "diff-tree", "-r", "--name-only", "--no-commit-id", call["commit"], result["commit"])
    assert tool_files.split() == ["query.sql"]
    decision_files = git(repo, "diff-tree", "-r", "--name-only", "--no-commit-id", result["commit"], decision["commit"])
    assert decision_files.split() == ["after-tool.txt"]
    assert "after-tool.txt" not in tree_files(repo, result["commit"])
    assert decision["data"]["reasoning"] == "query returned 500 overdue rows"
    assert result["data"]["result"] == {"rows": 500} and result["data"]["ok"] is True
    assert result["data"]["duration_ms"] >= 0
    failed = events[14]
    assert failed["data"]["ok"] is False and failed["data"]["exception"] == "TimeoutError"
    assert events[16]["data"]["result"] == 6 and events[15]["data"]["arguments"] == {"a": 1, "b": 5}
    assert events[17]["data"]["exception"] == "ValueError"

    # span tree: writer inside planner inside the process's root span
    root = events[0]["span"]
    planner_start, writer_start = events[7], events[9]
    assert planner_start["agent"] == "planner" and planner_start["parent_span"] == root
    assert writer_start["agent"] == "writer" and writer_start["parent_span"] == planner_start["span"]
    assert events[10]["span"] == writer_start["span"]
    assert events[3]["span"] == root and events[3]["agent"] == "main"

    # `show` prints each step commit a tool call or decision produced, with its diffstat
    steps = data["steps"]
    assert [f["path"] for f in steps[str(result["seq"])]["files"]] == ["query.sql"]
    assert [f["path"] for f in steps[str(decision["seq"])]["files"]] == ["after-tool.txt"]
    assert steps[str(decision["seq"])]["step"] == steps[str(result["seq"])]["step"] + 1
    text = agitlog("show", cwd=repo).stdout
    assert "-> step 1" in text and "query.sql" in text
    fsck(repo)


BASH_AGENT = r"""
exec 3<>/dev/tcp/127.0.0.1/$AGITLOG_PORT
echo "$AGITLOG_TOKEN" >&3
echo '{"type":"decision","data":{"decision":"retry","reasoning":"timeout"}}' >&3
echo "patched" > patched.txt
echo '{"type":"tool.result","data":{"tool":"sed"},"snapshot":true}' >&3; read -r reply <&3
echo "this is not json" >&3
echo '{"type":"BAD TYPE"}' >&3
printf '%s\n' "$reply" > reply.json
agitlog emit log message=from-cli level=info
"""


def test_bash_agent_over_the_wire_protocol(repo: Path) -> None:
    script = repo.parent / "agent.sh"
    script.write_text(BASH_AGENT)
    # The script calls plain `agitlog emit`: `run` makes itself reachable, whatever the caller's PATH.
    proc = agitlog("run", "--", "bash", str(script), cwd=repo, env={"PATH": path_without_agitlog()})
    assert proc.returncode == 0, proc.stderr
    events = agitlog_json("show", cwd=repo)["events"]
    kinds = [e["type"] for e in events]
    assert kinds == ["session.start", "decision", "tool.result", "error", "error", "log", "session.end"]
    assert events[2]["step"] == 1 and "patched.txt" in tree_files(repo, events[2]["commit"])
    assert events[3]["data"]["raw"] == "this is not json"
    assert "type" in events[4]["data"]["reason"]
    assert events[5]["data"] == {"message": "from-cli", "level": "info"}
    import json

    reply = json.loads((repo / "reply.json").read_text())
    assert reply["ok"] is True and reply["commit"] == events[2]["commit"] and reply["seq"] == 2


PLANNER = """
import agitlog, subprocess, sys, pathlib
worker = pathlib.Path(sys.argv[1])
with agitlog.span("plan", agent="planner"):
    agitlog.decision("split the work", reasoning="two independent files")
    procs = []
    for name in ("alpha", "beta"):
        with agitlog.span(f"worker {name}", agent=name):
            procs.append(subprocess.Popen([sys.executable, str(worker), name]))
    for p in procs:
        assert p.wait() == 0
    agitlog.decision("merge", reasoning="both workers finished")
"""

WORKER = """
import agitlog, pathlib, sys
name = sys.argv[1]
for i in range(3):
    with agitlog.tool("write", file=f"{name}-{i}.txt") as call:
        pathlib.Path(f"{name}-{i}.txt").write_text(name)
        call.result = "ok"
"""


def test_planner_with_two_worker_processes(repo: Path) -> None:
    worker = repo.parent / "worker.py"
    worker.write_text(textwrap.dedent(WORKER))
    proc = run_python_agent(repo, PLANNER.replace("sys.argv[1]", repr(str(worker))))
    assert proc.returncode == 0, proc.stderr
    events = agitlog_json("show", cwd=repo)["events"]
    assert [e["seq"] for e in events] == list(range(len(events)))
    spans = {e["span"]: e for e in events if e["type"] == "span.start"}
    plan = next(e for e in spans.values() if e["data"]["name"] == "plan")
    for name in ("alpha", "beta"):
        worker_span = next(e for e in spans.values() if e["data"]["name"] == f"worker {name}")
        assert worker_span["parent_span"] == plan["span"]
        calls = [e for e in events if e["type"] == "tool.call" and e["agent"] == name]
        assert len(calls) == 3
        assert {e["span"] for e in calls} == {worker_span["span"]}  # worker process inherits the span
        assert len({e["pid"] for e in calls}) == 1 and calls[0]["pid"] != plan["pid"]
    results = [e for e in events if e["type"] == "tool.result"]
    for event in results:
        written = event["data"]["tool"]
        assert written == "write"
    last = tree_files(repo, events[-1]["commit"])
    assert {f"{n}-{i}.txt" for n in ("alpha", "beta") for i in range(3)} <= set(last)


def test_nested_run_is_a_linked_child_session(repo: Path) -> None:
    inner = repo.parent / "inner.py"
    inner.write_text("import agitlog\nagitlog.log('inner')\n")
    outer = f"""
import subprocess, sys, agitlog
agitlog.log('outer')
subprocess.run(["agitlog", "run", "--name", "child", "--", sys.executable, {str(inner)!r}], check=True)
"""
    proc = run_python_agent(repo, outer, env={"PATH": path_without_agitlog()})
    assert proc.returncode == 0, proc.stderr
    rows = agitlog_json("log", cwd=repo)
    child = next(r for r in rows if r["title"] == "child")
    parent = next(r for r in rows if r["title"] != "child")
    assert child["meta"]["parent_session"] == parent["id"]
    assert child["meta"]["trace_id"] == parent["meta"]["trace_id"]
    parent_events = agitlog_json("show", parent["id"], cwd=repo)["events"]
    links = [e for e in parent_events if e["type"] == "session.child"]
    assert [link["data"]["session"] for link in links] == [child["id"]]
    child_events = agitlog_json("show", child["id"], cwd=repo)["events"]
    assert [e["data"].get("message") for e in child_events if e["type"] == "log"] == ["inner"]


def test_traceparent_is_honoured_and_exported(repo: Path) -> None:
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    code = "import os\nopen('tp.txt','w').write(os.environ['TRACEPARENT'])\n"
    run_python_agent(repo, code, env={"TRACEPARENT": f"00-{trace}-00f067aa0ba902b7-01"})
    meta = agitlog_json("show", cwd=repo)["session"]
    assert meta["trace_id"] == trace and meta["parent_span"] == "00f067aa0ba902b7"
    assert (repo / "tp.txt").read_text() == f"00-{trace}-{meta['root_span']}-01"


def test_many_events_from_one_process(repo: Path) -> None:
    code = """
import agitlog
for i in range(100_000):
    agitlog.log("event", i=i)
"""
    proc = run_python_agent(repo, code)
    assert proc.returncode == 0, proc.stderr
    data = agitlog_json("show", "--type", "log", cwd=repo)
    assert len(data["events"]) == 100_000
    assert [e["data"]["i"] for e in data["events"][:3]] == [0, 1, 2]
    assert data["events"][-1]["data"]["i"] == 99_999
    assert data["session"]["stats"]["events"] == 100_002


def test_in_process_session_records_like_run(repo: Path) -> None:
    code = f"""
import agitlog, pathlib, os
os.chdir({str(repo)!r})
with agitlog.session("self-recorded", agent="solo") as sid:
    with agitlog.tool("touch") as call:
        pathlib.Path("solo.txt").write_text("x")
print(sid)
"""
    script = repo.parent / "solo.py"
    script.write_text(code)
    import subprocess

    out = subprocess.run([sys.executable, str(script)], cwd=repo.parent, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    sid = out.stdout.strip()
    assert session_ids(repo) == [sid]
    data = agitlog_json("show", sid, cwd=repo)
    assert data["session"]["name"] == "self-recorded" and data["session"]["agent"] == "solo"
    result = next(e for e in data["events"] if e["type"] == "tool.result")
    assert "solo.txt" in tree_files(repo, result["commit"])


def test_sdk_outside_a_session_is_a_silent_no_op(tmp_path: Path) -> None:
    code = """
import agitlog, time
assert not agitlog.enabled()
start = time.perf_counter()
for i in range(100_000):
    agitlog.log("x", i=i)
with agitlog.tool("t") as call:
    call.result = 1
agitlog.decision("d")
print("ok")
"""
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


POOL_AGENT = """
import agitlog, multiprocessing, os

def work(i):
    agitlog.log("worker", i=i)
    with agitlog.tool("square", i=i) as call:
        call.result = i * i
    return os.getpid()

if __name__ == "__main__":
    agitlog.log("before pool")
    with multiprocessing.get_context("fork").Pool(2) as pool:
        pids = pool.map(work, range(6))
    agitlog.log("after pool", workers=len(set(pids)))
"""


def test_forked_worker_pool_events_all_land(repo: Path) -> None:
    proc = run_python_agent(repo, POOL_AGENT)
    assert proc.returncode == 0, proc.stderr
    events = agitlog_json("show", cwd=repo)["events"]
    results = [e for e in events if e["type"] == "tool.result"]
    assert sorted(e["data"]["result"] for e in results) == [0, 1, 4, 9, 16, 25]
    parent_pid = events[1]["pid"]
    assert all(e["pid"] != parent_pid for e in results)
    assert [e["seq"] for e in events] == list(range(len(events)))


def test_node_example_from_the_docs(repo: Path) -> None:
    import re
    import shutil

    import pytest

    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    doc = (Path(__file__).resolve().parent.parent / "docs" / "events.md").read_text()
    [example] = re.findall(r"```js\n(.*?)```", doc, flags=re.S)
    script = repo.parent / "agent.js"
    script.write_text(example)
    proc = agitlog("run", "--", node, str(script), cwd=repo)
    assert proc.returncode == 0, proc.stderr
    events = agitlog_json("show", cwd=repo)["events"]
    assert [e["type"] for e in events] == ["session.start", "llm.request", "decision", "session.end"]
    assert events[2]["data"]["reasoning"] == "12 rows over 30 days"
    assert events[1]["data"]["prompt"] == "Which customers are overdue?" and events[1]["pid"] != events[0]["pid"]
