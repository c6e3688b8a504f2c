"""The everyday path (issue 9): every figure as a ratio against git, measured in the same run.

    python bench/bench_everyday.py [--files 10000] [--hook-sessions 10000] [--search-sessions 50000]
                                   [--skip hooks,search] [--runs 15]

1. `agitlog run -- true` on a 10,000-file dirty repository, against `git stash create` (target <= 2.5x).
2. `agitlog emit` called by a recorded agent, per call, against `git rev-parse HEAD` called by the
   same agent (target <= 60 ms).
3. What the commit hook adds to `git commit` of an agent's change (trailer written) and of a
   person's change, with 10,000 sessions (bench_hooks.py; target <= 20 ms for the trailer path).
4. Start-up of the commands: `agitlog version`, `agitlog --version`, and the read commands (`log`,
   `show`, `replay --plain`, `diff`, `search`) on a repository with one small session, whole, against
   `git rev-parse HEAD`; and, for the read commands, the start-up before their work: from launch to
   the start of their first git process (target <= 60 ms, "starts in <= 60 ms before doing its work").
5. Search at 50,000 sessions: a clone fetches them with `agitlog fetch` (which indexes them), then
   the first `agitlog search`, against `git for-each-ref` over the same refs (target <= 2 s).

Measure what users get: a regular `pip install .` (not editable) into a fresh virtualenv, then run
this file with that virtualenv's Python.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    AGITLOG, GIT_ENV, bench_env, git, make_repo, report_rows, run, scratch_repo, timed,
)


def bench_run(files: int, runs: int) -> list[tuple[str, float, str, float]]:
    root = make_repo(files)
    # Interleaved, so both see the same machine load.
    stash: list[float] = []
    recorded: list[float] = []
    for _ in range(runs + 1):
        stash.append(_once(lambda: git(root, "stash", "create")))
        recorded.append(_once(lambda: subprocess.run([AGITLOG, "run", "-q", "--", "true"], cwd=root, env=GIT_ENV,
                                                     check=True)))
    shutil.rmtree(root, ignore_errors=True)
    return [(f"agitlog run -- true ({files} files, dirty)", _median(recorded[1:]), "git stash create",
             _median(stash[1:]))]


def _once(func) -> float:
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def _median(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[len(ordered) // 2]


EMIT_AGENT = """
    import json, statistics, subprocess, sys, time
    agitlog, runs = sys.argv[1], int(sys.argv[2])
    def median(cmd):
        samples = []
        for _ in range(runs + 1):
            start = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            samples.append(time.perf_counter() - start)
        return statistics.median(samples[1:])
    git = median(["git", "rev-parse", "HEAD"])
    emit = median([agitlog, "emit", "step", "i=1", "note=from a shell loop"])
    print(json.dumps({"emit": emit, "git": git}))
"""


def bench_emit(runs: int) -> list[tuple[str, float, str, float]]:
    repo = scratch_repo("emit")
    script = repo.parent / "agent.py"
    script.write_text(textwrap.dedent(EMIT_AGENT))
    out = run(repo, AGITLOG, "run", "-q", "--", sys.executable, str(script), AGITLOG, str(runs))
    figures = json.loads(out.decode().strip().splitlines()[-1])
    shutil.rmtree(repo.parent, ignore_errors=True)
    return [("agitlog emit (per call, inside a session)", figures["emit"], "git rev-parse HEAD (same agent)",
             figures["git"])]


def bench_startup(runs: int) -> list[tuple[str, float, str, float]]:
    """Every read command on a repository holding one small session (their work is a few
    milliseconds: what is measured is start-up), interleaved with `git rev-parse HEAD`."""
    from gen_sessions import generate

    repo = scratch_repo("startup")
    empty = scratch_repo("startup-empty")
    generate(repo, sessions=1, events=5, days=1, needle_every=1)
    commands = [(empty, ["version"], ""), (empty, ["--version"], ""), (empty, ["log"], " (no sessions)"),
                (repo, ["log"], " (1 session)"), (repo, ["show"], ""), (repo, ["replay", "--plain"], ""),
                (repo, ["diff"], ""), (repo, ["search", "overdue_invoices"], "")]
    samples: dict[int, list[float]] = {i: [] for i in range(len(commands))}
    base: list[float] = []
    for _ in range(runs + 1):  # interleaved: each command and git see the same machine load
        base.append(_once(lambda: run(repo, "git", "rev-parse", "HEAD")))
        for i, (where, args, _note) in enumerate(commands):
            samples[i].append(_once(lambda: run(where, AGITLOG, *args)))
    rows = [(f"agitlog {' '.join(args)}{note}", _median(samples[i][1:]), "git rev-parse HEAD", _median(base[1:]))
            for i, (_where, args, note) in enumerate(commands)]
    rows += _until_first_git([(where, args, note) for where, args, note in commands if args[0] not in
                              ("version", "--version")], runs, base=_median(base[1:]))
    for path in (repo, empty):
        shutil.rmtree(path.parent, ignore_errors=True)
    return rows


def _until_first_git(commands: list[tuple[Path, list[str], str]], runs: int, *, base: float
                     ) -> list[tuple[str, float, str, float]]:
    """Start-up before the work: from launching each read command to the start of its first git
    process (a `git` first on PATH notes the time, then execs the real one; its own start, a
    millisecond or two of bash, is counted against agitlog)."""
    real_git = shutil.which("git", path=os.environ.get("PATH"))
    assert real_git, "git not found"
    shim_dir = Path(tempfile.mkdtemp(prefix="agitlog-bench-git-"))
    mark = shim_dir / "first-git"
    shim = shim_dir / "git"
    shim.write_text(f'#!/bin/bash\n[ -e "$AGITLOG_BENCH_MARK" ] || printf %s "$EPOCHREALTIME" > "$AGITLOG_BENCH_MARK"\n'
                    f'exec {real_git} "$@"\n')
    shim.chmod(0o755)
    env = {**bench_env(), "PATH": f"{shim_dir}{os.pathsep}{os.environ.get('PATH', '')}",
           "AGITLOG_BENCH_MARK": str(mark)}
    samples: dict[int, list[float]] = {i: [] for i in range(len(commands))}
    for _ in range(runs + 1):
        for i, (where, args, _note) in enumerate(commands):
            mark.unlink(missing_ok=True)
            started = time.time()
            subprocess.run([AGITLOG, *args], cwd=where, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            samples[i].append(float(mark.read_text()) - started)
    shutil.rmtree(shim_dir, ignore_errors=True)
    return [(f"start-up of agitlog {' '.join(args)}{note}, until its first git process", _median(samples[i][1:]),
             "git rev-parse HEAD", base) for i, (_where, args, note) in enumerate(commands)]


def bench_hooks(sessions: int) -> list[tuple[str, float, str, float]]:
    import bench_hooks

    f = bench_hooks.measure(sessions)
    return [
        (f"commit hook added, agent change ({sessions} sessions)", f["hooked_agent"] - f["plain_agent"],
         "git commit without hooks", f["plain_agent"]),
        (f"commit hook added, own change ({sessions} sessions)", f["hooked_human"] - f["plain_human"],
         "git commit without hooks", f["plain_human"]),
    ]


def bench_search(sessions: int) -> list[tuple[str, float, str, float]]:
    from gen_sessions import generate

    origin = scratch_repo("search-origin")
    generate(origin, sessions=sessions, events=20, days=120)
    clone = Path(tempfile.mkdtemp(prefix="agitlog-bench-search-clone-")) / "repo"
    run(origin.parent, "git", "clone", "-q", str(origin), str(clone))
    start = time.perf_counter()
    run(clone, AGITLOG, "fetch", "origin")
    fetch = time.perf_counter() - start
    start = time.perf_counter()
    out = run(clone, AGITLOG, "search", "overdue_invoices", "--limit", "5")
    first = time.perf_counter() - start
    assert b"overdue_invoices" in out, "the first search found nothing"
    refs = timed(lambda: run(clone, "git", "for-each-ref", "refs/agent-sessions/"), repeat=5)
    log_rows = _log_in_clone(clone, sessions)
    plain = Path(tempfile.mkdtemp(prefix="agitlog-bench-search-git-")) / "repo"
    run(origin.parent, "git", "clone", "-q", str(origin), str(plain))
    start = time.perf_counter()
    run(plain, "git", "fetch", "-q", "origin", "+refs/agent-sessions/*:refs/agent-sessions/*")
    git_fetch = time.perf_counter() - start
    for path in (origin, clone, plain):
        shutil.rmtree(path.parent, ignore_errors=True)
    return [(f"first agitlog search after fetch ({sessions} sessions)", first, "git for-each-ref (same refs)", refs),
            (f"agitlog fetch of {sessions} sessions (indexes them)", fetch, "git fetch of the same refs", git_fetch),
            *log_rows]


def _log_in_clone(clone: Path, sessions: int, runs: int = 9) -> list[tuple[str, float, str, float]]:
    """`agitlog log -n 20` in the clone that fetched the sessions: its first call (no metadata cache:
    the cache directory is removed before each such sample), then later calls, each interleaved with
    packed `git for-each-ref` of the same refs. Medians: one sample on this machine is noise."""
    first_start = time.perf_counter()
    out = run(clone, AGITLOG, "log", "-n", "20")
    firsts = [time.perf_counter() - first_start]
    assert out.count(b"\n") == 21, "log -n 20 did not list 20 sessions"
    cache = clone / ".git" / "agitlog" / "cache"
    later: list[float] = []
    refs: list[float] = []
    for _ in range(runs + 1):
        refs.append(_once(lambda: run(clone, "git", "for-each-ref", "--format=%(objectname) %(refname)",
                                      "refs/agent-sessions/")))
        later.append(_once(lambda: run(clone, AGITLOG, "log", "-n", "20")))
        shutil.rmtree(cache, ignore_errors=True)
        firsts.append(_once(lambda: run(clone, AGITLOG, "log", "-n", "20")))
    base = _median(refs[1:])
    return [(f"agitlog log -n 20 in that clone, first call ({sessions})", _median(firsts), "git for-each-ref (packed)",
             base),
            (f"agitlog log -n 20 in that clone, later calls ({sessions})", _median(later[1:]),
             "git for-each-ref (packed)", base)]


TARGETS = {"start-up of agitlog": ("ms", 60), "agitlog run -- true": ("ratio", 2.5), "agitlog emit": ("ms", 60), "commit hook added, agent": ("ms", 20),
           "agitlog version": ("ms", 60), "agitlog --version": ("ms", 60), "agitlog log -n 20 in": ("ratio", 2.0),
           "agitlog log": ("ms", 60), "agitlog show": ("ms", 60), "agitlog replay": ("ms", 60),
           "agitlog diff": ("ms", 60), "agitlog search": ("ms", 60), "first agitlog search": ("ms", 2000)}


def print_rows(rows: list[tuple[str, float, str, float]]) -> None:
    """Ratios against git, except for what a hook adds, which is a difference (added ms)."""
    ratios = [row for row in rows if " added" not in row[0]]
    report_rows(ratios)
    for what, seconds, base_name, base_seconds in rows:
        if " added" in what:
            print(f"{what:<48} {seconds * 1000:+9.1f} ms   added to {base_name} ({base_seconds * 1000:.1f} ms)")


def verdicts(rows: list[tuple[str, float, str, float]]) -> None:
    for what, seconds, _, base in rows:
        for prefix, (kind, limit) in TARGETS.items():  # the first (longest) prefix that matches
            if what.startswith(prefix):
                value = seconds / base if kind == "ratio" else seconds * 1000
                unit = "x" if kind == "ratio" else " ms"
                print(f"target {what}: {value:.1f}{unit} <= {limit}{unit} -> {'MEETS' if value <= limit else 'MISSES'}")
                break


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--hook-sessions", type=int, default=10_000)
    parser.add_argument("--search-sessions", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--skip", default="", help="comma-separated: run,emit,startup,hooks,search")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    load = os.getloadavg()
    rows: list[tuple[str, float, str, float]] = []
    parts = (("run", lambda: bench_run(args.files, args.runs)), ("emit", lambda: bench_emit(args.runs)),
             ("startup", lambda: bench_startup(args.runs)), ("hooks", lambda: bench_hooks(args.hook_sessions)),
             ("search", lambda: bench_search(args.search_sessions)))
    for name, part in parts:
        if name not in skip:
            rows += part()
    print_rows(rows)
    verdicts(rows)
    print(f"load average before: {' '.join(f'{x:.2f}' for x in load)}, after: "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} (2 cores: compare runs made at similar load)")


if __name__ == "__main__":
    main()
