"""A recorded agent can always call the agitlog that records it (agitlog.capture.shim), however agitlog
was started and whatever the caller's PATH holds."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from agitlog.capture import shim
from helpers import AGITLOG, agitlog, agitlog_json, path_without_agitlog

SHELL_AGENT = """
agitlog emit log message=plain
"$AGITLOG_BIN" emit log message=absolute
agitlog run --quiet --name inner -- sh -c 'agitlog emit log message=nested'
printf '%s\\n' "$PATH" > path.txt
command -v python3 > python.txt || true
"""


def _log_messages(repo: Path, session: str) -> list[str]:
    events = agitlog_json("show", session, "--type", "log", cwd=repo)["events"]
    return [e["data"]["message"] for e in events]


@pytest.mark.parametrize("how", ["console script", "python -m agitlog"])
def test_agent_reaches_agitlog_without_it_on_path(repo: Path, how: str) -> None:
    script = repo.parent / "agent.sh"
    script.write_text(SHELL_AGENT)
    env = dict(os.environ, PATH=path_without_agitlog())
    launcher = [AGITLOG] if how == "console script" else [sys.executable, "-m", "agitlog"]
    proc = subprocess.run([*launcher, "run", "--name", "outer", "--", "sh", str(script)], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    rows = {row["title"]: row for row in agitlog_json("log", cwd=repo)}
    assert _log_messages(repo, rows["outer"]["id"]) == ["plain", "absolute"]
    assert _log_messages(repo, rows["inner"]["id"]) == ["nested"]
    assert rows["inner"]["meta"]["parent_session"] == rows["outer"]["id"]
    # only an `agitlog` command is added to the agent's PATH, once, before the caller's own entries
    first, *rest = (repo / "path.txt").read_text().strip().split(os.pathsep)
    assert os.listdir(first) == ["agitlog"] and rest == env["PATH"].split(os.pathsep)
    python = (repo / "python.txt").read_text().strip()
    assert not python or Path(python).parent != Path(sys.executable).parent


def test_in_process_session_lets_subprocesses_emit(repo: Path) -> None:
    code = f"""
import agitlog, os, subprocess
os.chdir({str(repo)!r})
before = os.environ["PATH"]
with agitlog.session("self-recorded") as sid:
    subprocess.run(["agitlog", "emit", "log", "message=from-child"], check=True)
    subprocess.run([os.environ["AGITLOG_BIN"], "emit", "log", "message=by-path"], check=True)
assert os.environ["PATH"] == before and "AGITLOG_BIN" not in os.environ
print(sid)
"""
    script = repo.parent / "solo.py"
    script.write_text(code)
    env = dict(os.environ, PATH=path_without_agitlog())
    out = subprocess.run([sys.executable, str(script)], cwd=repo.parent, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert _log_messages(repo, out.stdout.strip()) == ["from-child", "by-path"]


def test_shim_without_a_console_script_runs_this_python(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shim, "console_script", lambda: None)  # e.g. agitlog on PYTHONPATH, not installed
    made = shim.ensure_shim(tmp_path / "state")
    assert made is not None and not made.is_symlink()
    assert shim.ensure_shim(tmp_path / "state") == made  # written once, found again
    out = subprocess.run([str(made), "--version"], capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, PATH="/usr/bin:/bin"))
    assert out.returncode == 0 and out.stdout.startswith("agitlog ")
    env = shim.child_env({"PATH": "/usr/bin:/bin"}, made)
    assert env["PATH"] == f"{made.parent}:/usr/bin:/bin" and env["AGITLOG_BIN"] == str(made)
    assert shim.child_env(env, made)["PATH"] == env["PATH"]  # a nested run does not add it twice


def test_shim_in_a_read_only_place_leaves_path_alone(tmp_path: Path) -> None:
    blocker = tmp_path / "state"
    blocker.write_text("a file where a directory should be")
    assert shim.ensure_shim(blocker) is None
    assert shim.child_env({"PATH": "/usr/bin"}, None) == {"PATH": "/usr/bin"}


def test_printed_commands_work_as_printed(repo: Path, tmp_path: Path) -> None:
    """The run summary and the demo name agitlog the way this shell can call it."""
    demo = tmp_path / "demo"
    proc = agitlog("demo", str(demo), cwd=tmp_path, env={"PATH": path_without_agitlog()})
    assert proc.returncode == 0, proc.stderr
    commands = [line.split("#")[0].strip() for line in proc.stdout.splitlines() if line.startswith("  ")]
    assert commands[0] == f"cd {demo}"
    assert all(c.startswith((AGITLOG, "git ")) for c in commands[1:]), commands
    show = next(c for c in commands if c.startswith(f"{AGITLOG} show"))
    out = subprocess.run(show, shell=True, cwd=demo, capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, PATH=path_without_agitlog()))
    assert out.returncode == 0 and "payment reminders" in out.stdout, out.stderr
    # with agitlog on PATH, the plain word is shorter and works
    on_path = agitlog("run", "--", "true", cwd=repo, env={"PATH": f"{Path(AGITLOG).parent}:/usr/bin:/bin"})
    assert "`agitlog show 20" in on_path.stderr
    off_path = agitlog("run", "--", "true", cwd=repo, env={"PATH": path_without_agitlog()})
    assert f"`{AGITLOG} show 20" in off_path.stderr
