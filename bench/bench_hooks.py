"""How much the prepare-commit-msg hook adds to `git commit`, with 1,000 sessions recorded.

Targets: each hook adds <= 50 ms to a commit, however many sessions exist (issue 6); with 10,000
sessions the trailer path adds <= 20 ms (issue 9).
Compares, in the same run: `git commit` without hooks, `git commit` with agitlog's hooks
installed (staged content from a session, so the trailer is written, and unrelated content),
the hook script alone, and `git rev-parse HEAD` as the cost of one git process. A commit of
content no session wrote, and agent content once the link lists are fresh, are answered by the
hook's shell code (no Python); the first commit after sessions arrive goes through Python
(agitlog.sharing.commit_hook), which rebuilds the lists.

    python bench/bench_hooks.py [--sessions 1000] [--keep]
"""
from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import time

from _common import AGITLOG, cleanup, report_rows, run, scratch_repo, timed
from gen_sessions import generate


def median_of(measure, repeat: int = 9) -> float:
    """Median of a function that returns its own timing (so set-up work stays untimed)."""
    measure()
    return statistics.median(measure() for _ in range(repeat))


def measure(sessions: int) -> dict[str, float]:
    """Every figure of this benchmark, in seconds, on a fresh repository with ``sessions`` sessions."""
    repo = scratch_repo("hooks")
    ids = generate(repo, sessions=sessions, events=10, days=20)
    newest = f"gen/session_{sessions - 1:06d}.py"
    agent_content = run(repo, "git", "show", f"refs/agent-sessions/{ids[-1]}^:{newest}")
    (repo / "gen").mkdir()
    counter = itertools.count()

    def commit(content: bytes | None) -> float:
        """Stage a change (untimed), time `git commit` alone, undo the agent file (untimed)."""
        path = repo / "gen" / (f"session_{sessions - 1:06d}.py" if content else "human.txt")
        path.write_bytes(content or f"human {next(counter)}\n".encode())
        run(repo, "git", "add", str(path.relative_to(repo)))
        start = time.perf_counter()
        run(repo, "git", "commit", "-q", "--allow-empty", "-m", "bench")
        elapsed = time.perf_counter() - start
        if content:  # remove it again so the next commit adds the agent's content anew
            run(repo, "git", "rm", "-q", str(path.relative_to(repo)))
            run(repo, "git", "commit", "-q", "--no-verify", "-m", "remove")
        return elapsed

    figures = {"rev_parse": timed(lambda: run(repo, "git", "rev-parse", "HEAD")),
               "plain_human": median_of(lambda: commit(None)), "plain_agent": median_of(lambda: commit(agent_content))}
    run(repo, AGITLOG, "hooks", "install")
    time.sleep(2.5)  # sessions were recorded earlier, not within git's racy-timestamp window
    figures["cold"] = commit(agent_content)  # builds the links cache: the first commit after sessions arrive
    assert f"Agent-Session: {ids[-1]}".encode() in run(repo, "git", "log", "-2", "--format=%B")
    figures["hooked_human"] = median_of(lambda: commit(None))
    figures["hooked_agent"] = median_of(lambda: commit(agent_content))
    assert f"Agent-Session: {ids[-1]}".encode() in run(repo, "git", "log", "-2", "--format=%B")
    msg = repo / ".git" / "BENCH_MSG"
    msg.write_text("bench\n")
    hook = repo / ".git" / "hooks" / "prepare-commit-msg"
    figures["hook_alone"] = timed(lambda: run(repo, str(hook), str(msg)))
    figures["python_floor"] = timed(lambda: run(repo, sys.executable, "-S", "-c", "pass"))
    cleanup(repo)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    load = os.getloadavg()
    f = measure(args.sessions)
    print(f"{args.sessions} sessions; first commit after they arrived (builds the cache): {f['cold'] * 1000:.0f} ms")
    report_rows([
        ("git commit with hooks (human change)", f["hooked_human"], "git commit without hooks", f["plain_human"]),
        ("git commit with hooks (agent change, trailer)", f["hooked_agent"], "git commit without hooks",
         f["plain_agent"]),
        ("prepare-commit-msg script alone", f["hook_alone"], "git rev-parse HEAD", f["rev_parse"]),
        ("python -S -c pass (interpreter floor)", f["python_floor"], "git rev-parse HEAD", f["rev_parse"]),
    ])
    added_human, added_agent = f["hooked_human"] - f["plain_human"], f["hooked_agent"] - f["plain_agent"]
    print(f"added by the hook: {added_human * 1000:.1f} ms (human change), {added_agent * 1000:.1f} ms "
          f"(agent change) -> target <= 20 ms (trailer path): {'MEETS' if added_agent <= 0.02 else 'MISSES'}")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in load)}, after: "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
