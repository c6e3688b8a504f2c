"""Shared helpers for the benchmark scripts: scratch repositories, timing, ratios."""
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
from gen_sessions import generate  # noqa: E402

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
    fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def report(rows: Sequence[tuple[str, float, str, float]], *, target: tuple[str, float] | None = None) -> None:
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


__all__ = ["AGITLOG", "cleanup", "generate", "report", "run", "scratch_repo", "timed"]
