"""A session's name (`agitlog run --name`) selects it wherever an id is accepted: in place of the id,
or with `--name`; both go through the one resolver (agitlog.store.sessions)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import agitlog, agitlog_json, git, run_python_agent

STEPS = """
    import pathlib, agitlog
    with agitlog.tool("write"):
        pathlib.Path("notes.txt").write_text("one\\n")
    with agitlog.tool("append"):
        pathlib.Path("notes.txt").write_text("one\\ntwo\\n")
    agitlog.decision("needle in the notes")
"""


def _record(repo: Path, name: str, code: str = STEPS) -> str:
    proc = run_python_agent(repo, code, "--name", name, name=f"agent-{name.replace(' ', '-')}.py")  # one each: reruns
    assert proc.returncode == 0, proc.stderr
    return agitlog_json("log", "--limit", "1", cwd=repo)[0]["id"]


@pytest.fixture
def named(repo: Path) -> tuple[str, str]:
    """Two sessions: "fix login" (a name no id looks like) and "nightly" (one that could be a prefix)."""
    first = _record(repo, "fix login")
    second = _record(repo, "nightly", STEPS.replace("two", "three"))
    return first, second


def test_every_read_command_takes_a_name(repo: Path, named: tuple[str, str], tmp_path: Path) -> None:
    first, second = named
    assert agitlog_json("show", "fix login", cwd=repo)["session"]["id"] == first
    assert agitlog_json("show", "--name", "nightly", cwd=repo)["session"]["id"] == second
    for args in (["fix login"], ["--name", "fix login"]):
        assert agitlog_json("diff", *args, cwd=repo)["session"] == first
        assert agitlog_json("state", *args, cwd=repo)["session_id"] == first
        assert agitlog_json("replay", *args, cwd=repo)["session"]["id"] == first
    out = tmp_path / "at-step-1"
    assert agitlog_json("checkout", "--name", "fix login", "--step", "1", str(out), cwd=repo)["session_id"] == first
    assert (out / "notes.txt").read_text() == "one\n"
    assert agitlog_json("checkout", "nightly", str(tmp_path / "n2"), "--step", "2", cwd=repo)["session_id"] == second
    assert (tmp_path / "n2" / "notes.txt").read_text() == "one\nthree\n"
    hits = agitlog_json("search", "needle", "--session", "nightly", cwd=repo)["hits"]
    assert {hit["session"] for hit in hits} == {second}
    proc = agitlog("compare", "fix login", "nightly", "--json", cwd=repo)
    assert proc.returncode == 1, proc.stderr  # they differ: "two" against "three"
    assert (json.loads(proc.stdout)["a"], json.loads(proc.stdout)["b"]) == (first, second)


def test_export_bisect_and_rerun_take_a_name(repo: Path, named: tuple[str, str], tmp_path: Path) -> None:
    first, _ = named
    trace = tmp_path / "trace.json"
    proc = agitlog("export", "--name", "fix login", "--format", "otlp-json", "-o", str(trace), cwd=repo)
    assert proc.returncode == 0, proc.stderr
    assert first in trace.read_text()
    html = tmp_path / "page.html"
    assert agitlog("export", "fix login", "--html", str(html), cwd=repo).returncode == 0
    assert first in html.read_text()
    proc = agitlog("bisect", "--name", "fix login", "--json", "--", "test", "!", "-e", "notes.txt", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    bisect = json.loads(proc.stdout)
    assert bisect["session"] == first and bisect["outcome"] == "found" and bisect["first_bad_step"] == 1
    proc = agitlog("rerun", "--name", "fix login", "--json", cwd=repo)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rerun = json.loads(proc.stdout)
    assert rerun["original"] == first and rerun["reproduced"] is True


def test_sharing_and_removing_take_a_name(repo: Path, named: tuple[str, str], tmp_path: Path) -> None:
    first, second = named
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    pushed = agitlog_json("push", str(remote), "fix login", cwd=repo)
    assert pushed["pushed"] == [first]
    assert git(remote, "for-each-ref", "--format=%(refname)", "refs/agent-sessions").split() == \
        [f"refs/agent-sessions/{first}"]
    assert agitlog_json("push", str(remote), "--name", "nightly", cwd=repo)["pushed"] == [second]
    bundle = tmp_path / "one.bundle"
    assert agitlog_json("bundle", "nightly", "-o", str(bundle), cwd=repo)["sessions"] == [second]
    assert agitlog_json("bundle", "--name", "fix login", "--name", "nightly", "-o", str(bundle), "--full",
                        cwd=repo)["sessions"] == [first, second]
    assert agitlog_json("scan", "--name", "nightly", cwd=repo)["sessions"] == [second]
    assert agitlog_json("rm", "fix login", cwd=repo)["removed"] == [first]
    assert [row["id"] for row in agitlog_json("log", cwd=repo)] == [second]
    assert agitlog_json("rm", "--name", "nightly", cwd=repo)["removed"] == [second]
    assert agitlog_json("log", cwd=repo) == []


def test_an_id_wins_over_a_name_and_unclear_names_are_refused(repo: Path, named: tuple[str, str]) -> None:
    first, second = named
    random_part = first.rsplit("-", 1)[-1]
    third = _record(repo, random_part[:4], "pass\n")  # named like the first session's random part
    assert agitlog_json("show", random_part[:4], cwd=repo)["session"]["id"] == first  # the id wins
    assert agitlog_json("show", "--name", random_part[:4], cwd=repo)["session"]["id"] == third  # --name: names only
    _record(repo, "nightly", "pass\n")
    proc = agitlog("diff", "nightly", cwd=repo)
    assert proc.returncode == 2 and "2 sessions are named 'nightly'" in proc.stderr
    proc = agitlog("diff", "no such name", "--json", cwd=repo)
    assert proc.returncode == 2 and "not a session id or name" in json.loads(proc.stdout)["error"]["message"]
    proc = agitlog("rerun", second, "--name", "fix login", cwd=repo)
    assert proc.returncode == 2 and "not both" in proc.stderr
