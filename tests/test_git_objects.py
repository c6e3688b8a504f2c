"""agitlog.git.objects: listings of many commits in one process read what git's own per-commit commands read."""
from __future__ import annotations

import os
from pathlib import Path

from agitlog import git as agit
from helpers import git


def test_ls_trees_lists_each_commit_as_ls_tree_does(repo: Path) -> None:
    (repo / "a" / "b c").mkdir(parents=True)
    (repo / "a" / "b c" / "line\nbreak").write_text("x")
    os.symlink("README.md", repo / "link")
    git(repo, "add", "-A")
    git(repo, "update-index", "--add", "--cacheinfo", "160000," + "12" * 20 + ",vendor/sub")
    git(repo, "commit", "-q", "-m", "nested, a symlink, a submodule")
    git(repo, "commit", "-q", "--allow-empty", "-m", "the same tree")
    empty = git(repo, "commit-tree", git(repo, "hash-object", "-t", "tree", "/dev/null").strip(), "-m", "e").strip()
    commits = git(repo, "rev-list", "HEAD").split() + [empty]
    handle = agit.find_repo(repo)

    listed = agit.ls_trees(handle, commits)

    assert list(listed) == commits
    for commit in commits:
        assert listed[commit] == agit.ls_tree(handle, commit)
    assert {e.kind for e in listed[commits[0]]} == {"blob", "commit"} and listed[empty] == []
    assert b"a/b c/line\nbreak" in [e.path for e in listed[commits[0]]]
    assert agit.ls_trees(handle, []) == {}
