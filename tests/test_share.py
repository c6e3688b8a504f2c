"""Sharing sessions: push, fetch, remote setup, bundle and import, through the installed command."""
from __future__ import annotations

import time
from pathlib import Path

from helpers import agitlog, agitlog_json, fsck, git, session_ids, tree_files, unique_prefix
from team_agents import calc_repo, record_step_agent


def _bare(path: Path) -> Path:
    git(path.parent, "init", "-q", "--bare", str(path))
    return path


def _remote_refs(remote: Path) -> dict[str, str]:
    out = git(remote, "for-each-ref", "--format=%(refname) %(objectname)")
    return dict(line.split() for line in out.splitlines())


def _shared_setup(tmp_path: Path) -> tuple[Path, Path]:
    repo = calc_repo(tmp_path / "alice")
    remote = _bare(tmp_path / "remote.git")
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "push", "-q", "origin", "main")
    record_step_agent(repo)
    return repo, remote


def test_push_clone_fetch_shows_the_same_session(tmp_path: Path) -> None:
    repo, remote = _shared_setup(tmp_path)
    (repo / "local-branch-work.txt").write_text("x")
    git(repo, "checkout", "-q", "-b", "unpushed-branch")
    [sid] = session_ids(repo)
    proc = agitlog("push", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    assert sid in proc.stdout
    refs = _remote_refs(remote)
    assert f"refs/agent-sessions/{sid}" in refs
    assert "refs/heads/unpushed-branch" not in refs  # sessions only, never branches

    clone = tmp_path / "bob"
    git(tmp_path, "clone", "-q", str(remote), str(clone))
    assert session_ids(clone) == []  # git clone alone does not bring sessions
    fetched = agitlog_json("fetch", "origin", cwd=clone)
    assert fetched["new"] == [sid]
    original = agitlog_json("show", sid, cwd=repo)
    copy = agitlog_json("show", sid, cwd=clone)
    assert copy["events"] == original["events"]
    assert copy["session"] == original["session"]
    last = original["session"]["steps"]["last"]
    assert tree_files(clone, last) == tree_files(repo, last)
    assert git(clone, "rev-list", "--count", f"refs/agent-sessions/{sid}") == git(
        repo, "rev-list", "--count", f"refs/agent-sessions/{sid}")
    fsck(clone)
    again = agitlog_json("fetch", cwd=clone)
    assert again["new"] == [] and again["unchanged"] == 1


def test_push_named_session_and_json_counts(tmp_path: Path) -> None:
    repo, remote = _shared_setup(tmp_path)
    record_step_agent(repo)
    first, second = sorted(session_ids(repo))
    result = agitlog_json("push", "origin", unique_prefix(first, [second]), cwd=repo)
    assert result["pushed"] == [first]
    assert set(_remote_refs(remote)) == {"refs/heads/main", f"refs/agent-sessions/{first}"}
    result = agitlog_json("push", cwd=repo)
    assert result["pushed"] == [second] and result["up_to_date"] == [first]


def test_push_to_unreachable_remote_is_a_clear_error(tmp_path: Path) -> None:
    repo, _ = _shared_setup(tmp_path)
    proc = agitlog("push", str(tmp_path / "missing.git"), cwd=repo)
    assert proc.returncode == 1
    assert "git push failed" in proc.stderr and "Traceback" not in proc.stderr


def test_remote_setup_makes_plain_git_fetch_and_push_carry_sessions(tmp_path: Path) -> None:
    repo, remote = _shared_setup(tmp_path)
    [sid] = session_ids(repo)
    assert agitlog("remote", "setup", "origin", cwd=repo).returncode == 0
    assert agitlog("remote", "setup", "origin", cwd=repo).returncode == 0  # idempotent
    fetch_specs = git(repo, "config", "--get-all", "remote.origin.fetch").split()
    assert fetch_specs.count("refs/agent-sessions/*:refs/agent-sessions/*") == 1
    assert git(repo, "config", "--get-all", "remote.origin.push", check=False) == ""  # branch pushing unchanged

    (repo / "more.txt").write_text("more\n")
    git(repo, "add", "more.txt")
    git(repo, "commit", "-q", "-m", "more")
    git(repo, "push", "-q", "origin", "main")  # plain git push: the pre-push hook sends sessions along
    deadline = time.time() + 30
    while f"refs/agent-sessions/{sid}" not in _remote_refs(remote) and time.time() < deadline:
        time.sleep(0.1)
    assert f"refs/agent-sessions/{sid}" in _remote_refs(remote)
    assert _remote_refs(remote)["refs/heads/main"] == git(repo, "rev-parse", "main").strip()

    clone = tmp_path / "bob"
    git(tmp_path, "clone", "-q", str(remote), str(clone))
    assert agitlog("remote", "setup", "origin", "--no-push", cwd=clone).returncode == 0
    git(clone, "fetch", "-q", "origin")  # plain git fetch brings sessions now
    assert session_ids(clone) == [sid]

    removed = agitlog_json("remote", "setup", "origin", "--remove", cwd=repo)
    assert removed["removed"] and removed["changed"]
    assert "refs/agent-sessions/*" not in git(repo, "config", "--get-all", "remote.origin.fetch")
    assert git(repo, "config", "--get", "remote.origin.agitlogpush", check=False) == ""


def test_bundle_round_trip_into_another_clone(tmp_path: Path) -> None:
    repo, remote = _shared_setup(tmp_path)
    [sid] = session_ids(repo)
    bundle = tmp_path / "bug.bundle"
    made = agitlog_json("bundle", sid[:10], "-o", str(bundle), cwd=repo)
    assert made["sessions"] == [sid] and bundle.is_file()
    assert made["prerequisites"]  # the base commit is on the remote: not repeated in the bundle
    heads = git(repo, "bundle", "list-heads", str(bundle))
    assert all(line.split()[1].startswith("refs/agent-sessions/") for line in heads.splitlines())

    clone = tmp_path / "carol"
    git(tmp_path, "clone", "-q", str(remote), str(clone))
    imported = agitlog_json("import", str(bundle), cwd=clone)
    assert imported["new"] == [sid]
    assert agitlog_json("show", sid, cwd=clone)["events"] == agitlog_json("show", sid, cwd=repo)["events"]
    fsck(clone)

    full = tmp_path / "full.bundle"
    assert agitlog_json("bundle", "-o", str(full), "--full", cwd=repo)["prerequisites"] == []
    stranger = tmp_path / "stranger"
    git(tmp_path, "init", "-q", str(stranger))
    assert agitlog_json("import", str(full), cwd=stranger)["new"] == [sid]
    fsck(stranger)


def test_import_without_the_base_history_explains(tmp_path: Path) -> None:
    repo, _ = _shared_setup(tmp_path)
    bundle = tmp_path / "thin.bundle"
    assert agitlog("bundle", "-o", str(bundle), cwd=repo).returncode == 0
    stranger = tmp_path / "stranger"
    git(tmp_path, "init", "-q", str(stranger))
    proc = agitlog("import", str(bundle), cwd=stranger)
    assert proc.returncode == 1
    assert "lacks history" in proc.stderr and "--full" in proc.stderr


def test_push_without_a_remote_says_what_to_do(tmp_path: Path) -> None:
    repo = calc_repo(tmp_path / "solo")
    record_step_agent(repo)
    proc = agitlog("push", "--json", cwd=repo)
    assert proc.returncode == 2
    error = __import__("json").loads(proc.stdout)["error"]
    assert error["message"] == "this repository has no remote" and "git remote add" in error["hint"]


def test_fetch_named_sessions_only(tmp_path: Path) -> None:
    repo, remote = _shared_setup(tmp_path)
    record_step_agent(repo)
    assert agitlog("push", cwd=repo).returncode == 0
    first, second = sorted(session_ids(repo))
    clone = tmp_path / "bob"
    git(tmp_path, "clone", "-q", str(remote), str(clone))
    fetched = agitlog_json("fetch", "origin", second.rsplit("-", 1)[-1], cwd=clone)
    assert fetched["new"] == [second] and session_ids(clone) == [second]
    proc = agitlog("fetch", "origin", "nothing-like-this", cwd=clone)
    assert proc.returncode == 2 and "no session on the remote" in proc.stderr


def test_remote_setup_with_a_global_hooks_path_still_sets_up_fetching(tmp_path: Path) -> None:
    repo, _ = _shared_setup(tmp_path)
    git(repo, "config", "--global", "core.hooksPath", str(tmp_path / "shared-hooks"))
    proc = agitlog("remote", "setup", "origin", cwd=repo)
    assert proc.returncode == 0
    assert "pre-push hook was not installed" in proc.stderr
    assert "refs/agent-sessions/*" in git(repo, "config", "--get-all", "remote.origin.fetch")
    assert not (tmp_path / "shared-hooks").exists()
