"""Recording cost on a large repository (issue: Record).

    python bench/bench_record.py [--files 10000] [--runs 15]

Prints, side by side and as ratios against `git stash create` (which omits untracked files, so it
is a floor): agitlog's first snapshot, its per-step snapshot (tree, and tree + step commit + ref
update), and the whole `agitlog run -- true` against a bare `true`."""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import GIT_ENV, agitlog_command, git, make_repo, median_time, report  # noqa: E402

from agitlog import git as agit  # noqa: E402
from agitlog.config import Config  # noqa: E402
from agitlog.capture.snapshot import Snapshotter  # noqa: E402
from agitlog.capture.watch import WorktreeWatcher  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    root = make_repo(args.files)
    print(f"repository: {args.files} files, 5 modified, 5 untracked ({root})")
    repo = agit.find_repo(root)

    stash = median_time(lambda: git(root, "stash", "create"), runs=args.runs)
    first = median_time(lambda: _first_snapshot(repo), runs=args.runs, warmup=1)
    shot = Snapshotter(repo, index_file=repo.git_dir / "agitlog-bench-index", config=Config())
    shot.seed()
    shot.take()
    counter = iter(range(10**9))

    def one_step(commit: bool) -> None:
        (root / "pkg001" / "mod001.py").write_text(f"# step {next(counter)}\n")
        snap = shot.take()
        if commit:
            sha = agit.commit_tree(repo, tree=snap.tree, parents=[], message="bench step")
            agit.git(root, "update-ref", "refs/agent-sessions/bench", sha)

    per_step_tree = median_time(lambda: one_step(False), runs=args.runs)
    per_step_commit = median_time(lambda: one_step(True), runs=args.runs)
    unchanged = median_time(lambda: shot.take(), runs=args.runs)
    watcher = WorktreeWatcher(root, lambda: agit.ignored_directories(repo))
    watcher.start()
    shot.watcher = watcher
    shot.take(force=True)
    watched = median_time(lambda: shot.take(), runs=args.runs * 20)

    true_time = median_time(lambda: subprocess.run(["true"], cwd=root, check=True), runs=args.runs)
    agitlog = agitlog_command()
    run_time = median_time(lambda: subprocess.run([agitlog, "run", "-q", "--", "true"], cwd=root, env=GIT_ENV,
                                                  check=True), runs=max(5, args.runs // 2), warmup=1)
    added = run_time - true_time
    report([
        ("git stash create", stash, "(floor: no untracked files)"),
        ("first snapshot (seed + tree)", first, f"ratio {first / stash:.2f}x  (target <= 2x)"),
        ("per-step snapshot (tree)", per_step_tree, f"ratio {per_step_tree / stash:.2f}x  (target <= 1.3x)"),
        ("per-step snapshot + step commit", per_step_commit, f"ratio {per_step_commit / stash:.2f}x"),
        ("snapshot check, nothing changed", unchanged, f"ratio {unchanged / stash:.2f}x  (git status)"),
        ("  ... with the inotify watcher", watched, f"ratio {watched / stash:.4f}x  (what a model call pays)"),
        ("true", true_time, ""),
        ("agitlog run -- true", run_time, f"adds {added * 1000:.1f} ms = {added / stash:.2f}x stash create"
                                          "  (target <= 3x)"),
    ])


def _first_snapshot(repo: agit.Repo) -> None:
    index = repo.git_dir / "agitlog-bench-first"
    index.unlink(missing_ok=True)
    shot = Snapshotter(repo, index_file=index, config=Config())
    shot.seed()
    shot.take()


if __name__ == "__main__":
    main()
