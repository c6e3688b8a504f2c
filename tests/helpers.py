"""Helpers for tests: real git, real processes, the installed `agitlog` command."""
from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

AGITLOG = str(Path(sys.executable).parent / "agitlog")


def git(cwd: Path, *args: str, check: bool = True, input: bytes | None = None) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr.decode()}")
    return proc.stdout.decode("utf-8", "surrogateescape")


def init_repo(path: Path) -> Path:
    path.mkdir(parents=True)
    git(path, "-c", "init.defaultBranch=main", "init", "-q")
    return path


# Commands whose process boundary is what they are about: `emit` is an agent's call into a recorder
# (the wire client reads its address when the process starts).
ALWAYS_A_PROCESS = frozenset({"emit"})
_THROUGH_THE_COMMAND: set[tuple[str, str]] = set()


def agitlog(*args: str, cwd: Path, env: dict[str, str] | None = None, input: str | None = None,
            timeout: float = 120, process: bool = False) -> subprocess.CompletedProcess[str]:
    """Run `agitlog` with ``args`` in ``cwd`` and capture what it prints, as a user would see it.

    Through the installed command when the process boundary matters: ``process=True``, stdin
    given, `emit`, a crash-window test's AGITLOG_TEST_CRASH_AT (agitlog kills itself), the first
    call of each command in each test file (so every command a file tests also runs end to end
    there), or AGITLOG_TEST_PROCESS=1 (everything). Otherwise in this process
    through the same entry point, with file descriptors 1 and 2 captured (so child processes'
    output is caught too): start-up is what made the suite slow, not the work under test."""
    command = next((a for a in args if not a.startswith("-")), "")
    test_file = os.environ.get("PYTEST_CURRENT_TEST", "").split("::")[0]
    first_here = (test_file, command) not in _THROUGH_THE_COMMAND
    _THROUGH_THE_COMMAND.add((test_file, command))
    crash_at = "AGITLOG_TEST_CRASH_AT" in os.environ or "AGITLOG_TEST_CRASH_AT" in (env or {})  # SIGKILLs itself
    if process or input is not None or command in ALWAYS_A_PROCESS or first_here or crash_at \
            or os.environ.get("AGITLOG_TEST_PROCESS") == "1":
        full_env = dict(os.environ, **(env or {}))
        return subprocess.run([AGITLOG, *args], cwd=cwd, env=full_env, input=input, capture_output=True,
                              text=True, errors="backslashreplace", timeout=timeout)
    return _agitlog_in_process(list(args), cwd=cwd, env=env or {})


def _agitlog_in_process(args: list[str], *, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    from agitlog.cli import main
    from agitlog.git import process as git_process

    saved_env, saved_cwd, saved_streams, saved_argv = dict(os.environ), os.getcwd(), (sys.stdout, sys.stderr), sys.argv
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        saved_fds = _redirect_fds(out, err)
        try:
            os.environ.update(env)
            git_process._base_env.cache_clear()  # it snapshots the environment on first use
            os.chdir(cwd)
            sys.argv = [AGITLOG, *args]  # as the process would have it (bisect reads its own command line)
            code = main(args)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            sys.stdout, sys.stderr = saved_streams
            sys.argv = saved_argv
            for fd, saved in zip((1, 2), saved_fds):
                os.dup2(saved, fd)
                os.close(saved)
            os.chdir(saved_cwd)
            os.environ.clear()
            os.environ.update(saved_env)
            git_process._base_env.cache_clear()
        texts = []
        for handle in (out, err):
            handle.seek(0)
            texts.append(handle.read().decode("utf-8", "backslashreplace"))
    return subprocess.CompletedProcess([AGITLOG, *args], code, texts[0], texts[1])


def _redirect_fds(out: Any, err: Any) -> tuple[int, int]:
    """Point fds 1 and 2 (and sys.stdout/stderr, as a fresh process has them) at ``out``/``err``."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = (os.dup(1), os.dup(2))
    os.dup2(out.fileno(), 1)
    os.dup2(err.fileno(), 2)
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8", write_through=True)
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8", errors="backslashreplace",
                                  write_through=True)
    return saved


def path_without_agitlog() -> str:
    """The caller's PATH minus every directory holding an `agitlog` command, as on a machine where
    agitlog was installed into a virtualenv that was never activated."""
    kept = [d for d in os.environ.get("PATH", os.defpath).split(os.pathsep)
            if d and not os.access(os.path.join(d, "agitlog"), os.X_OK)]
    return os.pathsep.join(kept)


def agitlog_json(*args: str, cwd: Path) -> Any:
    proc = agitlog(*args, "--json", cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def write_agent(directory: Path, name: str, code: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(code))
    return path


def run_python_agent(repo: Path, code: str, *args: str, name: str = "agent.py", cwd: Path | None = None,
                     env: dict[str, str] | None = None, script_args: tuple[str, ...] = ()
                     ) -> subprocess.CompletedProcess[str]:
    """Write an agent script outside the repo (so it is not part of the snapshots) and record it;
    ``args`` go to `agitlog run`, ``script_args`` to the agent."""
    script = repo.parent / name
    script.write_text(textwrap.dedent(code))
    return agitlog("run", *args, "--", sys.executable, str(script), *script_args, cwd=cwd or repo, env=env)


def user_state(repo: Path) -> dict[str, str]:
    """Everything agitlog promises never to touch, as bytes digests: HEAD, refs other than
    sessions, the index, the stash, config, and the worktree."""
    gitdir = Path(git(repo, "rev-parse", "--absolute-git-dir").strip())
    state = {}
    for rel in ("HEAD", "index", "config", "packed-refs", "logs/HEAD", "logs/refs/stash"):
        file = gitdir / rel
        state[rel] = _digest(file.read_bytes()) if file.exists() else "-"
    refs = git(repo, "for-each-ref", "--format=%(refname) %(objectname)")
    state["refs"] = "\n".join(line for line in refs.splitlines() if not line.startswith("refs/agent-sessions/"))
    for file in sorted(repo.rglob("*")):
        if ".git" in file.relative_to(repo).parts:
            continue
        if file.is_file() or file.is_symlink():
            state["wt:" + str(file.relative_to(repo))] = _digest(
                os.readlink(file).encode() if file.is_symlink() else file.read_bytes())
    return state


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def session_ids(repo: Path) -> list[str]:
    out = git(repo, "for-each-ref", "--format=%(refname)", "refs/agent-sessions/")
    return [line.removeprefix("refs/agent-sessions/") for line in out.splitlines()]


def tree_files(repo: Path, commit: str) -> dict[str, bytes]:
    """path -> content of every blob in a commit's tree."""
    out = subprocess.run(["git", "ls-tree", "-r", "-z", commit], cwd=repo, capture_output=True, check=True).stdout
    files = {}
    for entry in out.split(b"\0"):
        if not entry:
            continue
        info, path = entry.split(b"\t", 1)
        mode, kind, sha = info.split()
        if kind == b"blob":
            content = subprocess.run(["git", "cat-file", "blob", sha], cwd=repo, capture_output=True,
                                     check=True).stdout
            files[os.fsdecode(path)] = content
    return files


def fsck(repo: Path) -> None:
    proc = subprocess.run(["git", "fsck", "--strict", "--no-progress"], cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def unique_prefix(session_id: str, others: list[str]) -> str:
    """The shortest prefix of ``session_id`` no other id starts with (ids made in one second share 16 characters)."""
    for length in range(1, len(session_id) + 1):
        prefix = session_id[:length]
        if not any(other.startswith(prefix) for other in others if other != session_id):
            return prefix
    return session_id
