"""Shared helpers for the benchmarks: repositories to measure on, timers, and the ratio report.

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
from typing import Callable

GIT_ENV = dict(os.environ, GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="bench@example.com",
               GIT_COMMITTER_NAME="bench", GIT_COMMITTER_EMAIL="bench@example.com", GIT_CONFIG_NOSYSTEM="1")


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
