"""`agitlog log` with 10,000 sessions, against `git for-each-ref` over the same refs.

Target (issue 6): `agitlog log` <= 0.3 s with 10,000 sessions (warm metadata cache).
Also printed: the first (cold) run that builds the cache, loose and packed refs, and the
interpreter's own start-up (`agitlog version`) as the floor any command pays.

    python bench/bench_log.py [--sessions 10000] [--keep]
"""
from __future__ import annotations

import argparse
import time

from _common import AGITLOG, cleanup, report_rows, run, scratch_repo, timed
from gen_sessions import generate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    repo = scratch_repo("log")
    generate(repo, sessions=args.sessions, events=5, days=90)
    time.sleep(2.5)
    start = time.perf_counter()
    out = run(repo, AGITLOG, "log")
    cold = time.perf_counter() - start
    assert out.count(b"\n") == args.sessions + 1, "log did not list every session"
    for_each_ref = lambda: run(repo, "git", "for-each-ref", "--format=%(objectname) %(refname)",  # noqa: E731
                               "refs/agent-sessions/")
    loose_git = timed(for_each_ref)
    loose_log = timed(lambda: run(repo, AGITLOG, "log"))
    run(repo, "git", "pack-refs", "--all", "--prune")
    time.sleep(2.5)  # as a user would: not within git's racy-timestamp window of the refs changing
    packed_git = timed(for_each_ref)
    packed_log = timed(lambda: run(repo, AGITLOG, "log"))
    limited = timed(lambda: run(repo, AGITLOG, "log", "-n", "20"))
    startup = timed(lambda: run(repo, AGITLOG, "version"))
    print(f"{args.sessions} sessions; first `agitlog log` (builds the cache): {cold:.2f} s")
    report_rows([
        ("agitlog log (loose refs, warm cache)", loose_log, "git for-each-ref (loose)", loose_git),
        ("agitlog log (packed refs, warm cache)", packed_log, "git for-each-ref (packed)", packed_git),
        ("agitlog log -n 20 (packed refs)", limited, "git for-each-ref (packed)", packed_git),
        ("agitlog version (interpreter + CLI start-up)", startup, "git for-each-ref (packed)", packed_git),
    ], target=("agitlog log (packed refs, warm cache)", 0.3))
    cleanup(repo)


if __name__ == "__main__":
    main()
