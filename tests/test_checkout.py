"""`agitlog checkout`: a step's worktree in its own directory, never the user's, and never a path
that escapes the directory, even from a crafted session."""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

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

def _blob(repo: Path, data: bytes) -> str:
    return git(repo, "hash-object", "-w", "--stdin", input=data).strip()


def _tree(repo: Path, entries: list[tuple[str, str, str, str]]) -> str:
    text = "".join(f"{mode} {kind} {sha}\t{name}\n" for mode, kind, sha, name in entries)
    return git(repo, "mktree", input=text.encode()).strip()


def _literal_tree(repo: Path, entries: list[tuple[str, bytes, str]]) -> str:
    """A tree git's own tools would refuse to build (names with slashes)."""
    raw = b"".join(mode.encode() + b" " + name + b"\0" + bytes.fromhex(sha) for mode, name, sha in entries)
    return git(repo, "hash-object", "-w", "-t", "tree", "--literally", "--stdin", input=raw).strip()


def craft_session(repo: Path, tree: str, session_id: str = "20260101-000000-abcdef") -> str:
    """A finished session whose only step has ``tree``: what a hostile teammate could push."""
    base = git(repo, "rev-parse", "HEAD").strip()
    step = git(repo, "commit-tree", tree, "-p", base, "-m", "agitlog step 0: crafted\n\nAgitlog-Kind: step",
               ).strip()
    meta = (f'format = 1\nid = "{session_id}"\nagent = "main"\ncommand = ["evil"]\nstatus = "ok"\n'
            f'started_at = "2026-01-01T00:00:00.000000Z"\n'
            f'[git]\nbase_commit = "{base}"\n[steps]\ncount = 1\nfirst = "{step}"\nlast = "{step}"\n')
    event = {"v": 1, "seq": 0, "ts": "2026-01-01T00:00:00.000000Z", "session": session_id, "type": "session.start",
             "agent": "main", "pid": 1, "span": "0" * 16, "parent_span": None, "step": 0, "commit": step,
             "data": {}}
    record_tree = _tree(repo, [("100644", "blob", _blob(repo, json.dumps(event).encode() + b"\n"), "events.jsonl"),
                               ("100644", "blob", _blob(repo, meta.encode()), "session.toml")])
    record = git(repo, "commit-tree", record_tree, "-p", step, "-m",
                 f"agitlog session {session_id}\n\nAgitlog-Session: {session_id}\nAgitlog-Kind: record").strip()
    git(repo, "update-ref", f"refs/agent-sessions/{session_id}", record)
    return session_id


@pytest.mark.parametrize("shape", ["dotdot", "dotgit", "nested-dotdot", "slash-name", "absolute-name", "GIT-case"])
@pytest.mark.parametrize("mode", [[], ["--export"]])
def test_checkout_refuses_traversal_from_crafted_session(repo: Path, tmp_path: Path, shape: str, mode: list[str]) -> None:
    payload = _blob(repo, b"pwned\n")
    ok = ("100644", "blob", payload, "fine.txt")
    if shape == "dotdot":
        tree = _tree(repo, [ok, ("100644", "blob", payload, "..")])
    elif shape == "dotgit":
        hooks = _tree(repo, [("100755", "blob", payload, "post-checkout")])
        tree = _tree(repo, [ok, ("040000", "tree", _tree(repo, [("040000", "tree", hooks, "hooks")]), ".git")])
    elif shape == "nested-dotdot":
        inner = _tree(repo, [("100644", "blob", payload, "escaped.txt")])
        up = _tree(repo, [("040000", "tree", inner, "..")])
        tree = _tree(repo, [ok, ("040000", "tree", _tree(repo, [("040000", "tree", up, "..")]), "sub")])
    elif shape == "slash-name":
        tree = _literal_tree(repo, [("100644", b"../../escaped.txt", payload)])
    elif shape == "absolute-name":
        tree = _literal_tree(repo, [("100644", str(tmp_path / "abs.txt").encode(), payload)])
    else:
        tree = _tree(repo, [ok, ("040000", "tree", _tree(repo, [("100644", "blob", payload, "config")]), ".GIT")])
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
    from agitlog.checkout import path_problem

    for fine in (b"a.txt", b"src/app.py", b".github/workflows/ci.yml", b".gitignore", b"x/..y/z", b"caf\xe9.txt"):
        assert path_problem(fine) is None, fine
    for bad in (b"/etc/passwd", b"../x", b"a/../../x", b".git/config", b"a/.GIT/x", b"a//b", b"C:evil", b"git~1/x",
                b".git./x"):
        assert path_problem(bad) is not None, bad
