"""A recorded session as a regression test (a pytest plugin, registered by the package).

Record the failure once, fix the agent, and keep the recording as a test that replays the recorded
model answers against the current code (``agitlog rerun --code .``): no API key, no network, the
same answers every time::

    def test_reminder_agent_only_emails_overdue_customers(agitlog_rerun):
        result = agitlog_rerun("payment-bug")          # a session id, prefix or --name
        assert result.reproduced, result.explain()

``agitlog_rerun(session, code=".", repo=None, on_divergence="fail")`` returns the rerun's result
(``reproduced``, ``divergence``, ``comparison``, ``exit_code``); ``repo`` defaults to the repository
pytest runs in. The session's refs must be in the clone (``agitlog fetch``).
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def agitlog_rerun(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """Rerun a recorded session against the code under test; see the module docstring."""

    def rerun(session: str, *, code: str | None = ".", repo: Path | None = None,
              on_divergence: str = "fail") -> Any:
        from agitlog import git
        from agitlog.rerun.reexecute import rerun_session

        where = git.find_repo(Path(repo or request.config.rootpath).absolute())
        # trust: the test names the session in the project's own (reviewed) code, and CI clones never
        # recorded the sessions they rerun; the command still comes from the session's metadata
        return rerun_session(where, query=session, code=code, on_divergence=on_divergence,
                             agent_stdout_to_stderr=True, trust=True)

    return rerun
