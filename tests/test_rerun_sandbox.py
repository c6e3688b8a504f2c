"""A rerun is sealed, and looks like the original run from inside (issue 12, items 3 and 4).

The recorded answer tells the agent to write to an *absolute* path in the original worktree (as
Claude Code's tool calls do); the agent's prompt embeds its directory, branch, `git status`, recent
commits and today's date (as Claude Code's system prompt does). The rerun happens on a later day
(libfaketime), after the user deleted the file the agent wrote: it must reproduce with no model
call, and leave the user's worktree and repository byte for byte as they were.
"""
from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from helpers import agitlog, agitlog_json, git, run_python_agent, tree_files, user_state
from localhttp import QuietHandler, serving

FAKETIME_LIB = next(iter(Path("/usr/lib").glob("*/faketime/libfaketime.so.1")), None)

AGENT = """
import datetime, json, os, pathlib, subprocess, urllib.request

def sh(*args):
    return subprocess.run(args, capture_output=True, text=True).stdout

def ask(messages):
    body = json.dumps({"model": "m", "messages": messages}).encode()
    request = urllib.request.Request(os.environ["OPENAI_BASE_URL"] + "/chat/completions", data=body,
                                     headers={"Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(request).read())["choices"][0]["message"]["content"]

system = (f"cwd: {os.getcwd()}\\nbranch: {sh('git', 'branch', '--show-current')}"
          f"status:\\n{sh('git', 'status', '--porcelain')}recent commits:\\n{sh('git', 'log', '--format=%H %s', '-3')}"
          f"today: {datetime.date.today().isoformat()}")
messages = [{"role": "system", "content": system}, {"role": "user", "content": "write hello.py"}]
answer = ask(messages)
tool = json.loads(answer)
pathlib.Path(tool["file_path"]).write_text(tool["content"])       # an absolute path, from the model
messages += [{"role": "assistant", "content": answer}, {"role": "user", "content": "written"}]
print(ask(messages))
"""


class _Model(QuietHandler):
    """Answers the first request with a Write tool call holding an absolute path, then 'done'."""

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        length = int(self.headers["Content-Length"])
        request = json.loads(self.rfile.read(length))
        server = self.server
        server.requests.append(request)  # type: ignore[attr-defined]
        if len(request["messages"]) == 2:
            content = json.dumps({"file_path": f"{server.repo}/hello.py", "content": "print('hello')\n"})  # type: ignore[attr-defined]
        else:
            content = "done"
        body = json.dumps({"id": "x", "object": "chat.completion", "model": "m", "choices": [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}]}).encode()
        self.reply(body)


@pytest.fixture
def model(repo: Path) -> Iterator[ThreadingHTTPServer]:
    with serving(_Model, requests=[], repo=str(repo)) as server:
        yield server


def _env(model: ThreadingHTTPServer, **extra: str) -> dict[str, str]:
    return {"OPENAI_BASE_URL": f"http://127.0.0.1:{model.server_address[1]}/v1", "OPENAI_API_KEY": "k", **extra}


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs util-linux unshare (Linux mount namespaces)")
@pytest.mark.skipif(FAKETIME_LIB is None, reason="needs libfaketime (Debian package faketime; .ci/run installs it)")
def test_rerun_on_a_later_day_in_a_dirty_repo_is_sealed_and_reproduces(
        repo: Path, model: ThreadingHTTPServer) -> None:
    (repo / "README.md").write_text("# demo, edited but not committed\n")
    (repo / "notes.txt").write_text("untracked\n")
    git(repo, "checkout", "-q", "-b", "feature/reminders")
    proc = run_python_agent(repo, AGENT, env=_env(model))
    assert proc.returncode == 0, proc.stderr
    original = agitlog_json("log", cwd=repo)[0]
    assert (repo / "hello.py").read_text() == "print('hello')\n"
    recorded_system = model.requests[0]["messages"][0]["content"]  # type: ignore[attr-defined]
    assert f"cwd: {repo}" in recorded_system and "branch: feature/reminders" in recorded_system
    assert " M README.md" in recorded_system and "?? notes.txt" in recorded_system

    (repo / "hello.py").unlink()                 # the user deletes what the agent wrote, then reruns
    (repo / "other.txt").write_text("the user's own work since\n")
    before = user_state(repo)
    calls = len(model.requests)  # type: ignore[attr-defined]
    proc = agitlog("rerun", original["id"], "--json", cwd=repo,
                   env=_env(model, LD_PRELOAD=str(FAKETIME_LIB), FAKETIME="+3d"))
    result = json.loads(proc.stdout)
    assert proc.returncode == 0 and result["reproduced"] is True, proc.stdout + proc.stderr
    assert result["upstream_calls"] == 0 and result["served_calls"] == 2
    assert len(model.requests) == calls  # type: ignore[attr-defined]
    assert user_state(repo) == before and not (repo / "hello.py").exists()  # sealed
    rerun = agitlog_json("show", result["rerun"], cwd=repo)["session"]
    assert tree_files(repo, rerun["steps"]["last"]) == tree_files(repo, original["meta"]["steps"]["last"])
    assert rerun["git"]["branch"] == "feature/reminders"


def test_rerun_without_namespaces_maps_paths_and_still_reproduces(repo: Path, model: ThreadingHTTPServer,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Where mount namespaces are unavailable, the agent runs at the sandbox's own path: recorded
    answers are pointed there, and requests are matched with the path mapped back."""
    proc = run_python_agent(repo, AGENT, env=_env(model))
    assert proc.returncode == 0, proc.stderr
    original = agitlog_json("log", cwd=repo)[0]["id"]
    (repo / "hello.py").unlink()
    before = user_state(repo)
    proc = agitlog("rerun", original, "--json", cwd=repo, env=_env(model, AGITLOG_RERUN_ISOLATION="none"))
    result = json.loads(proc.stdout)
    assert proc.returncode == 0 and result["reproduced"] is True, proc.stdout + proc.stderr
    assert result["isolation"] == "none" and result["upstream_calls"] == 0
    assert user_state(repo) == before and not (repo / "hello.py").exists()
