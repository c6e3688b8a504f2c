"""Sessions as git objects: the format, the journal, records, recovery and the session store."""
from __future__ import annotations

import os

from agitlog.constants import JOURNAL_DIRNAME

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path


def has_journals(state_dir: Path) -> bool:
    """Whether the journal directory holds anything: a session recording, or something recovery
    would finish or clean. Read commands ask this first so that, as almost always, an empty or
    missing directory loads neither store.journal nor store.recovery (start-up, issue 9)."""
    try:
        return bool(os.listdir(os.path.join(state_dir, JOURNAL_DIRNAME)))
    except (FileNotFoundError, NotADirectoryError):  # what iter_journals treats as "no journals"
        return False
    except OSError:
        return True  # let the journal code meet the error, as it would without this check
