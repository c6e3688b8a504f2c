"""Shared helpers for the benchmarks: scratch repositories, timers, and ratio reports.

Absolute times on shared machines are noise; every benchmark prints ratios against git's own
plumbing measured in the same run, on the same repository."""
from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))

AGITLOG = str(Path(sys.executable).parent / "agitlog")


def scratch_repo(name: str) -> Path:
    """A fresh repository with one commit, isolated from the user's git config."""
    root = Path(tempfile.mkdtemp(prefix=f"agitlog-bench-{name}-"))
    repo = root / "repo"
    repo.mkdir()
    run(repo, "git", "-c", "init.defaultBranch=main", "init", "-q")
    (repo / "README.md").write_text("bench\n")
    run(repo, "git", "add", "README.md")
    run(repo, "git", "commit", "-q", "-m", "init")
    return repo


def bench_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_") and k != "PYTHONDONTWRITEBYTECODE"}
    # Measure what users get: pip compiles bytecode at install time. With PYTHONDONTWRITEBYTECODE
    # set (some containers do) every command would recompile agitlog's modules on each run.
    env["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "agitlog-bench-pycache")
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="bench@example.com",
               GIT_COMMITTER_NAME="bench", GIT_COMMITTER_EMAIL="bench@example.com", NO_COLOR="1")
    return env


def run(cwd: Path, *cmd: str, input: bytes | None = None) -> bytes:
    proc = subprocess.run(cmd, cwd=cwd, env=bench_env(), input=input, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.decode()}")
    return proc.stdout


def timed(fn: Callable[[], object], *, repeat: int = 7) -> float:
    """Median wall time of ``repeat`` runs, after one warm-up run."""
    return median_time(fn, runs=repeat, warmup=1)


def report_rows(rows: Sequence[tuple[str, float, str, float]], *, target: tuple[str, float] | None = None) -> None:
    """rows: (what, seconds, baseline name, baseline seconds)."""
    for what, seconds, base_name, base_seconds in rows:
        ratio = seconds / base_seconds if base_seconds else float("inf")
        print(f"{what:<48} {seconds * 1000:9.1f} ms   {base_name:<34} {base_seconds * 1000:8.1f} ms"
              f"   ratio {ratio:6.1f}x")
    if target:
        name, limit = target
        seconds = dict((row[0], row[1]) for row in rows)[name]
        verdict = "MEETS" if seconds <= limit else "MISSES"
        print(f"target: {name} <= {limit * 1000:.0f} ms -> {verdict} ({seconds * 1000:.1f} ms)")


def cleanup(repo: Path) -> None:
    if "--keep" not in sys.argv:
        shutil.rmtree(repo.parent, ignore_errors=True)
    else:
        print(f"kept {repo}")


GIT_ENV: dict[str, str] = {}  # filled below from bench_env(): what users get, bytecode cached


def agitlog_command() -> str:
    """The installed `agitlog` next to this Python, else the one on PATH."""
    local = Path(sys.executable).parent / "agitlog"
    return str(local) if local.exists() else (shutil.which("agitlog") or "agitlog")


def git(cwd: Path, *args: str, input: bytes | None = None) -> bytes:
    return subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, input=input, check=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE).stdout


def make_repo(files: int, *, modified: int = 5, untracked: int = 5) -> Path:
    """A repository with ``files`` committed files in 100-file directories, a few modified and untracked."""
    root = Path(tempfile.mkdtemp(prefix="agitlog-bench-"))
    git(root, "-c", "init.defaultBranch=main", "init", "-q")
    for i in range(files):
        directory = root / f"pkg{i // 100:03d}"
        directory.mkdir(exist_ok=True)
        (directory / f"mod{i % 100:03d}.py").write_text(f"# module {i}\nVALUE = {i}\n" + "x = 1\n" * (i % 20))
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "generated")
    for i in range(modified):
        (root / f"pkg{i:03d}" / "mod000.py").write_text(f"# modified {i}\n")
    for i in range(untracked):
        (root / f"untracked{i}.txt").write_text(f"new {i}\n")
    return root


def median_time(func: Callable[[], object], *, runs: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        func()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        func()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def report(rows: list[tuple[str, float, str]]) -> None:
    width = max(len(name) for name, _, _ in rows)
    for name, seconds, note in rows:
        print(f"  {name:<{width}}  {seconds * 1000:9.2f} ms  {note}")


GIT_ENV.update(bench_env())
