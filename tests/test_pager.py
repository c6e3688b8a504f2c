"""The pager: long output on a terminal goes through $GIT_PAGER / $PAGER / less (LESS=FRX), as in git;
pipes and --no-pager never page. Through the installed command, on a real pseudo-terminal."""
from __future__ import annotations

import os
import pty
import subprocess
from pathlib import Path

import pytest

from agitlog.cli.pager import pager_command
from helpers import AGITLOG, agitlog, agitlog_json, session_ids
from team_agents import calc_repo, check_command, record_step_agent

# the shared fixture is costly: the whole file runs on one worker (--dist loadgroup)
pytestmark = pytest.mark.xdist_group("test_pager")


@pytest.fixture(scope="session")  # not "module": xdist may interleave other files, which tears it down
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = calc_repo(tmp_path_factory.mktemp("pager") / "repo")
    record_step_agent(repo)
    return repo


def _fake_pager(directory: Path) -> tuple[Path, Path]:
    """A pager that writes what it is given (and the LESS it saw) to a file."""
    out = directory / "paged.txt"
    script = directory / "fake-pager"
    script.write_text(f'#!/bin/sh\necho "LESS=$LESS" > "{out}"\ncat >> "{out}"\n')
    script.chmod(0o755)
    return script, out


def _on_pty(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    """Run the installed command with its stdout on a pseudo-terminal; what reached the terminal."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([AGITLOG, *args], cwd=cwd, env={**os.environ, **env}, stdin=subprocess.DEVNULL,
                            stdout=slave, stderr=subprocess.PIPE)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: every writer of the terminal is gone
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    proc.stderr.read()
    return proc.wait(timeout=120), b"".join(chunks).decode("utf-8", "replace")


def test_pager_choice_follows_git() -> None:
    assert pager_command({}) == "less"
    assert pager_command({"PAGER": "most"}) == "most"
    assert pager_command({"PAGER": "most", "GIT_PAGER": "less -S"}) == "less -S"
    assert pager_command({"GIT_PAGER": "cat", "PAGER": "most"}) is None
    assert pager_command({"GIT_PAGER": ""}) is None


def test_a_long_stat_is_cut_to_a_screen_unless_every_file_is_asked_for() -> None:
    from agitlog.cli.render_sessions import stat_lines

    files = [(4, 0, f"outbox/{n:03}.eml") for n in range(12)] + [(None, None, "logo.png")]
    short = stat_lines(files)
    assert short[:2] == ["  outbox/000.eml  +4 -0", "  outbox/001.eml  +4 -0"] and len(short) == 10
    assert short[-1] == "  … and 4 more files  +12 -0"
    assert len(stat_lines(files, every=True)) == 13 and stat_lines(files, every=True)[-1] == "  logo.png  binary"
    assert stat_lines(files[:10]) == stat_lines(files[:10], every=True)


def test_output_on_a_terminal_goes_through_the_pager(recorded: Path, tmp_path: Path) -> None:
    script, out = _fake_pager(tmp_path)
    [sid] = session_ids(recorded)
    code, terminal = _on_pty(["show"], recorded, {"GIT_PAGER": str(script), "PAGER": "false"})
    assert code == 0
    paged = out.read_text()
    assert paged.startswith("LESS=FRX\n")
    assert f"session   {sid}" in paged and "rewrite calc 3" in paged
    assert "rewrite calc 3" not in terminal  # the command itself wrote nothing to the terminal


def test_user_less_settings_and_pager_are_kept(recorded: Path, tmp_path: Path) -> None:
    script, out = _fake_pager(tmp_path)
    code, _ = _on_pty(["log"], recorded, {"PAGER": str(script), "LESS": "-S"})
    assert code == 0
    session = agitlog_json("log", cwd=recorded)[0]["id"]  # ids are never wrapped; the command may fold
    assert out.read_text().startswith("LESS=-S\n") and session in out.read_text()


def test_pipes_and_no_pager_are_never_paged(recorded: Path, tmp_path: Path) -> None:
    script, out = _fake_pager(tmp_path)
    proc = agitlog("show", cwd=recorded, env={"GIT_PAGER": str(script)})
    assert proc.returncode == 0 and "rewrite calc 3" in proc.stdout
    assert not out.exists()
    code, terminal = _on_pty(["show", "--no-pager"], recorded, {"GIT_PAGER": str(script)})
    assert code == 0 and "rewrite calc 3" in terminal
    assert not out.exists()


def test_bisect_prints_a_stat_first_and_the_patch_on_request(recorded: Path, tmp_path: Path) -> None:
    proc = agitlog("bisect", "--", *check_command(), cwd=recorded)
    assert proc.returncode == 0, proc.stderr
    assert "step 3 changed 1 file:\n  app/calc.py  +1 -1" in proc.stdout
    assert "diff --git" not in proc.stdout and "--patch" in proc.stdout
    proc = agitlog("bisect", "-p", "--", *check_command(), cwd=recorded)
    assert "diff --git a/app/calc.py b/app/calc.py" in proc.stdout
    script, out = _fake_pager(tmp_path)
    code, _ = _on_pty(["bisect", "--", *check_command()], recorded, {"GIT_PAGER": str(script)})
    assert code == 0 and "first bad step: 3" in out.read_text()


def test_quitting_the_pager_early_ends_the_output_quietly(repo: Path, tmp_path: Path) -> None:
    from helpers import run_python_agent

    agent = """
        import agitlog, pathlib
        with agitlog.tool("write_big"):
            pathlib.Path("big.txt").write_text("".join(f"row {i:>6} of the big file\\n" for i in range(20000)))
    """
    assert run_python_agent(repo, agent).returncode == 0
    for command in (["diff"], ["replay", "--plain", "--diffs"]):  # rich output, then plain lines
        code, terminal = _on_pty(command, repo, {"GIT_PAGER": "head -1"})  # reads a little, then quits
        assert code == 0, command
        assert "row  19999" not in terminal and "Traceback" not in terminal
