"""`agitlog checkout`: a step's worktree in its own directory, never the user's, and never a path
that escapes the directory, even from a crafted session."""
from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from crafted import craft_session, literal_tree, make_blob, make_tree
from helpers import agitlog, agitlog_json, git, run_python_agent, tree_files, user_state

EDITS = """
    import os, pathlib
    pathlib.Path("src/app.py").write_text("def total(xs):\\n    return sum(xs) + 1\\n")
    import agitlog
    agitlog.decision("first edit done")
    pathlib.Path("run.sh").write_text("#!/bin/sh\\necho hi\\n")
    os.chmod("run.sh", 0o755)
    os.symlink("src/app.py", "link.py")
    pathlib.Path("README.md").unlink()
"""


def _steps(repo: Path) -> list[str]:
    meta = agitlog_json("show", cwd=repo)["session"]
    last = meta["steps"]["last"]
    return list(reversed(git(repo, "rev-list", last, f"^{meta['git']['base_commit']}").split()))


def test_checkout_worktree_is_detached_and_leaves_user_alone(repo: Path, tmp_path: Path) -> None:
    assert run_python_agent(repo, EDITS).returncode == 0
    steps = _steps(repo)
    before = user_state(repo)
    target = tmp_path / "at-step-1"
    proc = agitlog("checkout", "--step", "1", str(target), cwd=repo)
    assert proc.returncode == 0, proc.stderr
    assert "git worktree" in proc.stdout
    assert (target / "src" / "app.py").read_text() == "def total(xs):\n    return sum(xs) + 1\n"
    assert (target / "README.md").exists()  # step 1 is before the README was deleted
    assert git(target, "rev-parse", "HEAD").strip() == steps[1]
    assert git(target, "symbolic-ref", "-q", "HEAD", check=False) == ""  # detached
    after = user_state(repo)
    assert after == before  # HEAD, index, branches, worktree: untouched (the new worktree is not a ref)


def test_checkout_again_where_the_user_deleted_an_earlier_worktree(repo: Path, tmp_path: Path) -> None:
    """`rm -rf` leaves git's record of the worktree behind ("missing but already registered"); checking
    out into the same path again must work, not stop on git's error."""
    assert run_python_agent(repo, EDITS).returncode == 0
    steps = _steps(repo)
    target = tmp_path / "at-step-1"
    assert agitlog("checkout", "--step", "1", str(target), cwd=repo).returncode == 0
    shutil.rmtree(target)
    proc = agitlog("checkout", "--step", "2", str(target), cwd=repo)
    assert proc.returncode == 0, proc.stderr
    assert git(target, "rev-parse", "HEAD").strip() == steps[2]


def test_checkout_export_writes_modes_and_symlinks(repo: Path, tmp_path: Path) -> None:
    assert run_python_agent(repo, EDITS).returncode == 0
    steps = _steps(repo)
    target = tmp_path / "export"
    data = agitlog_json("checkout", "--step", str(len(steps) - 1), "--export", str(target), cwd=repo)
    assert data["mode"] == "export" and data["commit"] == steps[-1]
    expected = tree_files(repo, steps[-1])
    written = {str(p.relative_to(target)): (os.readlink(p).encode() if p.is_symlink() else p.read_bytes())
               for p in target.rglob("*") if p.is_file() or p.is_symlink()}
    assert written == expected
    assert os.stat(target / "run.sh").st_mode & stat.S_IXUSR
    assert (target / "link.py").is_symlink() and os.readlink(target / "link.py") == "src/app.py"
    assert not (target / "README.md").exists()
    assert not (target / ".git").exists()


def test_checkout_refuses_non_empty_directory(repo: Path, tmp_path: Path) -> None:
    assert run_python_agent(repo, EDITS).returncode == 0
    target = tmp_path / "busy"
    target.mkdir()
    (target / "mine.txt").write_text("keep me")
    for mode in ([], ["--export"]):
        proc = agitlog("checkout", "--step", "1", *mode, str(target), cwd=repo)
        assert proc.returncode == 5, proc.stderr
        assert "not empty" in proc.stderr
    assert [p.name for p in target.iterdir()] == ["mine.txt"]


def test_checkout_here_needs_a_clean_worktree(repo: Path) -> None:
    assert run_python_agent(repo, EDITS).returncode == 0
    steps = _steps(repo)
    git(repo, "reset", "-q", "--hard")
    git(repo, "clean", "-fdq")
    (repo / "dirty.txt").write_text("untracked work")
    before = user_state(repo)
    proc = agitlog("checkout", "--step", "1", "--here", cwd=repo)
    assert proc.returncode == 5 and "changes" in proc.stderr
    assert user_state(repo) == before
    (repo / "dirty.txt").unlink()
    proc = agitlog("checkout", "--step", "1", "--here", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    assert git(repo, "rev-parse", "HEAD").strip() == steps[1]
    assert (repo / "src" / "app.py").read_text().endswith("sum(xs) + 1\n")


def test_checkout_without_directory_or_unknown_step(repo: Path) -> None:
    assert run_python_agent(repo, EDITS).returncode == 0
    proc = agitlog("checkout", "--step", "1", cwd=repo)
    assert proc.returncode == 2 and "where" in proc.stderr
    proc = agitlog("checkout", "--step", "1", "--here", "a", "b", cwd=repo)
    assert proc.returncode == 2 and "no DIR" in proc.stderr
    for inside in (".", "sub/dir", str(repo / "x")):
        proc = agitlog("checkout", "--step", "1", "--export", inside, cwd=repo)
        assert proc.returncode == 2 and "inside your worktree" in proc.stderr, inside
    assert not (repo / "sub").exists() and not (repo / "x").exists()
    proc = agitlog("checkout", "--step", "99", "../x", cwd=repo)
    assert proc.returncode == 2 and "no step 99" in proc.stderr
    assert not (repo.parent / "x").exists()


def test_checkout_session_and_directory_arguments(repo: Path, tmp_path: Path) -> None:
    assert run_python_agent(repo, EDITS).returncode == 0
    sid = agitlog_json("show", cwd=repo)["session"]["id"]
    data = agitlog_json("checkout", sid[:10], "--step", "0", "--export", str(tmp_path / "two-args"), cwd=repo)
    assert data["session_id"] == sid and data["step"] == 0
    assert (tmp_path / "two-args" / "README.md").exists()


# --- crafted sessions -----------------------------------------------------------------------------

@pytest.mark.parametrize("shape", ["dotdot", "dotgit", "nested-dotdot", "slash-name", "absolute-name", "GIT-case"])
@pytest.mark.parametrize("mode", [[], ["--export"]])
def test_checkout_refuses_traversal_from_crafted_session(repo: Path, tmp_path: Path, shape: str, mode: list[str]) -> None:
    payload = make_blob(repo, b"pwned\n")
    ok = ("100644", "blob", payload, "fine.txt")
    if shape == "dotdot":
        tree = make_tree(repo, [ok, ("100644", "blob", payload, "..")])
    elif shape == "dotgit":
        hooks = make_tree(repo, [("100755", "blob", payload, "post-checkout")])
        tree = make_tree(repo, [ok, ("040000", "tree", make_tree(repo, [("040000", "tree", hooks, "hooks")]), ".git")])
    elif shape == "nested-dotdot":
        inner = make_tree(repo, [("100644", "blob", payload, "escaped.txt")])
        up = make_tree(repo, [("040000", "tree", inner, "..")])
        tree = make_tree(repo, [ok, ("040000", "tree", make_tree(repo, [("040000", "tree", up, "..")]), "sub")])
    elif shape == "slash-name":
        tree = literal_tree(repo, [("100644", b"../../escaped.txt", payload)])
    elif shape == "absolute-name":
        tree = literal_tree(repo, [("100644", str(tmp_path / "abs.txt").encode(), payload)])
    else:
        tree = make_tree(repo, [ok, ("040000", "tree", make_tree(repo, [("100644", "blob", payload, "config")]), ".GIT")])
    craft_session(repo, tree)
    target = tmp_path / "out" / "dir"
    before = user_state(repo)
    proc = agitlog("checkout", "--step", "0", *mode, str(target), cwd=repo)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "refusing" in proc.stderr
    assert not target.exists()
    assert not (tmp_path / "out" / "escaped.txt").exists() and not (tmp_path / "escaped.txt").exists()
    assert not (tmp_path / "abs.txt").exists()
    assert user_state(repo)["wt:README.md"] == before["wt:README.md"]
    assert "dir" not in git(repo, "worktree", "list")


def test_path_problem_accepts_ordinary_paths() -> None:
    from agitlog.query.checkout import path_problem

    for fine in (b"a.txt", b"src/app.py", b".github/workflows/ci.yml", b".gitignore", b"x/..y/z", b"caf\xe9.txt"):
        assert path_problem(fine) is None, fine
    for bad in (b"/etc/passwd", b"../x", b"a/../../x", b".git/config", b"a/.GIT/x", b"a//b", b"C:evil", b"git~1/x",
                b".git./x"):
        assert path_problem(bad) is not None, bad
