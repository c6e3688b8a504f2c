"""The everyday commands stay light: `version`, `--version` and `emit` never load the CLI framework
(typer, click) or the SDK, and `emit` speaks the wire protocol with the standard library alone.
Asserted on the modules loaded, never on times (bench/bench_everyday.py measures those)."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from agitlog.constants import VERSION
from helpers import agitlog

HEAVY = ("typer", "click", "rich", "typing", "dataclasses", "agitlog.capture.sdk", "agitlog.capture.recorder")


def _loaded_after(args: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> tuple[list[str], str]:
    """Run agitlog's entry point on ``args`` in a fresh interpreter; (heavy modules it loaded, stdout)."""
    code = ("import sys, json\nfrom agitlog.cli import main\ncode = main(sys.argv[1:])\n"
            f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]), file=sys.stderr)\nsys.exit(code)\n")
    proc = subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, env=dict(os.environ, **(env or {})),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stderr.strip().splitlines()[-1]), proc.stdout


def test_version_and_dash_dash_version_skip_the_cli_framework(tmp_path: Path) -> None:
    for args in (["version"], ["--version"]):
        loaded, out = _loaded_after(args, cwd=tmp_path)
        assert out == f"agitlog {VERSION}\n"
        assert loaded == []
    proc = agitlog("--version", cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout == f"agitlog {VERSION}\n"


def test_emit_sends_its_event_with_the_standard_library_only(tmp_path: Path) -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    env = {"AGITLOG_ADDR": f"127.0.0.1:{port}", "AGITLOG_TOKEN": "secret-token", "AGITLOG_SPAN": "0123456789abcdef",
           "AGITLOG_AGENT": "shell", "AGITLOG_DECISION": "d-42"}  # started inside a decision's scope
    with server:
        loaded, _ = _loaded_after(["emit", "decision", "choice=retry", "n=3"], cwd=tmp_path, env=env)
        conn, _ = server.accept()
        with conn, conn.makefile("rb") as reader:
            token = reader.readline()
            draft = json.loads(reader.readline())
    assert loaded == []
    assert token == b"secret-token\n"
    assert draft["type"] == "decision" and draft["data"] == {"choice": "retry", "n": 3, "decision_id": "d-42"}
    assert draft["span"] == "0123456789abcdef" and draft["agent"] == "shell"
    assert isinstance(draft["pid"], int) and draft["ts"].endswith("Z") and len(draft["ts"]) == 27
