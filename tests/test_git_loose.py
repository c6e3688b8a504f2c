"""Objects agitlog writes from Python (agitlog.git.loose) are the objects git would write."""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from agitlog import git as agit
from agitlog.errors import GitError
from agitlog.git import loose, refs
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


# --- session refs written without a process (agitlog.git.refs.update_ref) ---------------------------

def _session_ref_setup(repo: Path) -> tuple[agit.Repo, str, str, str]:
    handle = agit.find_repo(repo)
    head = git(repo, "rev-parse", "HEAD").strip()
    other = agit.commit_tree(handle, tree=agit.empty_tree(handle), parents=[head], message="other\n")
    return handle, "refs/agent-sessions/20261130-101010-abc123", head, other


def test_session_ref_is_swapped_as_git_would(repo: Path) -> None:
    handle, ref, head, other = _session_ref_setup(repo)
    assert refs._swap_loose_ref(handle, ref, head, None)  # no git process
    path = handle.common_dir / ref
    assert path.read_text() == f"{head}\n"  # what git writes: the id and a newline
    assert not path.with_name(path.name + ".lock").exists()
    assert git(repo, "for-each-ref", "--format=%(objectname) %(refname)", "refs/agent-sessions/") == f"{head} {ref}\n"
    assert refs._swap_loose_ref(handle, ref, other, head)
    assert git(repo, "rev-parse", ref).strip() == other
    assert not (handle.common_dir / "logs" / ref).exists()  # git keeps no reflog for these refs either
    fsck(repo)


def test_session_ref_swap_refuses_what_git_refuses(repo: Path) -> None:
    handle, ref, head, other = _session_ref_setup(repo)
    agit.update_ref(handle, ref, head, None)
    with pytest.raises(GitError):
        agit.update_ref(handle, ref, other, None)  # exists already
    with pytest.raises(GitError):
        agit.update_ref(handle, ref, other, other)  # not where the caller saw it
    assert git(repo, "rev-parse", ref).strip() == head
    git(repo, "pack-refs", "--all", "--prune")
    assert not (handle.common_dir / ref).exists()
    with pytest.raises(GitError):
        agit.update_ref(handle, ref, other, None)  # packed: it exists all the same
    agit.update_ref(handle, ref, other, head)  # a packed ref is moved by git
    assert git(repo, "rev-parse", ref).strip() == other
    lock = handle.common_dir / (ref + ".lock")
    lock.write_text("")
    with pytest.raises(GitError, match="lock"):
        agit.update_ref(handle, ref, head, other)  # another writer holds the lock
    lock.unlink()
    assert git(repo, "rev-parse", ref).strip() == other


def test_session_ref_goes_through_git_when_git_would_do_more(repo: Path) -> None:
    handle, ref, head, other = _session_ref_setup(repo)
    hook = handle.common_dir / "hooks" / "reference-transaction"
    hook.parent.mkdir(exist_ok=True)
    seen = repo.parent / "transactions.txt"
    hook.write_text(f"#!/bin/sh\ncat >> '{seen}'\n")
    hook.chmod(0o755)
    refs._plain_loose_refs.cache_clear()
    try:
        agit.update_ref(handle, ref, head, None)
        assert f"{ref}" in seen.read_text()  # the hook saw the update
        hook.unlink()
        git(repo, "config", "core.logAllRefUpdates", "always")
        refs._plain_loose_refs.cache_clear()
        agit.update_ref(handle, ref, other, head)
        assert (handle.common_dir / "logs" / ref).is_file()  # git kept the reflog it was asked for
    finally:
        refs._plain_loose_refs.cache_clear()
