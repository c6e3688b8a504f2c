"""Helpers for the coding-agent tests: the real agent CLIs installed by .ci/run into .ci/npm (never
found on PATH), and an environment that reaches only the fake model. A module of its own (not the
conftest) so test files import it by a name no other test folder uses."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from fakemodel import FakeModel  # tests/llm, on the path from tests/conftest.py

NPM_BIN = Path(__file__).resolve().parents[2] / ".ci" / "npm" / "node_modules" / ".bin"
API_KEY = "sk-ant-test-0123456789abcdefghij"


def agent_cli(name: str) -> Path:
    """The pinned CLI from .ci/npm; the test is skipped (saying why) when .ci/run has not installed it."""
    path = NPM_BIN / name
    if not path.exists():
        pytest.skip(f"{name} CLI not installed: run .ci/run (it installs the pinned agent CLIs into .ci/npm)")
    return path


def claude_env(model: FakeModel, home: Path, repo: Path) -> dict[str, str]:
    """What Claude Code needs to run offline against the fake model, as root, without first-run screens."""
    (home / ".claude.json").write_text(json.dumps({
        "hasCompletedOnboarding": True, "bypassPermissionsModeAccepted": True, "theme": "dark",
        "customApiKeyResponses": {"approved": [API_KEY[-20:]], "rejected": []},
        "projects": {str(repo): {"hasTrustDialogAccepted": True, "hasCompletedProjectOnboarding": True}}}))
    return {"PATH": "/usr/bin:/bin", "IS_SANDBOX": "1", "ANTHROPIC_BASE_URL": model.url,
            "ANTHROPIC_API_KEY": API_KEY, "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "TERM": "xterm-256color"}
