"""Fixtures for the coding-agent tests: a fake model scripted like a coding task. The CLIs and their
environment are in agentkit.py."""
from __future__ import annotations

from pathlib import Path

import pytest

from fakemodel import FakeModel, coding_script  # tests/llm, on the path from tests/conftest.py


@pytest.fixture
def coding_model(repo: Path, fake: FakeModel) -> FakeModel:
    """The fake model, scripted to drive an agent through: write notes.txt, run a shell command, edit
    it, commit."""
    fake.script = coding_script(str(repo))
    return fake
