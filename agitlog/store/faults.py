"""Fault injection for the crash-window tests: ``crash_point("finalize.ref-updated")`` SIGKILLs the
process when ``AGITLOG_TEST_CRASH_AT`` names that point. Only the test suite sets the variable; a
point costs one dictionary lookup otherwise. The points are listed in CRASH_POINTS so a test can
visit every one of them."""
from __future__ import annotations

import os

from agitlog.constants import ENV_CRASH_AT

# In the order a session passes them: finishing a run, recovering a journal, then finalising (both).
CRASH_POINTS = (
    "finish.snapshot-taken", "finish.end-recorded", "finish.end-written",
    "recover.start", "recover.events-written",
    "finalize.start", "finalize.objects-written", "finalize.ref-updated", "finalize.journal-moved",
)


def crash_point(name: str) -> None:
    """Die here, as SIGKILL would kill us, when the test suite asks for it."""
    if os.environ.get(ENV_CRASH_AT) == name:
        import signal  # only here: every read command imports this module

        os.kill(os.getpid(), signal.SIGKILL)
