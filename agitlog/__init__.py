"""agitlog: a git-native flight recorder for AI agents.

``import agitlog`` gives the recording SDK (see agitlog.capture.sdk), loaded on first use so that importing
the package (the `agitlog` command does) costs nothing; every call is a no-op outside a recorded
session."""
from __future__ import annotations

from agitlog.constants import VERSION as __version__

TYPE_CHECKING = False  # every `agitlog` command imports this package: typing would cost milliseconds
if TYPE_CHECKING:
    from typing import Any

__all__ = ["__version__", "decision", "emit", "enabled", "error", "log", "prompt", "response", "session",
           "span", "state", "tool"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from agitlog.capture import sdk

        value = getattr(sdk, name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'agitlog' has no attribute {name!r}")
