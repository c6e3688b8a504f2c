"""Snapshots through the private index: trees equal the worktree at every step."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agitlog import git as agit
from agitlog.config import Config, load_config, parse_size
from agitlog.capture.snapshot import Snapshotter, matches_pattern
from agitlog.capture.watch import WorktreeWatcher
from helpers import agitlog_json, git, init_repo, run_python_agent, tree_files

NAMES = ["a.txt", "b.bin", "dir/c.txt", "dir/sub/d.txt", "caf\u00e9.txt", os.fsdecode(b"latin1-\xe9.txt"),
         "space name.txt", "e"]
CONTENTS = st.one_of(st.binary(max_size=64), st.text(max_size=40).map(lambda t: t.encode("utf-8", "surrogatepass")),
                     st.just(b"\xff\xfe\x00binary\x00"), st.just(b""))
OPERATION = st.one_of(
    st.tuples(st.just("write"), st.sampled_from(NAMES), CONTENTS),
    st.tuples(st.just("delete"), st.sampled_from(NAMES), st.just(b"")),
    st.tuples(st.just("rename"), st.sampled_from(NAMES), st.sampled_from(NAMES).map(os.fsencode)),
    st.tuples(st.just("snapshot"), st.just(""), st.just(b"")),
)


def _worktree_files(root: Path) -> dict[str, bytes]:
    files = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        for name in filenames:
            path = Path(dirpath) / name
            files[os.fsdecode(os.fsencode(path.relative_to(root)))] = path.read_bytes()
    return files


def _apply(root: Path, op: str, name: str, arg: bytes) -> None:
    path = root / name
    if op == "write":
        if path.parent.exists() and not path.parent.is_dir():
            return
        if path.is_dir():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(arg)
    elif op == "delete" and path.is_file():
        path.unlink()
    elif op == "rename" and path.is_file():
        target = root / os.fsdecode(arg)
        if not target.exists() and not (target.parent.exists() and not target.parent.is_dir()):
            target.parent.mkdir(parents=True, exist_ok=True)
            path.rename(target)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(initial=st.lists(st.tuples(st.sampled_from(NAMES), CONTENTS), max_size=4),
       ops=st.lists(OPERATION, min_size=1, max_size=10))
def test_step_trees_equal_the_worktree(initial: list[tuple[str, bytes]], ops: list[tuple[str, str, bytes]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = init_repo(Path(tmp) / "r")
        for name, content in initial:
            _apply(root, "write", name, content)
        git(root, "add", "-A")
        git(root, "commit", "-q", "--allow-empty", "-m", "base")
        repo = agit.find_repo(root)
        watcher = WorktreeWatcher(root, lambda: agit.ignored_directories(repo))
        watcher.start()  # the watcher may only ever skip work, never change a tree
        shot = Snapshotter(repo, index_file=repo.git_dir / "agitlog-test-index", config=Config(), watcher=watcher)
        shot.seed()
        index_before = (root / ".git" / "index").read_bytes()
        assert tree_files(root, shot.take().tree) == _worktree_files(root)
        for op, name, arg in ops + [("snapshot", "", b"")]:
            if op == "snapshot":
                assert tree_files(root, shot.take().tree) == _worktree_files(root)
            else:
                _apply(root, op, name, arg)
        assert (root / ".git" / "index").read_bytes() == index_before
        watcher.close()


def test_unchanged_worktree_reuses_the_tree(repo: Path) -> None:
    r = agit.find_repo(repo)
    shot = Snapshotter(r, index_file=r.git_dir / "t-index", config=Config())
    shot.seed()
    first = shot.take()
    second = shot.take()
    assert first.changed and not second.changed and first.tree == second.tree
    (repo / "x.txt").write_text("x")
    third = shot.take()
    assert third.changed and "x.txt" in tree_files(repo, third.tree)


def test_size_limit_secret_files_and_excludes_are_left_out_and_reported(repo: Path) -> None:
    (repo / ".agitlog.toml").write_text('[snapshot]\nexclude = ["logs/", "*.cache"]\nmax_file_size = "1KB"\n')
    (repo / "big.bin").write_bytes(b"\0" * 5000)
    (repo / ".env").write_text("OPENAI_API_KEY=sk-test\n")
    (repo / ".env.local").write_text("X=1\n")
    (repo / "server.pem").write_text("-----BEGIN PRIVATE KEY-----\n")
    (repo / "id_rsa").write_text("key\n")
    (repo / "logs").mkdir()
    (repo / "logs" / "run.txt").write_text("log\n")
    (repo / "data.cache").write_text("cache\n")
    (repo / "small.txt").write_text("fine\n")
    proc = run_python_agent(repo, "open('big2.bin','wb').write(b'1' * 4000)\n")
    assert proc.returncode == 0, proc.stderr
    data = agitlog_json("show", cwd=repo)
    files = tree_files(repo, data["session"]["steps"]["last"])
    assert "small.txt" in files and ".agitlog.toml" in files
    for left_out in ("big.bin", "big2.bin", ".env", ".env.local", "server.pem", "id_rsa", "logs/run.txt", "data.cache"):
        assert left_out not in files, left_out
    skips = {e["data"]["path"]: e["data"]["reason"] for e in data["events"] if e["type"] == "snapshot.skip"}
    assert skips == {"big.bin": "size", "big2.bin": "size", ".env": "secret", ".env.local": "secret",
                     "server.pem": "secret", "id_rsa": "secret", "logs/run.txt": "excluded", "data.cache": "excluded"}


def test_tracked_secret_looking_file_is_still_snapshotted(repo: Path) -> None:
    (repo / "config.key").write_text("not really a key\n")
    git(repo, "add", "config.key")
    git(repo, "commit", "-q", "-m", "tracked")
    run_python_agent(repo, "open('config.key','w').write('changed\\n')\n")
    files = tree_files(repo, agitlog_json("show", cwd=repo)["session"]["steps"]["last"])
    assert files["config.key"] == b"changed\n"


def test_symlinks_and_executable_bits(repo: Path) -> None:
    os.symlink("src/app.py", repo / "link")
    script = repo / "run.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    run_python_agent(repo, "pass\n")
    first = agitlog_json("show", cwd=repo)["session"]["steps"]["first"]
    listing = git(repo, "ls-tree", first)
    assert "120000 blob" in next(line for line in listing.splitlines() if line.endswith("\tlink"))
    assert listing.splitlines()[[l.endswith("\trun.sh") for l in listing.splitlines()].index(True)].startswith("100755")


def test_merge_conflict_in_the_real_index_does_not_stop_recording(repo: Path) -> None:
    git(repo, "checkout", "-q", "-b", "other")
    (repo / "README.md").write_text("other\n")
    git(repo, "commit", "-qam", "other")
    git(repo, "checkout", "-q", "main")
    (repo / "README.md").write_text("main\n")
    git(repo, "commit", "-qam", "main")
    git(repo, "merge", "other", check=False)
    index_before = (repo / ".git" / "index").read_bytes()
    proc = run_python_agent(repo, "open('README.md','w').write('resolved\\n')\n")
    assert proc.returncode == 0, proc.stderr
    files = tree_files(repo, agitlog_json("show", cwd=repo)["session"]["steps"]["last"])
    assert files["README.md"] == b"resolved\n"
    assert (repo / ".git" / "index").read_bytes() == index_before


def test_matches_pattern_is_gitignore_like() -> None:
    assert matches_pattern("node_modules/", "a/node_modules/x.js")
    assert not matches_pattern("node_modules/", "node_modules")  # a file of that name is not a directory
    assert matches_pattern("*.log", "deep/dir/x.log")
    assert matches_pattern("/build/*.o", "build/a.o") and not matches_pattern("/build/*.o", "src/build/a.o")
    assert matches_pattern("docs/*.md", "docs/a.md")


def test_config_sizes_and_errors(tmp_path: Path) -> None:
    assert parse_size("10MB") == 10_000_000 and parse_size("1KiB") == 1024 and parse_size(5) == 5
    (tmp_path / "pyproject.toml").write_text('[tool.agitlog.snapshot]\nmax_file_size = "2kb"\n')
    assert load_config(tmp_path).max_file_size == 2000
    (tmp_path / ".agitlog.toml").write_text("[snapshot\n")
    import pytest

    from agitlog.errors import ConfigError

    with pytest.raises(ConfigError):
        load_config(tmp_path)
