"""`agitlog run`'s fast path (issue 9): what it leaves for later must still be there when needed.

- The LLM proxy and the OTLP receiver are bound at once but built only on first use.
- start.json is made durable on a thread, but before any event is promised durable.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from agitlog.git import find_repo
from agitlog.store.sessions import SessionStore
from helpers import agitlog, session_ids
from localhttp import QuietHandler, serving, url

CHILD_REPORT = """
import json, sys
from agitlog.capture.runner import run_recorded
from pathlib import Path
result = run_recorded(command=sys.argv[1:], cwd=Path.cwd())
print(json.dumps({"exit": result.exit_code, "status": result.status, "session": result.session_id,
                  "proxy_loaded": "agitlog.capture.llm.proxy.server" in sys.modules,
                  "otlp_loaded": "agitlog.capture.otlp" in sys.modules,
                  "http_server_loaded": "http.server" in sys.modules}))
"""

CALLER = """
import json, os, urllib.error, urllib.request
def status(url, body=None):
    request = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
otlp = status(os.environ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"], json.dumps({"resourceSpans": []}).encode())
models = status(os.environ["OPENAI_BASE_URL"] + "/models")
forbidden = status(os.environ["AGITLOG_PROXY"].rsplit("/", 1)[0] + "/not-the-secret/openai/models")
print(json.dumps({"otlp": otlp, "models": models, "forbidden": forbidden}))
"""


def _run_in_fresh_interpreter(repo: Path, *command: str) -> dict[str, object]:
    proc = subprocess.run([sys.executable, "-c", CHILD_REPORT, *command], cwd=repo, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_a_run_that_never_calls_a_model_never_builds_the_capture_servers(repo: Path) -> None:
    report = _run_in_fresh_interpreter(repo, "true")
    assert report["exit"] == 0 and report["status"] == "ok"
    assert not report["proxy_loaded"] and not report["otlp_loaded"] and not report["http_server_loaded"]
    assert session_ids(repo) == [report["session"]]


class _Upstream(QuietHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.reply(b'{"object": "list", "data": []}')


def test_the_first_connection_builds_both_servers_on_the_bound_ports(repo: Path) -> None:
    script = repo.parent / "caller.py"
    script.write_text(textwrap.dedent(CALLER))
    with serving(_Upstream) as upstream:
        env = {**os.environ, "OPENAI_BASE_URL": url(upstream, "/v1")}
        proc = subprocess.run([sys.executable, "-c", CHILD_REPORT, sys.executable, str(script)], cwd=repo,
                              capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    calls, report = json.loads(lines[-2]), json.loads(lines[-1])
    # served at once by servers built on demand: the receiver accepts the upload, the proxy relays
    # to the upstream, and still refuses a request without its secret
    assert calls == {"otlp": 200, "models": 200, "forbidden": 403}
    assert report["proxy_loaded"] and report["otlp_loaded"] and report["status"] == "ok"
    store = SessionStore.open(find_repo(repo))
    events = store.events(store.resolve(str(report["session"])))
    requests = [e for e in events if e["type"].endswith(".request")]
    assert len(requests) == 1 and requests[0]["data"]["path"] == "/models"  # the refused one is not recorded


def test_start_json_is_durable_before_any_event_is(tmp_path: Path, monkeypatch) -> None:
    """The fsync of start.json runs on a thread; the event log's first fsync waits for it, so an
    acknowledged event can never outlive (on a power cut) the session it belongs to."""
    import agitlog.store.journal as journal_module

    order: list[str] = []
    real_fsync = os.fsync

    def slow_spy(fd: int) -> None:
        name = os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))
        if name.startswith("start.json"):
            time.sleep(0.3)  # a slow disk: the event below is written meanwhile
        real_fsync(fd)
        order.append("start" if name.startswith("start.json") else name)

    monkeypatch.setattr(journal_module.os, "fsync", slow_spy)
    state = tmp_path / "state"
    journal, lock_fd = journal_module.create_journal(state, "20261130-000000-abcdef")
    try:
        journal.write_start({"id": journal.session_id})
        log = journal_module.EventLog(journal.events_file, before_sync=journal.wait_durable)
        log.append(b'{"seq": 0}\n', durable=True)
        log.close()
        assert order == ["start", "events.jsonl"]
        assert json.loads((journal.path / "start.json").read_text()) == {"id": journal.session_id}
        assert not [p for p in journal.path.iterdir() if ".tmp" in p.name]
    finally:
        os.close(lock_fd)


def test_start_json_is_in_place_before_the_child_starts(repo: Path) -> None:
    """start_session returns only once start.json is durable and under its name."""
    probe = "import glob, json; print(json.dumps(sorted(glob.glob('.git/agitlog/journal/*/start.json*'))))"
    proc = subprocess.run([sys.executable, "-c", CHILD_REPORT, sys.executable, "-c", probe], cwd=repo,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    seen, report = (json.loads(line) for line in proc.stdout.strip().splitlines()[-2:])
    assert seen == [f".git/agitlog/journal/{report['session']}/start.json"]


def test_threads_left_by_a_run_are_only_daemons(repo: Path) -> None:
    """Nothing a run starts keeps the interpreter alive (agitlog.session() in a program returns)."""
    code = textwrap.dedent("""
        import threading, json, sys
        from pathlib import Path
        from agitlog.capture.runner import run_recorded
        run_recorded(command=["true"], cwd=Path.cwd())
        print(json.dumps([t.name for t in threading.enumerate() if not t.daemon and t is not threading.main_thread()]))
    """)
    proc = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []


def test_secret_file_patterns_match_as_fnmatch_does() -> None:
    """The snapshot's regex-free shortcut for simple patterns agrees with fnmatchcase everywhere."""
    from fnmatch import fnmatchcase

    from agitlog.capture.snapshot import _name_matches
    from agitlog.constants import DEFAULT_SECRET_FILES

    patterns = [*DEFAULT_SECRET_FILES, "*", "**", "*x*", "a*b", "[ab]c", "?x", "***.pem", "", "*.tar.gz"]
    names = [".env", ".env.local", "a.pem", "pem", ".pem", "id_rsa", "id_rsa.pub", "x", "", "ab", "axb", "bc",
             "zx", "env", "a.key", "key", "A.PEM", "b.tar.gz", "id_ed25519_sk"]
    assert [(n, p) for p in patterns for n in names if _name_matches(n, p) != fnmatchcase(n, p)] == []


def test_a_run_that_cannot_start_leaves_no_journal(repo: Path) -> None:
    """Step 0 starts before the recording modules load (agitlog.capture.early): a run refused after
    that (an unknown adapter) removes what it opened, and one whose command is missing opens nothing."""
    journals = repo / ".git" / "agitlog" / "journal"
    missing = agitlog("run", "--", "no-such-command-xyz", cwd=repo)
    assert missing.returncode == 127, missing.stderr
    unknown = agitlog("run", "--adapter", "no-such-adapter", "--", "true", cwd=repo)
    assert unknown.returncode == 2 and "unknown adapter" in unknown.stderr, unknown.stderr
    assert not journals.exists() or os.listdir(journals) == []
    assert session_ids(repo) == []
    fine = agitlog("run", "--", "sh", "-c", "echo changed > README.md", cwd=repo)
    assert fine.returncode == 0, fine.stderr
    (listed,) = json.loads(agitlog("log", "--json", cwd=repo).stdout)
    assert (listed["steps"], listed["files_changed"]) == (2, 1)  # step 0 (the worktree before) and the change


# What `agitlog run -- true` must not load (issue 9: <= 2.5x `git stash create`): typing and
# dataclasses (agitlog.datatypes and TYPE_CHECKING imports keep them away), socket (the listeners
# come from capture/loopback.py), subprocess (git and the child start with os.posix_spawn), shlex,
# and the LLM proxy and OTLP servers (built on the first connection only).
RUN_HEAVY = ("typing", "dataclasses", "inspect", "socket", "subprocess", "selectors", "shlex", "tomllib",
             "agitlog.capture.llm.capture", "agitlog.capture.otlp", "http.server")


def test_a_plain_run_loads_none_of_the_heavy_modules(repo: Path) -> None:
    code = ("import re, sys, json\nfrom agitlog.cli import main\ncode = main(sys.argv[1:])\n"
            f"print(json.dumps([m for m in {RUN_HEAVY!r} if m in sys.modules]), file=sys.stderr)\nsys.exit(code)\n")
    proc = subprocess.run([sys.executable, "-c", code, "run", "-q", "--", "sh", "-c", "echo x > new.txt"], cwd=repo,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stderr.strip().splitlines()[-1]) == []
    (listed,) = json.loads(agitlog("log", "--json", cwd=repo).stdout)
    assert listed["files_changed"] == 1
