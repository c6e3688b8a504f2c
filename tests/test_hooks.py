"""`agitlog hooks`: real `git commit`s get `Agent-Session:` when the staged content came from a session."""
from __future__ import annotations

import filecmp
import time
import os
import stat
import subprocess
from pathlib import Path

import agitlog
from helpers import agitlog as run_agitlog, agitlog_json, git, run_python_agent, session_ids
from team_agents import calc_repo, record_step_agent

REPO_ROOT = Path(__file__).resolve().parent.parent


def _commit(repo: Path, message: str, *args: str) -> str:
    git(repo, "commit", "-q", "-m", message, *args)
    return git(repo, "log", "-1", "--format=%B")


def _write_hook(path: Path, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def test_commit_of_agent_changes_carries_the_trailer(tmp_path: Path) -> None:
    repo = calc_repo(tmp_path / "repo")
    assert run_agitlog("hooks", "install", cwd=repo).returncode == 0
    record_step_agent(repo)
    [sid] = session_ids(repo)
    git(repo, "add", "app/calc.py")
    assert f"Agent-Session: {sid}" in _commit(repo, "take the agent's calc")

    (repo / "human.txt").write_text("written by a person\n")
    git(repo, "add", "human.txt")
    assert "Agent-Session" not in _commit(repo, "my own change")


def test_commit_a_uses_gits_temporary_index(tmp_path: Path) -> None:
    repo = calc_repo(tmp_path / "repo")
    run_agitlog("hooks", "install", cwd=repo)
    record_step_agent(repo)
    [sid] = session_ids(repo)
    assert f"Agent-Session: {sid}" in _commit(repo, "all of it", "-a")


def test_install_keeps_existing_hook_and_uninstall_restores_it(tmp_path: Path) -> None:
    repo = calc_repo(tmp_path / "repo")
    hooks = repo / ".git" / "hooks"
    marker = tmp_path / "legacy-ran"
    _write_hook(hooks / "prepare-commit-msg", f'echo "$1" >> "{marker}"\n')
    original = (hooks / "prepare-commit-msg").read_bytes()
    result = agitlog_json("hooks", "install", cwd=repo)
    assert result["kept"] == ["prepare-commit-msg"]
    assert agitlog_json("hooks", "install", cwd=repo)["kept"] == []  # idempotent: ours is just updated
    assert agitlog_json("hooks", "status", cwd=repo) == {
        "prepare-commit-msg": "installed (runs previous hook first)", "pre-push": "installed"}
    record_step_agent(repo)
    git(repo, "add", "app/calc.py")
    assert "Agent-Session:" in _commit(repo, "with both hooks")
    assert marker.read_text().strip().endswith("COMMIT_EDITMSG")  # the previous hook still ran

    result = agitlog_json("hooks", "uninstall", cwd=repo)
    assert result["restored"] == ["prepare-commit-msg"]
    assert (hooks / "prepare-commit-msg").read_bytes() == original
    assert not (hooks / "pre-push").exists()
    assert not any(p.name.endswith(".agitlog-legacy") for p in hooks.iterdir())


def test_failing_previous_hook_still_stops_the_commit(tmp_path: Path) -> None:
    repo = calc_repo(tmp_path / "repo")
    _write_hook(repo / ".git" / "hooks" / "prepare-commit-msg", "exit 1\n")
    run_agitlog("hooks", "install", cwd=repo)
    (repo / "x.txt").write_text("x")
    git(repo, "add", "x.txt")
    proc = subprocess.run(["git", "commit", "-q", "-m", "x"], cwd=repo, capture_output=True)
    assert proc.returncode != 0


def test_local_core_hooks_path_is_respected(tmp_path: Path) -> None:
    repo = calc_repo(tmp_path / "repo")
    git(repo, "config", "core.hooksPath", ".githooks")
    _write_hook(repo / ".githooks" / "prepare-commit-msg", "exit 0\n")
    result = agitlog_json("hooks", "install", cwd=repo)
    assert Path(result["directory"]) == repo / ".githooks"
    assert (repo / ".githooks" / "prepare-commit-msg.agitlog-legacy").exists()
    record_step_agent(repo)
    git(repo, "add", "app/calc.py")
    assert "Agent-Session:" in _commit(repo, "via hooksPath")
    agitlog_json("hooks", "uninstall", cwd=repo)
    assert (repo / ".githooks" / "prepare-commit-msg").read_text() == "#!/bin/sh\nexit 0\n"


def test_global_core_hooks_path_is_refused(tmp_path: Path, isolated_env: Path) -> None:
    repo = calc_repo(tmp_path / "repo")
    git(repo, "config", "--global", "core.hooksPath", str(tmp_path / "shared-hooks"))
    proc = run_agitlog("hooks", "install", cwd=repo)
    assert proc.returncode == 2
    assert "core.hooksPath is set in your global git config" in proc.stderr
    assert not (tmp_path / "shared-hooks").exists()


def test_hook_never_blocks_a_commit(tmp_path: Path) -> None:
    repo = calc_repo(tmp_path / "repo")
    run_agitlog("hooks", "install", cwd=repo)
    record_step_agent(repo)
    cache = repo / ".git" / "agitlog" / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "links.marshal").write_bytes(b"\x00not marshal")  # a corrupt cache is rebuilt
    git(repo, "add", "app/calc.py")
    assert "Agent-Session:" in _commit(repo, "corrupt cache")
    hook = repo / ".git" / "hooks" / "prepare-commit-msg"
    hook.write_text(hook.read_text().replace("agitlog.sharing.commit_hook", "agitlog.missing_module"))
    (repo / "y.txt").write_text("y")
    git(repo, "add", "y.txt")
    proc = subprocess.run(["git", "commit", "-q", "-m", "y"], cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 0


def test_hooks_ship_with_the_package() -> None:
    shipped = Path(agitlog.__file__).parent / "hooks"
    for name in ("prepare-commit-msg", "pre-push"):
        assert filecmp.cmp(shipped / name, REPO_ROOT / "hooks" / name, shallow=False)
        assert os.access(REPO_ROOT / "hooks" / name, os.X_OK)
    spec = (REPO_ROOT / ".pre-commit-hooks.yaml").read_text()
    assert "id: agitlog-link-session" in spec and "prepare-commit-msg" in spec


def test_previous_pre_push_hook_still_gets_its_stdin(tmp_path: Path) -> None:
    repo = calc_repo(tmp_path / "repo")
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    seen = tmp_path / "pushed-refs"
    _write_hook(repo / ".git" / "hooks" / "pre-push", f'cat > "{seen}"\n')
    run_agitlog("hooks", "install", cwd=repo)
    git(repo, "push", "-q", "origin", "main")
    assert seen.read_text().startswith("refs/heads/main ")
    assert "agent-sessions" not in git(remote, "for-each-ref")  # not enabled for origin: nothing extra


def test_old_sessions_are_not_linked(tmp_path: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("gen_sessions", REPO_ROOT / "bench" / "gen_sessions.py")
    gen = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(gen)
    repo = calc_repo(tmp_path / "repo")
    [old] = gen.generate(repo, sessions=1, events=3, days=60, until_days_ago=60)
    run_agitlog("hooks", "install", cwd=repo)
    (repo / "gen").mkdir()
    (repo / "gen" / "session_000000.py").write_text(git(repo, "show", f"refs/agent-sessions/{old}^:gen/session_000000.py"))
    git(repo, "add", "gen")
    assert "Agent-Session" not in _commit(repo, "60 days later")  # default limit: 30 days
    git(repo, "config", "agitlog.linkMaxAgeDays", "0")
    (repo / "gen" / "session_000000.py").write_text("changed\n")
    git(repo, "commit", "-q", "-am", "change")
    (repo / "gen" / "session_000000.py").write_text(git(repo, "show", f"refs/agent-sessions/{old}^:gen/session_000000.py"))
    git(repo, "add", "gen")
    assert f"Agent-Session: {old}" in _commit(repo, "no limit")


def _age_ref_storage(repo: Path, seconds: float = 60) -> None:
    """Pretend the session refs last changed a minute ago (the blob list is only trusted then)."""
    past = time.time() - seconds
    for path in (repo / ".git" / "refs" / "agent-sessions", repo / ".git" / "packed-refs"):
        if path.exists():
            os.utime(path, (past, past))


def _person_commits_first(repo: Path, subject: str = "builds the lists") -> None:
    """A person's commit once the session refs have settled: it gets no trailer, and Python (run
    once) builds the lists the hook's shell path reads."""
    _age_ref_storage(repo)
    (repo / "notes.txt").write_text("human\n")
    git(repo, "add", "notes.txt")
    assert "Agent-Session" not in _commit(repo, subject)


def test_shell_shortcut_skips_python_and_stays_correct(tmp_path: Path) -> None:
    repo = calc_repo(tmp_path / "repo")
    run_agitlog("hooks", "install", cwd=repo)
    record_step_agent(repo)
    [first] = session_ids(repo)
    _person_commits_first(repo, "builds the blob list")
    blob_list = repo / ".git" / "agitlog" / "cache" / "links.blobs"
    assert blob_list.exists()
    # the shortcut decides alone now: with Python unusable a human commit still gets no trailer...
    hook = repo / ".git" / "hooks" / "prepare-commit-msg"
    working = hook.read_text()
    hook.write_text(working.replace("agitlog.sharing.commit_hook", "agitlog.missing_module"))
    (repo / "notes.txt").write_text("human 2\n")
    git(repo, "add", "notes.txt")
    proc = subprocess.run(["git", "commit", "-q", "-m", "shortcut"], cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 0 and "missing_module" not in proc.stderr  # Python was never started
    hook.write_text(working)
    # ...while agent content still goes to Python and gets its trailer
    git(repo, "add", "app/calc.py")
    assert f"Agent-Session: {first}" in _commit(repo, "agent work")
    # a session recorded after the list was written makes the list stale: Python decides again
    proc = run_python_agent(repo, "import pathlib; pathlib.Path('app/extra.py').write_text('X = 1\\n')\n")
    assert proc.returncode == 0, proc.stderr
    [second] = set(session_ids(repo)) - {first}
    git(repo, "add", "app/extra.py")
    assert f"Agent-Session: {second}" in _commit(repo, "second agent work")


def test_shell_path_writes_the_trailer_and_hands_unusual_commits_to_python(tmp_path: Path) -> None:
    repo = calc_repo(tmp_path / "repo")
    run_agitlog("hooks", "install", cwd=repo)
    agent = ("import agitlog, pathlib\n"
             "for name in ('app/one.py', 'app/two.py', 'app/caf\\u00e9.py'):\n"
             "    pathlib.Path(name).write_text(name + '\\n')\n"
             "    agitlog.decision('wrote ' + name)\n"
             "    pathlib.Path(name).unlink()\n"
             "    agitlog.decision('removed ' + name)\n")
    for _ in range(4):  # four sessions wrote the same content: the newest three are linked
        assert run_python_agent(repo, agent).returncode == 0
    for name in ("app/one.py", "app/two.py", "app/caf\u00e9.py"):
        (repo / name).write_text(name + "\n")
    newest = sorted(session_ids(repo), reverse=True)
    _person_commits_first(repo)  # Python, once: the lists were missing
    hook = repo / ".git" / "hooks" / "prepare-commit-msg"
    hook.write_text(hook.read_text().replace("agitlog.sharing.commit_hook", "agitlog.missing_module"))
    git(repo, "add", "app/one.py", "app/two.py")
    proc = subprocess.run(["git", "commit", "-q", "-m", "agent work"], cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 0 and "missing_module" not in proc.stderr  # the shell alone wrote the trailer
    message = git(repo, "log", "-1", "--format=%B")
    assert [line for line in message.splitlines() if line.startswith("Agent-Session")] == \
        [f"Agent-Session: {sid}" for sid in newest[:3]]
    git(repo, "add", "app/caf\u00e9.py")  # git quotes this path: the shell hands the commit to Python
    proc = subprocess.run(["git", "commit", "-q", "-m", "quoted"], cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 0 and "missing_module" in proc.stderr
    (repo / "app" / "two.py").write_text("changed by a person\n")  # staged blob unknown: no trailer, no Python
    git(repo, "add", "app/two.py")
    proc = subprocess.run(["git", "commit", "-q", "-m", "mine"], cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 0 and "missing_module" not in proc.stderr
    assert "Agent-Session" not in git(repo, "log", "-1", "--format=%B")


def test_shell_path_hands_sessions_older_than_a_day_to_python(tmp_path: Path) -> None:
    """The shell path finds yesterday's cutoff itself (awk, no `date`): a session two days old is
    beyond it, so Python decides (and links it: the configured limit is 30 days); one from an
    hour ago is linked by the shell alone."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("gen_sessions", REPO_ROOT / "bench" / "gen_sessions.py")
    gen = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(gen)
    repo = calc_repo(tmp_path / "repo")
    [old] = gen.generate(repo, sessions=1, events=3, days=2.0, until_days_ago=2.0)
    [recent] = gen.generate(repo, sessions=1, events=3, days=0.05, until_days_ago=0.04, seed=2)
    run_agitlog("hooks", "install", cwd=repo)
    _person_commits_first(repo)
    hook = repo / ".git" / "hooks" / "prepare-commit-msg"
    working = hook.read_text()
    hook.write_text(working.replace("agitlog.sharing.commit_hook", "agitlog.missing_module"))
    (repo / "gen").mkdir()
    recent_file = repo / "gen" / "session_000000.py"
    recent_file.write_text(git(repo, "show", f"refs/agent-sessions/{recent}^:gen/session_000000.py"))
    git(repo, "add", "gen")
    proc = subprocess.run(["git", "commit", "-q", "-m", "recent"], cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 0 and "missing_module" not in proc.stderr  # the shell decided
    assert f"Agent-Session: {recent}" in git(repo, "log", "-1", "--format=%B")
    recent_file.write_text(git(repo, "show", f"refs/agent-sessions/{old}^:gen/session_000000.py"))
    git(repo, "add", "gen")
    proc = subprocess.run(["git", "commit", "-q", "-m", "old"], cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 0 and "missing_module" in proc.stderr  # beyond the cutoff: handed to Python
    hook.write_text(working)
    git(repo, "reset", "-q", "--soft", "HEAD~1")
    git(repo, "commit", "-q", "-m", "old")  # the working hook: Python links it (30-day limit)
    assert f"Agent-Session: {old}" in git(repo, "log", "-1", "--format=%B")


def test_commit_in_a_linked_worktree_finds_the_common_directory(tmp_path: Path) -> None:
    """The shell finds the lists in the common git directory from a linked worktree too (its .git
    is a file, so it asks git rather than taking .git)."""
    repo = calc_repo(tmp_path / "repo")
    run_agitlog("hooks", "install", cwd=repo)
    record_step_agent(repo)
    [sid] = session_ids(repo)
    _person_commits_first(repo)
    agent_content = (repo / "app" / "calc.py").read_bytes()
    git(repo, "checkout", "-q", "--", "app/calc.py")
    linked = tmp_path / "linked"
    git(repo, "worktree", "add", "-q", "-b", "side", str(linked))
    hook = repo / ".git" / "hooks" / "prepare-commit-msg"
    working = hook.read_text()
    hook.write_text(working.replace("agitlog.sharing.commit_hook", "agitlog.missing_module"))
    (linked / "app" / "calc.py").write_bytes(agent_content)
    git(linked, "add", "app/calc.py")
    proc = subprocess.run(["git", "commit", "-q", "-m", "from the linked worktree"], cwd=linked,
                          capture_output=True, text=True)
    assert proc.returncode == 0 and "missing_module" not in proc.stderr  # the shell found the lists
    assert f"Agent-Session: {sid}" in git(linked, "log", "-1", "--format=%B")
