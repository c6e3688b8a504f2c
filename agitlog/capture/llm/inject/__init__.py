"""The directory `agitlog run` puts first on the child's PYTHONPATH (see `sitecustomize.py` in it)."""

from __future__ import annotations

import os
from pathlib import Path

PYTHONPATH = "PYTHONPATH"


def inject_dir() -> Path:
    """The directory holding agitlog's `sitecustomize.py`; prepend it to the child's PYTHONPATH."""
    return Path(__file__).resolve().parent


def inject_env() -> dict[str, str]:
    """The child's PYTHONPATH with ``inject_dir()`` first (what the user had set stays after it)."""
    existing = os.environ.get(PYTHONPATH)
    return {PYTHONPATH: str(inject_dir()) + (os.pathsep + existing if existing else "")}
