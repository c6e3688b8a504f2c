"""Objects agitlog writes from Python (agitlog.git.loose) are the objects git would write."""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from agitlog import git as agit
from agitlog.git import loose
from helpers import fsck, git


def test_blob_tree_and_commit_match_what_git_writes(repo: Path) -> None:
    handle = agit.find_repo(repo)
    assert loose.supported(handle.common_dir)
    payload = repo.parent / "payload.bin"
    payload.write_bytes(b"line\r\nbinary \x00\xff and text\n")
    blob = agit.hash_files(handle, [payload])[0]
    assert blob == git(repo, "hash-object", "--no-filters", str(payload)).strip()
    assert git(repo, "cat-file", "-t", blob).strip() == "blob"

    sub = agit.mktree(handle, [("100644", "blob", blob, "inner")])
    entries = [("100644", "blob", blob, "b.txt"), ("040000", "tree", sub, "b"), ("100755", "blob", blob, "b-x"),
               ("100644", "blob", blob, "a\u00e9")]
    tree = agit.mktree(handle, entries)
    text = "".join(f"{mode} {kind} {sha}\t{name}\n" for mode, kind, sha, name in entries)
    assert tree == git(repo, "mktree", input=text.encode()).strip()

    stamp = int(time.time())
    data = loose.commit_bytes(tree=tree, parents=[git(repo, "rev-parse", "HEAD").strip()],
                              message="agitlog step 1: x\n\nAgitlog-Step: 1\n", now=stamp)
    ours = loose.write_object(handle.common_dir, "commit", data)
    zone = data.split(b"\ncommitter ")[1].split(b"\n")[0].split()[-1].decode()
    env = dict(os.environ, GIT_AUTHOR_NAME="agitlog", GIT_AUTHOR_EMAIL="agitlog@localhost",
               GIT_COMMITTER_NAME="agitlog", GIT_COMMITTER_EMAIL="agitlog@localhost",
               GIT_AUTHOR_DATE=f"{stamp} {zone}", GIT_COMMITTER_DATE=f"{stamp} {zone}")
    theirs = subprocess.run(["git", "commit-tree", tree, "-p", "HEAD"], cwd=repo, env=env, check=True,
                            input=b"agitlog step 1: x\n\nAgitlog-Step: 1\n", stdout=subprocess.PIPE).stdout
    assert ours == theirs.decode().strip()
    fsck(repo)


def test_unusual_repositories_are_left_to_git(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    git(shared, "init", "-q", "--shared=group")
    assert not loose.supported(agit.find_repo(shared).common_dir)
    sha256 = tmp_path / "sha256"
    sha256.mkdir()
    git(sha256, "init", "-q", "--object-format=sha256")
    handle = agit.find_repo(sha256)
    assert not loose.supported(handle.common_dir)
    (sha256 / "f").write_text("x\n")
    blob = agit.hash_files(handle, [sha256 / "f"])[0]
    assert len(blob) == 64
    commit = agit.commit_tree(handle, tree=agit.empty_tree(handle), parents=[], message="m\n")
    assert git(sha256, "cat-file", "-t", commit).strip() == "commit"
