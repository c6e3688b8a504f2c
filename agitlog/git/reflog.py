"""HEAD's reflog, read as a file: which commits were made (and when HEAD moved) during a session.

Reading ``logs/HEAD`` directly costs no git process, so the recorder can check it at every snapshot;
its size says whether anything happened since the last look. Each line is
``<old> <new> <name> <<email>> <epoch> <tz>\\t<message>``.
"""
from __future__ import annotations

import os

from agitlog.datatypes import datatype
from agitlog.git.repo import Repo


@datatype(frozen=True)
class ReflogEntry:
    old: str
    new: str
    epoch: int
    message: str

    @property
    def is_commit(self) -> bool:
        """A commit made on HEAD: ``commit:``, ``commit (amend):``, ``commit (merge):``, ``commit (initial):``."""
        return self.message.startswith("commit")


def head_reflog_size(repo: Repo) -> int:
    """The size of HEAD's reflog now (0 when there is none yet); pass it to ``read_head_reflog``."""
    try:
        return os.stat(repo.git_dir / "logs" / "HEAD").st_size
    except OSError:
        return 0


def read_head_reflog(repo: Repo, *, offset: int = 0) -> tuple[list[ReflogEntry], int]:
    """Complete entries after byte ``offset`` and the offset to read from next time."""
    try:
        with open(repo.git_dir / "logs" / "HEAD", "rb") as handle:
            handle.seek(offset)
            data = handle.read()
    except OSError:
        return [], offset
    complete = data[: data.rfind(b"\n") + 1]
    entries = [entry for line in complete.splitlines() if (entry := _parse(line)) is not None]
    return entries, offset + len(complete)


def _parse(line: bytes) -> ReflogEntry | None:
    head, _, message = line.decode("utf-8", "replace").partition("\t")
    fields = head.split(" ")
    if len(fields) < 4:
        return None
    try:
        epoch = int(fields[-2])
    except ValueError:
        return None
    return ReflogEntry(old=fields[0], new=fields[1], epoch=epoch, message=message)
