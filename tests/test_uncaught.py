"""An uncaught exception in a recorded Python agent is an `error` event (type, message, traceback),
without --capture-output: in the agent, in its threads and in the Python processes it starts. The
traceback is still printed and the exit code is unchanged; secrets in it are redacted."""
from __future__ import annotations

from pathlib import Path

from helpers import agitlog_json, git, run_python_agent

SECRET = "sk-proj-" + "A1b2C3d4E5f6G7h8" * 3

PLAIN_AGENT = f"""
    import pathlib
    def charge(customer):
        raise ValueError("card declined for " + customer + " with key {SECRET}")
    pathlib.Path("started.txt").write_text("yes\\n")
    charge("acme")
"""

SDK_AGENT = """
    import subprocess, sys, threading, agitlog
    agitlog.log("before the crash")
    def worker():
        raise RuntimeError("worker lost its database")
    thread = threading.Thread(target=worker, name="db-worker")
    thread.start()
    thread.join()
    child = subprocess.run([sys.executable, "-c", "import json; json.loads('{not json')"])
    agitlog.log(f"child exited {child.returncode}")
    with agitlog.decision("give up", reasoning="nothing works"):
        raise KeyError("ledger")
"""


def _errors(repo: Path) -> list[dict]:
    events = agitlog_json("show", cwd=repo)["events"]
    return [e for e in events if e["type"] == "error"]


def test_uncaught_exception_is_an_error_event(repo: Path) -> None:
    proc = run_python_agent(repo, PLAIN_AGENT)
    assert proc.returncode == 1  # as without agitlog
    assert "Traceback (most recent call last)" in proc.stderr and "card declined" in proc.stderr
    [error] = _errors(repo)
    data = error["data"]
    assert data["exception"] == "ValueError" and data["uncaught"] is True
    assert data["error"].startswith("card declined for acme with key [REDACTED")
    assert 'raise ValueError("card declined' in data["traceback"] and "in charge" in data["traceback"]
    assert SECRET not in data["traceback"]
    assert SECRET not in git(repo, "cat-file", "-p", f"{_ref(repo)}:events.jsonl")
    meta = agitlog_json("show", cwd=repo)["session"]
    assert meta["status"] == "failed" and meta["exit_code"] == 1 and meta["stats"]["errors"] == 1


def test_threads_child_processes_and_sdk_agents(repo: Path) -> None:
    proc = run_python_agent(repo, SDK_AGENT)
    assert proc.returncode == 1 and "KeyError: 'ledger'" in proc.stderr
    assert "worker lost its database" in proc.stderr  # threading's own report is kept
    events = agitlog_json("show", cwd=repo)["events"]
    errors = [e for e in events if e["type"] == "error"]
    assert [e["data"]["exception"] for e in errors] == ["RuntimeError", "json.decoder.JSONDecodeError", "KeyError"]
    thread_error, child_error, main_error = errors
    assert thread_error["data"]["thread"] == "db-worker" and thread_error["data"]["error"] == "worker lost its database"
    assert child_error["pid"] != main_error["pid"]
    kinds = [(e["type"], (e["data"].get("message") or e["data"].get("exception"))) for e in events
             if e["type"] in ("log", "error")]
    assert kinds == [("log", "before the crash"), ("error", "RuntimeError"),
                     ("error", "json.decoder.JSONDecodeError"), ("log", "child exited 1"), ("error", "KeyError")]
    end = next(e for e in events if e["type"] == "decision.end")
    assert end["data"]["ok"] is False and end["seq"] < main_error["seq"]


def test_no_injection_no_event(repo: Path) -> None:
    proc = run_python_agent(repo, PLAIN_AGENT, "--no-auto")
    assert proc.returncode == 1 and "card declined" in proc.stderr
    assert _errors(repo) == []


def _ref(repo: Path) -> str:
    return git(repo, "for-each-ref", "--format=%(refname)", "refs/agent-sessions/").split()[0]

