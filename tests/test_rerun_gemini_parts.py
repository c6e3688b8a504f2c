"""The parts of a Gemini CLI rerun that do not need Gemini CLI (its own end-to-end test,
tests/agents/test_gemini.py, skips where Gemini CLI refuses hook settings, such as a checkout in /tmp):
what differs between two runs of the same session is left out of matching and comparing, and the
sandbox commits with the repository's own identity."""
from __future__ import annotations

import json
from pathlib import Path

from agitlog import git as gitlib
from agitlog.capture.llm.wire import canonical_request
from agitlog.query.compare import normalize_event
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
