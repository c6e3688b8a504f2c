"""The worktree watcher may only say "unchanged" when nothing changed."""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from agitlog.capture.watch import WorktreeWatcher

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify is Linux-only")


def _ready(watcher: WorktreeWatcher) -> WorktreeWatcher:
    watcher.start()
    deadline = time.monotonic() + 10
    while watcher.may_have_changed():  # the first answer after the walk is always "may have"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    return watcher


def test_every_kind_of_change_is_seen(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "f.txt").write_text("x")
    watcher = _ready(WorktreeWatcher(tmp_path))
    assert not watcher.may_have_changed()
    changes = [
        lambda: (tmp_path / "a" / "f.txt").write_text("y"),
        lambda: os.chmod(tmp_path / "a" / "f.txt", 0o755),
        lambda: (tmp_path / "a" / "f.txt").rename(tmp_path / "g.txt"),
        lambda: (tmp_path / "g.txt").unlink(),
        lambda: (tmp_path / "new").mkdir(),
        lambda: (tmp_path / "new" / "inside.txt").write_text("1"),  # a directory created during the run
        lambda: os.symlink("a", tmp_path / "link"),
    ]
    for change in changes:
        change()
        assert watcher.may_have_changed()
        assert not watcher.may_have_changed()
    (tmp_path / "a" / "f2.txt").write_text("z")
    (tmp_path / "a" / "f2.txt").read_text()
    watcher.may_have_changed()
    (tmp_path / "a" / "f2.txt").read_text()  # reading changes nothing
    assert not watcher.may_have_changed()
    watcher.close()
    assert watcher.may_have_changed()  # closed: never trusted


def test_ignored_directories_and_git_dir_are_not_watched(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "node_modules").mkdir()
    watcher = _ready(WorktreeWatcher(tmp_path, lambda: frozenset({"node_modules"})))
    (tmp_path / ".git" / "index").write_text("x")
    (tmp_path / "node_modules" / "dep.js").write_text("x")
    assert not watcher.may_have_changed()
    watcher.close()
