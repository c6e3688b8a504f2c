"""`agitlog search` over 1,000,000 events, against `git grep` over the same events.jsonl blobs.

Target (issue 6): a search over 1,000,000 events <= 1 s once the index is warm.
Generates --sessions sessions x --events events (default 10,000 x 100), builds the index once
(printed: cold time), then times warm searches: a rare word (1% of sessions), a common word
(first 100 matches, the default --limit), a filtered search, a regex the index can prefilter and
one it cannot (every event's text runs through Python's re). The baseline is
`git grep` over every session's events.jsonl, all record commits in one process.

    python bench/bench_search.py [--sessions 10000] [--events 100] [--keep]
"""
from __future__ import annotations

import argparse
import time

from _common import AGITLOG, cleanup, report_rows, run, scratch_repo, timed
from gen_sessions import generate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    repo = scratch_repo("search")
    start = time.perf_counter()
    generate(repo, sessions=args.sessions, events=args.events, days=60)
    print(f"generated {args.sessions} x {args.events} = {args.sessions * args.events:,} events "
          f"in {time.perf_counter() - start:.1f} s")
    start = time.perf_counter()
    run(repo, AGITLOG, "search", "overdue_invoices", "--limit", "1")
    print(f"first search (builds the index): {time.perf_counter() - start:.1f} s")
    refs = run(repo, "git", "for-each-ref", "--format=%(objectname)", "refs/agent-sessions/").decode().split()
    grep = lambda word: run(repo, "git", "grep", "-c", "-i", "-F", word, *refs, "--", "events.jsonl")  # noqa: E731
    git_rare = timed(lambda: grep("overdue_invoices"), repeat=3)
    git_common = timed(lambda: grep("ledger"), repeat=3)
    rare = timed(lambda: run(repo, AGITLOG, "search", "overdue_invoices", "--limit", "0"))
    common = timed(lambda: run(repo, AGITLOG, "search", "ledger"))
    filtered = timed(lambda: run(repo, AGITLOG, "search", "ledger", "--type", "tool.call", "--agent", "coder",
                                 "--since", "7d"))
    regex = timed(lambda: run(repo, AGITLOG, "search", "-E", "overdue_invoices|refund ledger", "--limit", "20"),
                  repeat=3)
    scan = timed(lambda: run(repo, AGITLOG, "search", "-E", "[qxz]{3}", "--limit", "0"), repeat=3)
    startup = timed(lambda: run(repo, AGITLOG, "version"))
    report_rows([
        ("search rare word, all matches (warm)", rare, "git grep -F (all sessions)", git_rare),
        ("search common word, newest 100 (warm)", common, "git grep -F (all sessions)", git_common),
        ("search common word + type/agent/since filters", filtered, "git grep -F (all sessions)", git_common),
        ("search regex with alternation (index prefilter)", regex, "git grep -F (all sessions)", git_common),
        ("search regex with no literal (full scan)", scan, "git grep -F (all sessions)", git_common),
        ("agitlog version (interpreter + CLI start-up)", startup, "git grep -F (all sessions)", git_rare),
    ], target=("search rare word, all matches (warm)", 1.0))
    cleanup(repo)


if __name__ == "__main__":
    main()
