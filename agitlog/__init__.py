"""agitlog: a git-native flight recorder for AI agents.

``import agitlog`` gives the recording SDK (see agitlog.sdk); it imports nothing heavy, and every
call is a no-op outside a recorded session."""
from agitlog.constants import VERSION as __version__
from agitlog.sdk import (
    decision, emit, enabled, error, log, prompt, response, session, span, state, tool,
)

__all__ = ["__version__", "decision", "emit", "enabled", "error", "log", "prompt", "response", "session",
           "span", "state", "tool"]
