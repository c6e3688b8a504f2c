"""`agitlog log` against `git for-each-ref` over the same (packed) refs.

Targets (issue 10, item 4):
- `agitlog log -n 20` with 50,000 sessions <= 2x packed `git for-each-ref`, on the first call (no
  metadata cache) and on every later one: the store reads only the newest sessions' metadata;
- `agitlog log` (every session) with 10,000 sessions <= 10x packed `git for-each-ref`, with a warm
  cache of its rows (the first, cold run that builds it is printed too); the two are timed in
  turn, so the machine's load reaches both alike.
Also printed: loose refs, and the interpreter's own start-up (`agitlog version`), the floor any
command pays.

    python bench/bench_log.py [--sessions 10000] [--limited-sessions 50000] [--keep]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import time
from pathlib import Path
from typing import Callable

from _common import AGITLOG, cleanup, report_rows, run, scratch_repo, timed
from gen_sessions import generate


def _for_each_ref(repo: Path) -> bytes:
    return run(repo, "git", "for-each-ref", "--format=%(objectname) %(refname)", "refs/agent-sessions/")


def _drop_cache(repo: Path) -> None:
    shutil.rmtree(repo / ".git" / "agitlog" / "cache", ignore_errors=True)


def _interleaved(first: Callable[[], object], second: Callable[[], object], *, runs: int = 15
                 ) -> tuple[float, float]:
    """Median wall times of ``first`` and ``second`` run in turn (after one warm-up each), so a
    change in the machine's load reaches both alike."""
    first(), second()
    samples: tuple[list[float], list[float]] = ([], [])
    for _ in range(runs):
        for fn, out in ((first, samples[0]), (second, samples[1])):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    return statistics.median(samples[0]), statistics.median(samples[1])


def bench_full(sessions: int) -> list[tuple[str, float, str, float]]:
    repo = scratch_repo("log")
    generate(repo, sessions=sessions, events=5, days=90)
    time.sleep(2.5)
    start = time.perf_counter()
    out = run(repo, AGITLOG, "log")
    cold = time.perf_counter() - start
    assert out.count(b"\n") == sessions + 1, "log did not list every session"
    loose_git = timed(lambda: _for_each_ref(repo))
    loose_log = timed(lambda: run(repo, AGITLOG, "log"))
    run(repo, "git", "pack-refs", "--all", "--prune")
    time.sleep(2.5)  # as a user would: not within git's racy-timestamp window of the refs changing
    packed_git, packed_log = _interleaved(lambda: _for_each_ref(repo), lambda: run(repo, AGITLOG, "log"))
    startup = timed(lambda: run(repo, AGITLOG, "version"))
    print(f"{sessions} sessions; first `agitlog log` (builds the cache): {cold:.2f} s "
          f"({cold / packed_git:.1f}x packed for-each-ref)")
    cleanup(repo)
    return [
        (f"agitlog log, {sessions} sessions (loose refs, warm cache)", loose_log, "git for-each-ref (loose)", loose_git),
        (f"agitlog log, {sessions} sessions (packed refs, warm cache)", packed_log, "git for-each-ref (packed)",
         packed_git),
        ("agitlog version (interpreter + CLI start-up)", startup, "git for-each-ref (packed)", packed_git),
    ]


def bench_limited(sessions: int) -> list[tuple[str, float, str, float]]:
    repo = scratch_repo("log-limited")
    generate(repo, sessions=sessions, events=5, days=90)
    run(repo, "git", "pack-refs", "--all", "--prune")
    time.sleep(2.5)
    packed_git = timed(lambda: _for_each_ref(repo))

    def first_call() -> None:
        _drop_cache(repo)
        out = run(repo, AGITLOG, "log", "-n", "20")
        assert out.count(b"\n") == 21, "log -n 20 did not list 20 sessions"

    first = timed(first_call)
    _drop_cache(repo)
    later = timed(lambda: run(repo, AGITLOG, "log", "-n", "20"))
    cleanup(repo)
    return [
        (f"agitlog log -n 20, {sessions} sessions, first call", first, "git for-each-ref (packed)", packed_git),
        (f"agitlog log -n 20, {sessions} sessions, later calls", later, "git for-each-ref (packed)", packed_git),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--limited-sessions", type=int, default=50_000)
    parser.add_argument("--keep", action="store_true")  # read by _common.cleanup
    args = parser.parse_args()
    rows = bench_limited(args.limited_sessions) + bench_full(args.sessions)
    report_rows(rows)
    print("targets: log -n 20 at 50,000 sessions <= 2.0x packed for-each-ref (first and later calls); "
          "log at 10,000 sessions <= 10.0x")
    print("load average (1, 5, 15 min): " + ", ".join(f"{load:.2f}" for load in os.getloadavg()))


if __name__ == "__main__":
    main()
