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
