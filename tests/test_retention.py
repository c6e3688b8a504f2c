"""`agitlog rm` and `agitlog gc`: sessions go, adopted ones stay, refs end up packed."""
from __future__ import annotations

import importlib.util
from pathlib import Path

from helpers import agitlog, agitlog_json, git, session_ids
from team_agents import calc_repo, record_step_agent

REPO_ROOT = Path(__file__).resolve().parent.parent


def _generator():
    spec = importlib.util.spec_from_file_location("gen_sessions", REPO_ROOT / "bench" / "gen_sessions.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def test_rm_locally_and_on_a_remote(tmp_path: Path) -> None:
    repo = calc_repo(tmp_path / "repo")
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    record_step_agent(repo)
    record_step_agent(repo)
    first, second = sorted(session_ids(repo))
    assert agitlog("push", cwd=repo).returncode == 0
    result = agitlog_json("rm", first, cwd=repo)
    assert result["removed"] == [first] and result["remote_removed"] == []
    assert session_ids(repo) == [second]
    assert f"refs/agent-sessions/{first}" in git(remote, "for-each-ref")
    result = agitlog_json("rm", second, first, "--remote", "origin", cwd=repo)
    assert result["removed"] == [second] and sorted(result["remote_removed"]) == [first, second]
    assert session_ids(repo) == []
    assert "agent-sessions" not in git(remote, "for-each-ref")
    proc = agitlog("rm", "nonexistent", cwd=repo)
    assert proc.returncode == 1 and "no recorded sessions" in proc.stderr


def test_rm_on_a_remote_after_remote_setup(tmp_path: Path) -> None:
    """`remote setup` maps the remote's session refs onto the local ones: deleting one there deletes
    it here too, which must not make the local delete fail ("cannot lock ref")."""
    repo = calc_repo(tmp_path / "repo")
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    record_step_agent(repo)
    record_step_agent(repo)
    first, second = sorted(session_ids(repo))
    assert agitlog("remote", "setup", "origin", cwd=repo).returncode == 0
    assert agitlog("push", cwd=repo).returncode == 0
    proc = agitlog("rm", first, "--remote", "origin", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    assert "removed 1 session:" in proc.stdout and "removed 1 session from origin" in proc.stdout
    assert session_ids(repo) == [second]
    assert first not in git(remote, "for-each-ref") and second in git(remote, "for-each-ref")


def test_gc_older_than_keeps_adopted_sessions_and_packs_refs(tmp_path: Path) -> None:
    repo = calc_repo(tmp_path / "repo")
    old_ids = _generator().generate(repo, sessions=6, events=5, days=200, until_days_ago=150)
    record_step_agent(repo)
    [recent] = [sid for sid in session_ids(repo) if sid not in old_ids]
    adopted = old_ids[2]
    step = git(repo, "rev-parse", f"refs/agent-sessions/{adopted}^").strip()
    git(repo, "branch", "kept-work", step)  # a user's branch built on one old session's step

    dry = agitlog_json("gc", "--older-than", "90d", "--dry-run", cwd=repo)
    assert dry["dry_run"] and len(dry["removed"]) == 5 and len(session_ids(repo)) == 7

    result = agitlog_json("gc", "--older-than", "90d", cwd=repo)
    assert sorted(result["removed"]) == sorted(set(old_ids) - {adopted})
    assert result["kept_adopted"] == [adopted]
    assert sorted(session_ids(repo)) == sorted([adopted, recent])
    assert not list((repo / ".git" / "refs" / "agent-sessions").iterdir())  # packed
    assert "refs/agent-sessions/" in (repo / ".git" / "packed-refs").read_text()
    assert {row["id"] for row in agitlog_json("log", cwd=repo)} == {adopted, recent}
    text = agitlog("gc", cwd=repo)
    assert text.returncode == 0 and "2 sessions remain; session refs packed" in text.stdout
    dry_text = agitlog("gc", "--older-than", "90d", "--dry-run", cwd=repo).stdout
    assert "would remove 0 sessions" in dry_text and "would keep 1 old session whose" in dry_text
    assert "2 sessions would remain; dry run: nothing was removed" in dry_text and "refs packed" not in dry_text


def test_sessions_can_be_named_by_their_random_part(tmp_path: Path) -> None:
    repo = calc_repo(tmp_path / "repo")
    record_step_agent(repo)
    [sid] = session_ids(repo)
    handle = sid.rsplit("-", 1)[-1]
    assert agitlog_json("show", handle, cwd=repo)["session"]["id"] == sid
    bundle = tmp_path / "bug.bundle"
    assert agitlog_json("bundle", handle, "-o", str(bundle), "--full", cwd=repo)["sessions"] == [sid]
    assert agitlog_json("rm", handle, cwd=repo)["removed"] == [sid]
    assert agitlog_json("import", str(bundle), cwd=repo)["new"] == [sid]
