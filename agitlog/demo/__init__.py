"""`agitlog demo`: record the bundled payment-reminder agent in a fresh repository, offline."""
from __future__ import annotations

import json
import random
import shlex
import shutil
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterator

from agitlog import git
from agitlog.errors import AgitlogError

AGENT = Path(__file__).with_name("payment_agent.py")
WRONG_FILTER = "days_overdue >= 0"


@dataclass
class DemoResult:
    repo: Path
    session_id: str
    exit_code: int
    lines: list[str] = field(default_factory=list)


def run_demo(*, directory: Path | None) -> DemoResult:
    """Create the demo repository, record the agent with `agitlog run`, and say what to try next."""
    from agitlog.capture.runner import run_recorded

    repo = _make_repo(directory)
    with scripted_model() as base_url, _env(OPENAI_BASE_URL=base_url):
        result = run_recorded(command=[sys.executable, "agent.py"], cwd=repo, name="payment reminders")
    lines = [
        "",
        f"Recorded session {result.session_id} ({result.status}) in {repo}",
        "The agent was asked to remind customers more than 30 days overdue, and emailed far more.",
        "Find out why:",
        *next_steps(repo, result.session_id),
    ]
    return DemoResult(repo=repo, session_id=result.session_id, exit_code=result.exit_code, lines=lines)


def next_steps(repo: Path, session_id: str) -> list[str]:
    """Commands to try, each one working as printed: agitlog is named the way this shell can call it
    (its absolute path when the virtualenv was never activated), and the commands meant for the
    recorded session name it, so they still do after `rerun` has recorded a second one."""
    from agitlog.capture.shim import shell_command

    test = "sh -c 'test $(ls outbox 2>/dev/null | wc -l) -le 6'"
    steps = [
        (shell_command("log"), "the session"),
        (shell_command("show"), "every prompt, response, tool call and decision"),
        (shell_command("show", "--type", "decision"), "what it decided, and why"),
        (shell_command("replay"), "walk it step by step (q quits)"),
        (shell_command("state", "--at", "6"), "what the agent knew when it decided"),
        (shell_command("rerun", session_id), "run it again on the recorded model answers: same bug, every time"),
        (f"{shell_command('bisect', session_id)} -- {test}", "the step that sent too many"),
        (f"git log --oneline refs/agent-sessions/{session_id}^", "the step commits, plain git"),
    ]
    width = max(len(command) for command, _ in steps[:6]) + 2
    return [f"  cd {shlex.quote(str(repo))}"] + [f"  {command.ljust(width)} # {why}" for command, why in steps]


def _make_repo(directory: Path | None) -> Path:
    if directory is None:
        repo = Path(tempfile.mkdtemp(prefix="agitlog-demo-"))
    else:
        repo = directory.absolute()
        if repo.exists() and any(repo.iterdir()):
            raise AgitlogError(f"{repo} is not empty", hint="give a new or empty directory")
        repo.mkdir(parents=True, exist_ok=True)
    git.git(repo, "init", "-q")
    _write_project(repo)
    git.git(repo, "add", "-A")
    git.git(repo, "-c", "user.name=Demo", "-c", "user.email=demo@example.com", "-c", "commit.gpgsign=false",
            "commit", "-q", "-m", "Billing project with a payment-reminder agent")
    return repo


def _write_project(repo: Path) -> None:
    shutil.copyfile(AGENT, repo / "agent.py")
    rng = random.Random(7)
    rows = ["id,name,email,days_overdue"]
    for i in range(1, 61):
        days = rng.choice([0, 0, 3, 7, 12, 15, 21, 28]) if i % 10 else rng.choice([35, 45, 62, 90])
        rows.append(f"c{i:03d},Customer {i},customer{i}@example.com,{days}")
    (repo / "customers.csv").write_text("\n".join(rows) + "\n")
    (repo / ".gitignore").write_text("__pycache__/\n")
    (repo / "README.md").write_text("# Billing\n\n`agent.py` sends payment reminders to overdue customers.\n")


@contextmanager
def scripted_model(answer: Callable[[dict[str, Any]], str] = lambda _request: WRONG_FILTER, *,
                   latency: float = 0.0) -> Iterator[str]:
    """A local OpenAI-compatible Chat Completions server answering ``answer(request)`` after ``latency``
    seconds; yields its base URL. The demo's model, and the benchmarks' slow one."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length", 0))
            request = json.loads(self.rfile.read(length) or b"{}")
            time.sleep(latency)
            body = json.dumps({
                "id": "chatcmpl-demo", "object": "chat.completion", "created": 0,
                "model": request.get("model", "demo-gpt"),
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": answer(request)}}],
                "usage": {"prompt_tokens": 57, "completion_tokens": 6, "total_tokens": 63},
            }).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def _env(**values: str) -> Iterator[None]:
    import os

    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
