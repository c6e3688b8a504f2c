"""10,000 generated sessions (the real storage format): every command still works on them.
Timing is measured by the scripts in bench/, never asserted here."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from helpers import agitlog, agitlog_json, git, init_repo

# the shared fixture is costly: the whole file runs on one worker (--dist loadgroup)
pytestmark = pytest.mark.xdist_group("test_scale")

REPO_ROOT = Path(__file__).resolve().parent.parent
COUNT = 10_000


def _generate(repo: Path, **kwargs) -> list[str]:
    spec = importlib.util.spec_from_file_location("gen_sessions", REPO_ROOT / "bench" / "gen_sessions.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module.generate(repo, **kwargs)


@pytest.fixture(scope="session")  # not "module": xdist may interleave other files, which tears it down
def big_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    repo = init_repo(tmp_path_factory.mktemp("scale") / "repo")
    (repo / "README.md").write_text("scale\n")
    git(repo, "add", "README.md")
    git(repo, "-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "-q", "-m", "init")
    ids = _generate(repo, sessions=COUNT, events=4, days=30)
    return repo, ids


def test_log_lists_every_session_newest_first(big_repo: tuple[Path, list[str]]) -> None:
    repo, ids = big_repo
    rows = agitlog_json("log", cwd=repo)
    assert [row["id"] for row in rows] == ids[::-1]
    assert agitlog_json("log", "--status", "failed", "-n", "5", cwd=repo)[0]["status"] == "failed"
    git(repo, "pack-refs", "--all", "--prune")  # same answer from packed refs (and a fresh cache check)
    assert len(agitlog_json("log", cwd=repo)) == COUNT
    shown = agitlog_json("show", ids[1234], cwd=repo)
    assert shown["session"]["id"] == ids[1234] and len(shown["events"]) == 4


def test_full_log_prints_what_the_uncached_listing_prints(big_repo: tuple[Path, list[str]]) -> None:
    repo, ids = big_repo
    cold = agitlog("log", cwd=repo).stdout                   # builds the cache of rows
    assert cold.count("\n") == COUNT + 1 and cold.splitlines()[1].startswith(ids[-1])
    assert agitlog("log", cwd=repo).stdout == cold           # straight from the cache
    assert agitlog("log", "-n", str(COUNT), cwd=repo).stdout == cold  # the store, session by session


def test_search_and_hook_over_every_session(big_repo: tuple[Path, list[str]]) -> None:
    repo, ids = big_repo
    proc = agitlog("search", "overdue_invoices", "--json", "--limit", "0", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    hits = json.loads(proc.stdout)["hits"]
    assert {hit["session"] for hit in hits} == {ids[i] for i in range(0, COUNT, 100)}
    assert agitlog("hooks", "install", cwd=repo).returncode == 0
    generated = git(repo, "show", f"refs/agent-sessions/{ids[-1]}^:gen/session_{COUNT - 1:06d}.py")
    (repo / "gen").mkdir()
    (repo / "gen" / f"session_{COUNT - 1:06d}.py").write_text(generated)
    git(repo, "add", "gen")
    git(repo, "commit", "-q", "-m", "adopt the newest generated file")
    assert f"Agent-Session: {ids[-1]}" in git(repo, "log", "-1", "--format=%B")


def test_push_and_fetch_every_session(big_repo: tuple[Path, list[str]], tmp_path: Path) -> None:
    repo, ids = big_repo
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "team", str(remote))
    git(repo, "push", "-q", "team", "main")
    pushed = agitlog_json("push", "team", cwd=repo)
    assert len(pushed["pushed"]) == COUNT
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(remote), str(clone))
    fetched = agitlog_json("fetch", cwd=clone)
    assert len(fetched["new"]) == COUNT
    assert not list((clone / ".git" / "refs" / "agent-sessions").iterdir())  # packed after a big fetch
    assert len(agitlog_json("log", cwd=clone)) == COUNT
