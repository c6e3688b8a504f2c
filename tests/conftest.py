"""Every test runs with its own HOME, XDG dirs and global git config, so none reads or writes the
developer's real configuration. Shared fixtures: a repository, and ``fake``, the fake model server
(tests/llm/fakemodel.py) that tests in every folder point their agents at."""
from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "llm"))  # fakemodel, for the test modules too

from fakemodel import FakeModel  # noqa: E402
from helpers import git, init_repo  # noqa: E402


# The slowest tests (those not in an xdist group), slowest first. pytest-xdist hands the groups out first
# (largest first), then single tests in collection order: a slow test collected last would run alone at
# the end while the other worker waits. Measured with `--durations`; a test missing here only runs later.
SLOW_FIRST = (
    "tests/agents/test_rerun_agents.py::test_claude_code_session_reruns_sealed",
    "tests/agents/test_gemini.py::test_gemini_session_reruns_offline",
    "tests/llm/test_llm_run_rerun.py::test_run_records_every_call_and_rerun_replays_it",
    "tests/llm/test_llm_frameworks.py::test_openai_agents_sdk_handoff_and_tool",
    "tests/test_rerun_code.py::test_a_recorded_session_as_a_pytest_regression_test",
    "tests/agents/test_rerun_agents.py::test_codex_session_reruns_sealed",
    "tests/llm/test_agents_sdk_rerun.py::test_agents_sdk_with_tracing_on_reproduces",
    "tests/agents/test_import_aider.py::test_import_aider_history",
    "tests/test_rerun_streams.py::test_concurrent_workers_are_attributed_and_reproduce_every_time",
    "tests/agents/test_gemini.py::test_gemini_hooks_record_prompt_model_calls_and_tool_steps",
    "tests/agents/test_claude.py::test_interactive_tui_in_a_pty",
    "tests/test_capture.py::test_many_events_from_one_process",
    "tests/agents/test_aider.py::test_aider_message_run_records_calls_commits_and_prompts",
    "tests/test_fastread.py::test_read_commands_start_without_typer_click_or_rich",
    "tests/agents/test_claude.py::test_print_mode_records_each_tool_call_as_its_step",
    "tests/llm/test_llm_sdks.py::test_served_recording_replaces_the_upstream",
    "tests/test_fastread.py::test_fast_and_typer_paths_print_the_same",
)


@pytest.hookimpl(trylast=True)  # after pytest-xdist's own hook, which may have named the groups already
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the SLOW_FIRST tests first (their parameters together); the rest keep collection order.
    Then give each test of an xdist_group its group, as `--dist loadgroup` expects."""
    def rank(item: pytest.Item) -> int:
        name = item.nodeid.split("[", 1)[0]
        return SLOW_FIRST.index(name) if name in SLOW_FIRST else len(SLOW_FIRST)

    items.sort(key=rank)
    if getattr(config.option, "loadgroup", False):
        _name_xdist_groups(items)


def _name_xdist_groups(items: list[pytest.Item]) -> None:
    """pytest-xdist (3.8) groups by a "@<group>" suffix it gives the node id by setting
    ``item._nodeid``, which pytest 9 no longer reads (the id lives in ``item._id``). Without this every
    test was its own group, so a group's session fixture (10,000 sessions, a Phoenix server, a demo)
    was built on both workers."""
    from _pytest.nodeid import NodeId

    for item in items:
        names = sorted({str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
                        for mark in item.iter_markers("xdist_group")})
        suffix = "@" + "_".join(names)
        if names and not item.nodeid.endswith(suffix) and hasattr(item, "_id"):
            item._id = NodeId.parse(item.nodeid + suffix)


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path_factory.mktemp("home")
    gitconfig = home / ".gitconfig"
    gitconfig.write_text("[user]\n\tname = Test User\n\temail = test@example.com\n[init]\n\tdefaultBranch = main\n"
                         "[commit]\n\tgpgsign = false\n[advice]\n\tdetachedHead = false\n")
    for key in list(os.environ):
        if key.startswith(("GIT_", "AGITLOG_")) or key in ("TRACEPARENT", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(gitconfig))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("NO_COLOR", "1")
    return home


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with one commit (README.md, src/app.py) and a .gitignore."""
    path = init_repo(tmp_path / "repo")
    (path / "README.md").write_text("# demo\n")
    (path / "src").mkdir()
    (path / "src" / "app.py").write_text("def total(xs):\n    return sum(xs)\n")
    (path / ".gitignore").write_text("*.tmp\nbuild/\n")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "initial")
    return path


@pytest.fixture
def empty_repo(tmp_path: Path) -> Path:
    """A repository on an unborn branch."""
    return init_repo(tmp_path / "unborn")


@pytest.fixture
def fake() -> Iterator[FakeModel]:
    """A fake model server (OpenAI Chat Completions and Responses, Anthropic Messages, Gemini) on a
    free local port, stopped after the test; set its ``script`` to drive a coding agent."""
    server = FakeModel().start()
    yield server
    server.close()
