"""The metadata cache behind `agitlog log`: always the refs' answer, whatever happens to the file."""
from __future__ import annotations

from pathlib import Path

from agitlog import git as agit
from agitlog.store.metacache import cache_file
from agitlog.store.sessions import SessionStore
from helpers import git, session_ids
from team_agents import calc_repo, record_step_agent


def _ids(repo: Path) -> list[str]:
    return sorted(s.id for s in SessionStore.open(agit.find_repo(repo)).all())


def test_cache_follows_ref_changes_and_survives_corruption(tmp_path: Path) -> None:
    repo = calc_repo(tmp_path / "repo")
    record_step_agent(repo)
    record_step_agent(repo)
    first, second = sorted(session_ids(repo))
    assert _ids(repo) == [first, second]
    where = agit.find_repo(repo)
    assert cache_file(where).exists()
    git(repo, "update-ref", "-d", f"refs/agent-sessions/{first}")   # behind agitlog's back
    assert _ids(repo) == [second]
    git(repo, "update-ref", f"refs/agent-sessions/{first}", git(repo, "rev-parse", f"refs/agent-sessions/{second}").strip())
    git(repo, "pack-refs", "--all", "--prune")
    assert _ids(repo) == [first, second]
    cache_file(where).write_bytes(b"garbage")
    assert _ids(repo) == [first, second]
    meta = {s.id: s.meta for s in SessionStore.open(where).all()}
    assert meta[second].env_names and meta[second].steps.count == 5
