"""The directory `agitlog run` puts first on the child's PYTHONPATH (see `sitecustomize.py` in it)."""

from __future__ import annotations

from pathlib import Path


def inject_dir() -> Path:
    """The directory holding agitlog's `sitecustomize.py`; prepend it to the child's PYTHONPATH."""
    return Path(__file__).resolve().parent
