"""The parts of Gemini CLI support that do not need Gemini CLI (its own end-to-end tests,
tests/agents/test_gemini.py, skip where Gemini CLI refuses hook settings, such as a checkout in /tmp):
what differs between two runs of the same session is left out of matching and comparing, the
sandbox commits with the repository's own identity, and a recorded generateContent request reads
as a conversation."""
from __future__ import annotations

import json
from pathlib import Path

from agitlog import git as gitlib
from agitlog.capture.llm.wire import canonical_request
from agitlog.query.compare import normalize_event
from agitlog.query.prompts import Message, normalize_request
from agitlog.query.summaries import event_summary
from agitlog.rerun.sandbox import make_sandbox
from helpers import git


def _request(call_id: str) -> bytes:
    return json.dumps({"contents": [
        {"role": "model", "parts": [{"functionCall": {"id": call_id, "name": "write_file", "args": {"a": 1}}}]},
        {"role": "user", "parts": [{"functionResponse": {"id": call_id, "name": "write_file",
                                                         "response": {"output": "Process Group PGID: 4242"}}}]},
    ]}).encode()


def test_gemini_call_ids_and_process_ids_do_not_make_a_divergence() -> None:
    first, second = _request("write_file__write_file_1796024428836_0"), _request("write_file__write_file_1796024456320_0")
    assert canonical_request(first) == canonical_request(second)
    assert canonical_request(first) != canonical_request(first.replace(b'"a": 1', b'"a": 2'))


def test_tool_results_compare_without_process_ids() -> None:
    def result(pgid: int, output: str = "(empty)") -> dict:
        text = f"Output: {output}\nProcess Group PGID: {pgid}\nBackground PIDs: {pgid + 1}, {pgid + 2}"
        return {"type": "tool.result", "data": {"tool": "run_shell_command", "result": {"llmContent": text}}}

    assert normalize_event(result(28043)) == normalize_event(result(29121))
    assert normalize_event(result(28043)) != normalize_event(result(28043, output="1 notes.txt"))


def test_sandbox_commits_as_the_repository_does(repo: Path) -> None:
    git(repo, "config", "user.name", "Repo Person")
    git(repo, "config", "user.email", "repo@example.com")
    handle = gitlib.find_repo(repo)
    head = git(repo, "rev-parse", "HEAD").strip()
    sandbox = make_sandbox(handle, base=head, branch="main", step0=head)
    try:
        # in the clone's own config: Gemini CLI's shell tool reads no global config at all
        assert git(sandbox.root, "config", "--local", "user.email").strip() == "repo@example.com"
        assert git(sandbox.root, "config", "--local", "user.name").strip() == "Repo Person"
    finally:
        sandbox.remove()


def test_a_gemini_request_reads_as_a_conversation() -> None:
    body = {"systemInstruction": {"role": "user", "parts": [{"text": "You are Gemini CLI."}]},
            "contents": [{"role": "user", "parts": [{"text": "make notes"}]},
                         {"role": "model", "parts": [{"text": "Next."},
                                                     {"functionCall": {"name": "write_file", "args": {"a": 1}}}]},
                         {"role": "user", "parts": [{"functionResponse": {"name": "write_file",
                                                                          "response": {"output": "ok"}}}]}]}
    data = {"model": "gemini-2.5-flash", "api": "generateContent", "body": body}
    prompt = normalize_request(data)
    assert prompt.system == "You are Gemini CLI."
    assert prompt.messages == [Message("user", "make notes"), Message("assistant", 'Next.\n→ write_file({"a": 1})'),
                               Message("tool", '[tool result write_file] {"output": "ok"}')]
    assert event_summary({"type": "llm.request", "data": data}).startswith("gemini-2.5-flash 3 msg: ")
