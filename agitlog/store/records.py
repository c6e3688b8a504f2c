"""Storage format v1 (docs/format.md): sessions as ordinary git objects under refs/agent-sessions/.

    refs/agent-sessions/<id>  ->  record commit   tree: session.toml, events.jsonl[, attachments/]
                                      |  parent
                                  step N commit   tree: the worktree after step N
                                      |
                                  step 0 commit   tree: the worktree before the run
                                      |  parent (none on an unborn branch)
                                  the commit HEAD pointed at when the session started

While a session is recording, its ref points at its latest step commit and its events live in the
journal (agitlog.store.journal); finalising writes the record commit on top
(agitlog.store.recovery.finalize). Reading goes through agitlog.store.sessions.SessionStore.
"""
from __future__ import annotations

import os
import time

from agitlog import git
from agitlog.constants import (
    FORMAT_VERSION, KIND_RECORD, KIND_STEP, RECORD_ATTACHMENTS_DIR, RECORD_EVENTS_FILE, RECORD_META_FILE,
    REF_PREFIX, TRAILER_EVENT, TRAILER_FORMAT, TRAILER_KIND, TRAILER_SESSION, TRAILER_STEP,
)
from agitlog.private import write_private
from agitlog.store.faults import crash_point

TYPE_CHECKING = False  # typing costs start-up; only checkers need it
if TYPE_CHECKING:
    from typing import Any

    from agitlog.store.journal import Journal  # annotations only: read commands never load it


def new_session_id() -> str:
    """Ids sort by start time and are safe in ref names: 20261126-034412-3f9a1c."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + os.urandom(3).hex()


def session_ref(session_id: str) -> str:
    return REF_PREFIX + session_id


def step_message(*, session_id: str, step: int, event_seq: int | None, summary: str) -> str:
    trailers = [f"{TRAILER_SESSION}: {session_id}", f"{TRAILER_KIND}: {KIND_STEP}", f"{TRAILER_STEP}: {step}"]
    if event_seq is not None:
        trailers.append(f"{TRAILER_EVENT}: {event_seq}")
    return f"agitlog step {step}: {one_line(summary)}\n\n" + "\n".join(trailers) + "\n"


def record_message(meta: dict[str, Any]) -> str:
    title = meta.get("name") or " ".join(meta.get("command", [])) or meta["id"]
    exit_part = f", exit {meta['exit_code']}" if "exit_code" in meta else ""
    trailers = [f"{TRAILER_SESSION}: {meta['id']}", f"{TRAILER_KIND}: {KIND_RECORD}",
                f"{TRAILER_FORMAT}: {FORMAT_VERSION}"]
    return (f"agitlog session {meta['id']}: {one_line(title)} ({meta.get('status')}{exit_part})\n\n"
            + "\n".join(trailers) + "\n")


def one_line(text: str, limit: int = 72) -> str:
    flat = " ".join(str(text).split())
    flat = "".join(ch if ch.isprintable() else "?" for ch in flat)
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def dump_meta(meta: dict[str, Any]) -> str:
    import tomli_w  # only finalising pays for it
    return tomli_w.dumps(_without_none(meta))


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_without_none(v) for v in value if v is not None]
    return value


def write_record(
    repo: git.Repo,
    *,
    journal: Journal,
    meta: dict[str, Any],
    last_step: str,
) -> str:
    """Write the record commit for a finished session and move its ref onto it; returns the commit.
    All blobs (metadata, events, attachments) are written by one git process."""
    meta_file = journal.path / RECORD_META_FILE
    write_private(meta_file, dump_meta(meta).encode("utf-8"))
    journal.events_file.touch()
    attachments = journal.attachment_files()
    meta_blob, events_blob, *attachment_blobs = git.hash_files(repo, [meta_file, journal.events_file, *attachments])
    entries = [("100644", "blob", events_blob, RECORD_EVENTS_FILE), ("100644", "blob", meta_blob, RECORD_META_FILE)]
    attachment_entries = [("100644", "blob", sha, path.name) for path, sha in zip(attachments, attachment_blobs)]
    if attachment_entries:
        entries.append(("040000", "tree", git.mktree(repo, attachment_entries), RECORD_ATTACHMENTS_DIR))
    tree = git.mktree(repo, entries)
    commit = git.commit_tree(repo, tree=tree, parents=[last_step], message=record_message(meta))
    crash_point("finalize.objects-written")
    git.update_ref(repo, session_ref(meta["id"]), commit, last_step, message=f"agitlog: finish {meta['id']}")
    return commit
