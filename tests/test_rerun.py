"""Deterministic re-execution: `agitlog rerun` serves the recorded model answers (zero upstream calls)
and reproduces the original files byte for byte; `compare` finds where two sessions diverge."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from fakemodel import FakeModel  # tests/llm, on the path from tests/conftest.py

from helpers import agitlog, agitlog_json, fsck, run_python_agent, tree_files

pytest.importorskip("openai")

AGENT = """
import json, os, pathlib, agitlog
from openai import OpenAI

client = OpenAI(max_retries=0)
tools = [{"type": "function", "function": {"name": "write_note", "description": "write a note",
          "parameters": {"type": "object", "properties": {"text": {"type": "string"}}}}}]
messages = [{"role": "user", "content": "Write a note about invoices" + os.environ.get("PROMPT_SUFFIX", "")}]

@agitlog.tool
def write_note(text):
    pathlib.Path("note.txt").write_text(text + "\\n")
    return "written"

first = client.chat.completions.create(model="fake-model", messages=messages, tools=tools)
call = first.choices[0].message.tool_calls[0]
result = write_note(json.loads(call.function.arguments).get("text", "x"))
messages += [first.choices[0].message.model_dump(exclude_none=True),
             {"role": "tool", "tool_call_id": call.id, "content": result}]
second = client.chat.completions.create(model="fake-model", messages=messages, tools=tools)
pathlib.Path("answer.txt").write_text(second.choices[0].message.content)
stream = client.chat.completions.create(model="fake-model", messages=[{"role": "user", "content": "stream"}],
                                        stream=True, stream_options={"include_usage": True})
pathlib.Path("streamed.txt").write_text("".join(c.choices[0].delta.content or "" for c in stream if c.choices))
"""


def _env(fake: FakeModel, **extra: str) -> dict[str, str]:
    return {"OPENAI_BASE_URL": f"{fake.url}/v1", "OPENAI_API_KEY": "test-key-not-secret", **extra}


def test_rerun_serves_recorded_answers_and_reproduces_files(repo: Path, fake: FakeModel) -> None:
    proc = run_python_agent(repo, AGENT, env=_env(fake))
    assert proc.returncode == 0, proc.stderr
    original = agitlog_json("log", cwd=repo)[0]
    assert len(fake.llm_requests()) == 3
    events = agitlog_json("show", original["id"], "--type", "llm", cwd=repo)["events"]
    assert [e["type"] for e in events] == ["llm.request", "llm.response"] * 3
    assert events[1]["data"]["tool_calls"][0]["name"] == "write_note"
    assert events[5]["data"]["stream"] is True and events[5]["data"]["usage"]["input_tokens"] > 0
    assert events[2]["step"] > events[1]["step"]  # the tool's file change is a step before the next call

    # a plain re-run differs: the model answers differently
    run_python_agent(repo, AGENT, env=_env(fake))
    plain = agitlog_json("log", cwd=repo)[0]
    proc = agitlog("compare", original["id"], plain["id"], "--json", cwd=repo)
    assert proc.returncode == 1
    diff = json.loads(proc.stdout)
    assert diff["first_difference"]["a"]["type"] == "llm.response"
    changes = diff["first_difference"]["changes"]  # the fake model's random tool-call id, by JSON path
    assert [c["path"] for c in changes] == ["$.data.tool_calls[0].id"]
    assert changes[0]["a"] != changes[0]["b"] and "[" in changes[0]["a"]
    assert not diff["trees_equal"] and "answer.txt" in {f["path"] for f in diff["files"]}
    assert diff["patch"].startswith("diff --git") and "+Hello from the fake model" in diff["patch"]
    text = agitlog("compare", original["id"], plain["id"], cwd=repo).stdout  # like git: a stat first
    assert "final trees differ in" in text and "answer.txt  +" in text and "diff --git" not in text
    patched = agitlog("compare", original["id"], plain["id"], "--patch", cwd=repo).stdout
    assert "+Hello from the fake model" in patched

    # a rerun does not: zero upstream calls, same events, same files
    calls_before = len(fake.llm_requests())
    proc = agitlog("rerun", original["id"], "--json", cwd=repo, env=_env(fake))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    assert result["reproduced"] is True
    assert result["upstream_calls"] == 0 and result["served_calls"] == 3
    assert len(fake.llm_requests()) == calls_before
    rerun = agitlog_json("show", result["rerun"], cwd=repo)["session"]
    assert rerun["rerun_of"] == original["id"]
    original_files = tree_files(repo, original["meta"]["steps"]["last"])
    assert tree_files(repo, rerun["steps"]["last"]) == original_files
    assert "note.txt" in original_files and "streamed.txt" in original_files
    assert (repo / "answer.txt").read_text() != original_files["answer.txt"].decode()  # user's worktree untouched by rerun
    fsck(repo)


def test_divergence_fails_fast_or_goes_live(repo: Path, fake: FakeModel) -> None:
    assert run_python_agent(repo, AGENT, env=_env(fake)).returncode == 0
    original = agitlog_json("log", cwd=repo)[0]["id"]
    calls_before = len(fake.llm_requests())
    proc = agitlog("rerun", original, "--json", cwd=repo, env=_env(fake, PROMPT_SUFFIX=" (changed)"))
    assert proc.returncode == 1
    result = json.loads(proc.stdout)
    assert result["reproduced"] is False and result["upstream_calls"] == 0
    assert result["divergence"]["call_index"] == 0 and "(changed)" in result["divergence"]["actual"]
    changed = [c for c in result["divergence"]["changes"] if "(changed)" in c["b"]]
    assert changed and changed[0]["path"].startswith("$.messages[") and changed[0]["path"].endswith(".content")
    assert "[ (changed)]" in changed[0]["b"] and "[]" in changed[0]["a"]  # the changed part, marked
    assert len(fake.llm_requests()) == calls_before
    rerun_events = agitlog_json("show", result["rerun"], "--type", "error", cwd=repo)["events"]
    assert rerun_events and rerun_events[0]["data"]["error"] == "rerun diverged from the recording"

    proc = agitlog("rerun", original, "--json", "--on-divergence", "live", cwd=repo,
                   env=_env(fake, PROMPT_SUFFIX=" (changed)"))
    result = json.loads(proc.stdout)
    assert result["upstream_calls"] == 3 and result["exit_code"] == 0
    assert len(fake.llm_requests()) == calls_before + 3


def test_live_from_a_step_forks_the_run(repo: Path, fake: FakeModel) -> None:
    assert run_python_agent(repo, AGENT, env=_env(fake)).returncode == 0
    original = agitlog_json("log", cwd=repo)[0]
    second_request = agitlog_json("show", original["id"], "--type", "llm.request", cwd=repo)["events"][1]
    proc = agitlog("rerun", original["id"], "--json", "--live-from", str(second_request["step"]), cwd=repo,
                   env=_env(fake))
    result = json.loads(proc.stdout)
    assert result["served_calls"] == 1 and result["upstream_calls"] == 2
    assert result["exit_code"] == 0


def test_replay_tools_returns_recorded_results_without_running(repo: Path, fake: FakeModel) -> None:
    agent = AGENT.replace('pathlib.Path("note.txt").write_text(text + "\\n")',
                          'open(os.environ["SIDE_EFFECTS"], "a").write("sent\\n")')
    assert "SIDE_EFFECTS" in agent
    side_effects = repo.parent / "side-effects.log"
    assert run_python_agent(repo, agent, env=_env(fake, SIDE_EFFECTS=str(side_effects))).returncode == 0
    assert side_effects.read_text() == "sent\n"
    proc = agitlog("rerun", "--replay-tools", "--json", cwd=repo, env=_env(fake, SIDE_EFFECTS=str(side_effects)))
    result = json.loads(proc.stdout)
    assert result["reproduced"] is True, result
    assert side_effects.read_text() == "sent\n"  # the tool did not run again
    replayed = [e for e in agitlog_json("show", result["rerun"], "--type", "tool.result", cwd=repo)["events"]]
    assert replayed[0]["data"]["replayed"] is True and replayed[0]["data"]["result"] == "written"


def test_tokens_and_cost_per_model_from_the_price_table(repo: Path, fake: FakeModel) -> None:
    assert run_python_agent(repo, AGENT, env=_env(fake)).returncode == 0
    row = agitlog_json("log", cwd=repo)[0]
    assert row["cost"] is None  # no price table: no cost is invented
    models = row["meta"]["stats"]["models"]
    assert models["fake-model"]["calls"] == 3
    assert row["input_tokens"] == models["fake-model"]["input_tokens"] > 0
    (repo / ".agitlog.toml").write_text('[prices."fake-model"]\ninput = 1000000.0\noutput = 2000000.0\n')
    row = agitlog_json("log", cwd=repo)[0]
    assert row["cost"] == row["input_tokens"] * 1.0 + row["output_tokens"] * 2.0
    assert "cost" in agitlog("show", cwd=repo).stdout


def test_events_sent_before_a_model_call_are_recorded_before_it(repo: Path, fake: FakeModel) -> None:
    code = """
import json, os, urllib.request, agitlog
for i in range(20):
    agitlog.log("about to ask", i=i)
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": str(i)}]}).encode()
    request = urllib.request.Request(os.environ["OPENAI_BASE_URL"] + "/chat/completions", data=body,
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request).read()
    agitlog.log("got answer", i=i)
"""
    assert run_python_agent(repo, code, env=_env(fake)).returncode == 0
    kinds = [e["type"] for e in agitlog_json("show", "--type", "log", "--type", "llm", cwd=repo)["events"]]
    assert kinds == ["log", "llm.request", "llm.response", "log"] * 20


def test_rerun_finds_a_program_given_relative_to_the_original_directory(repo: Path) -> None:
    """`agitlog run -- ../venv/bin/python agent.py`: the program lives outside the repository, so the
    rerun (in a temporary worktree) resolves it from where the original ran, not from the worktree."""
    tools = repo.parent / "tools"
    tools.mkdir()
    program = tools / "agent.sh"
    program.write_text("#!/bin/sh\necho ran >> out.txt\n")
    program.chmod(0o755)
    assert agitlog("run", "--", "../tools/agent.sh", cwd=repo).returncode == 0
    original = agitlog_json("log", cwd=repo)[0]["id"]
    proc = agitlog("rerun", original, "--json", cwd=repo)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    assert result["exit_code"] == 0 and result["reproduced"] is True


def test_a_recorded_answer_without_a_content_type_is_served_without_one() -> None:
    """A `HEAD /` connectivity check is answered with no body and no content type: serving it with
    `application/json` made every such rerun report a difference."""
    from agitlog.capture.replaybook import build_book

    request = {"type": "llm.request", "step": 0, "data": {"call_id": "c1", "path": "/", "body": None}}
    response = {"type": "llm.response", "step": 0,
                "data": {"call_id": "c1", "status": 200, "content_type": None, "body_ref": ""}}
    typed = {"type": "llm.response", "step": 0,
             "data": {"call_id": "c2", "status": 200, "content_type": "text/plain", "body_ref": ""}}
    typed_request = {"type": "llm.request", "step": 0, "data": {"call_id": "c2", "path": "/", "body": None}}
    book = build_book([request, response, typed_request, typed], load_bodies=lambda names: {}, canonical=str)
    assert book.calls[0].headers == {} and book.calls[1].headers == {"content-type": "text/plain"}


def test_fork_at_a_call_with_a_different_answer_then_live(repo: Path, fake: FakeModel, tmp_path: Path) -> None:
    """`--fork-at 1 --answer FILE`: call #0 from the recording, #1 answered by the user's file, #2 by the
    real model; the two runs are shown side by side from where they part."""
    assert run_python_agent(repo, AGENT, env=_env(fake)).returncode == 0
    original = agitlog_json("log", cwd=repo)[0]["id"]
    answer = tmp_path / "answer.json"
    answer.write_text(json.dumps({"id": "forked", "object": "chat.completion", "created": 0, "model": "fake-model",
                                  "choices": [{"index": 0, "finish_reason": "stop",
                                               "message": {"role": "assistant", "content": "FORKED ANSWER"}}]}))
    calls = len(fake.llm_requests())
    proc = agitlog("rerun", original, "--fork-at", "1", "--answer", str(answer), "--json", cwd=repo, env=_env(fake))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    assert result["fork_at"] == 1 and result["served_calls"] == 1 and result["upstream_calls"] == 1
    assert len(fake.llm_requests()) == calls + 1
    rerun = agitlog_json("show", result["rerun"], cwd=repo)["session"]
    assert tree_files(repo, rerun["steps"]["last"])["answer.txt"] == b"FORKED ANSWER"
    after = result["comparison"]["after_difference"]
    assert [e["type"] for e in after["a"][:2]] == [e["type"] for e in after["b"][:2]] == ["llm.request", "llm.response"]
    assert after["b"][1]["summary"] == "FORKED ANSWER"  # both sides from the fork, the call itself first

    text = agitlog("compare", original, result["rerun"], "--side-by-side", cwd=repo).stdout
    assert "B is a fork of A, forked at model call #1: a given answer there" in text
    assert "A from the fork (model call #1)" in text and " | " in text
    assert agitlog_json("show", result["rerun"], cwd=repo)["session"]["fork"] == {"at": 1, "how": "answer"}
    bad = agitlog("rerun", original, "--fork-at", "9", cwd=repo, env=_env(fake))
    assert bad.returncode == 2 and "made 3 model call" in bad.stderr


RECEIPTS = {"texts": [{"when": "receipts", "text": "A NOTE ABOUT RECEIPTS"}]}


def test_fork_with_an_edited_request_sends_it_upstream_then_goes_live(repo: Path, fake: FakeModel) -> None:
    """`--fork-at 1 --edit PATH=VALUE`: call #0 from the recording (no upstream call), call #1 sent to
    the real model with the agent's request changed at PATH, call #2 live; the fork is recorded as
    such (the edited body in llm.request, `fork` in its data and in the session's metadata) and
    `compare --side-by-side` lines the two runs up from model call #1."""
    fake.script = RECEIPTS
    assert run_python_agent(repo, AGENT, env=_env(fake)).returncode == 0
    original = agitlog_json("log", cwd=repo)[0]["id"]
    before = len(fake.llm_requests())
    proc = agitlog("rerun", original, "--fork-at", "1", "--edit", "$.messages[0].content=Write a note about receipts",
                   "--json", cwd=repo, env=_env(fake))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    assert result["served_calls"] == 1 and result["upstream_calls"] == 2
    assert result["fork"] == {"at": 1, "how": "edit", "paths": ["$.messages[0].content"]}
    upstream = [json.loads(r.body) for r in fake.llm_requests()[before:]]
    assert len(upstream) == 2  # call #0 never left the machine
    assert upstream[0]["messages"][0]["content"] == "Write a note about receipts"
    assert upstream[0]["messages"][1]["tool_calls"]  # the rest is the agent's own request, unchanged
    assert upstream[1]["stream"] is True  # call #2: the agent's own request, live

    rerun = agitlog_json("show", result["rerun"], cwd=repo)
    assert rerun["session"]["fork"] == {"at": 1, "how": "edit", "paths": ["$.messages[0].content"]}
    assert tree_files(repo, rerun["session"]["steps"]["last"])["answer.txt"] == b"A NOTE ABOUT RECEIPTS"
    requests = agitlog_json("show", result["rerun"], "--type", "llm.request", cwd=repo)["events"]
    assert requests[1]["data"]["body"]["messages"][0]["content"] == "Write a note about receipts"
    assert requests[1]["data"]["fork"] == {"at": 1, "how": "edit", "paths": ["$.messages[0].content"]}
    assert "fork" not in requests[0]["data"] and "fork" not in requests[2]["data"]

    text = agitlog("compare", original, result["rerun"], "--side-by-side", cwd=repo).stdout
    assert "B is a fork of A, forked at model call #1: the agent's request edited there ($.messages[0].content)" in text
    header, rule, first = text.split("A from the fork (model call #1)", 1)[1].splitlines()[:3]
    assert "llm.request" in first.split(" | ")[0] and "llm.request" in first.split(" | ")[1]
    compared = json.loads(agitlog("compare", original, result["rerun"], "--json", cwd=repo).stdout)
    assert compared["fork"]["at"] == 1 and compared["after_difference"]["b"][0]["type"] == "llm.request"
    assert "$.data.body.messages[0].content" in [c["path"] for c in compared["first_difference"]["changes"]]


def test_fork_with_a_whole_request_file(repo: Path, fake: FakeModel, tmp_path: Path) -> None:
    """`--request FILE` sends the file's body at the fork, whatever the agent asked; bad input is exit 2."""
    fake.script = RECEIPTS
    assert run_python_agent(repo, AGENT, env=_env(fake)).returncode == 0
    original = agitlog_json("log", cwd=repo)[0]["id"]
    body = {"model": "fake-model", "messages": [{"role": "user", "content": "Only say something about receipts"}]}
    request = tmp_path / "request.json"
    request.write_text(json.dumps(body))
    before = len(fake.llm_requests())
    proc = agitlog("rerun", original, "--fork-at", "1", "--request", str(request), "--json", cwd=repo, env=_env(fake))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    assert result["fork"] == {"at": 1, "how": "request"} and result["served_calls"] == 1
    assert json.loads(fake.llm_requests()[before].body) == body
    rerun = agitlog_json("show", result["rerun"], cwd=repo)["session"]
    assert tree_files(repo, rerun["steps"]["last"])["answer.txt"] == b"A NOTE ABOUT RECEIPTS"

    request.write_text("[1, 2]")
    for args, message in ((["--request", str(request)], "must hold a JSON object"),
                          (["--edit", "messages=x"], "is not a JSON path"),
                          (["--edit", "$.messages"], "expected PATH=VALUE"),
                          (["--edit", "$.model=x", "--answer", str(request)], "exclude each other")):
        bad = agitlog("rerun", original, "--fork-at", "1", *args, cwd=repo, env=_env(fake))
        assert bad.returncode == 2 and message in bad.stderr, bad.stderr
    assert agitlog("rerun", original, "--edit", "$.model=x", cwd=repo).returncode == 2  # needs --fork-at

    # a path that is not in the agent's request: the agent gets an error, nothing goes upstream
    before = len(fake.llm_requests())
    proc = agitlog("rerun", original, "--fork-at", "1", "--edit", "$.messages[9].content=x", "--json",
                   cwd=repo, env=_env(fake))
    result = json.loads(proc.stdout)
    assert result["status"] != "ok" and len(fake.llm_requests()) == before
    errors = agitlog_json("show", result["rerun"], "--type", "error", cwd=repo)["events"]
    assert any("$.messages[9].content: step [9] leads nowhere" in e["data"].get("detail", "") for e in errors)
