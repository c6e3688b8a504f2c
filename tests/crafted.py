"""Sessions built by hand with git plumbing: what a hostile teammate could push."""
from __future__ import annotations

import json
from pathlib import Path

from helpers import git


def make_blob(repo: Path, data: bytes) -> str:
    return git(repo, "hash-object", "-w", "--stdin", input=data).strip()


def make_tree(repo: Path, entries: list[tuple[str, str, str, str]]) -> str:
    text = "".join(f"{mode} {kind} {sha}\t{name}\n" for mode, kind, sha, name in entries)
    return git(repo, "mktree", input=text.encode()).strip()


def literal_tree(repo: Path, entries: list[tuple[str, bytes, str]]) -> str:
    """A tree git's own tools would refuse to build (names with slashes)."""
    raw = b"".join(mode.encode() + b" " + name + b"\0" + bytes.fromhex(sha) for mode, name, sha in entries)
    return git(repo, "hash-object", "-w", "-t", "tree", "--literally", "--stdin", input=raw).strip()


def craft_session(repo: Path, tree: str, session_id: str = "20260101-000000-abcdef",
                  events: list[object] | None = None, name: str = "") -> str:
    """A finished session whose only step has ``tree``: what a hostile teammate could push."""
    base = git(repo, "rev-parse", "HEAD").strip()
    step = git(repo, "commit-tree", tree, "-p", base, "-m", "agitlog step 0: crafted\n\nAgitlog-Kind: step",
               ).strip()
    meta = (f'format = 1\nid = "{session_id}"\nagent = "main"\ncommand = ["evil"]\nstatus = "ok"\n'
            f'started_at = "2026-01-01T00:00:00.000000Z"\n' + (f"name = {json.dumps(name)}\n" if name else "") +
            f'[git]\nbase_commit = "{base}"\n[steps]\ncount = 1\nfirst = "{step}"\nlast = "{step}"\n')
    start = {"v": 1, "seq": 0, "ts": "2026-01-01T00:00:00.000000Z", "session": session_id, "type": "session.start",
             "agent": "main", "pid": 1, "span": "0" * 16, "parent_span": None, "step": 0, "commit": step,
             "data": {}}
    lines = b"".join(json.dumps(e).encode() + b"\n" for e in [start, *(events or [])])
    record_tree = make_tree(repo, [("100644", "blob", make_blob(repo, lines), "events.jsonl"),
                               ("100644", "blob", make_blob(repo, meta.encode()), "session.toml")])
    record = git(repo, "commit-tree", record_tree, "-p", step, "-m",
                 f"agitlog session {session_id}\n\nAgitlog-Session: {session_id}\nAgitlog-Kind: record").strip()
    git(repo, "update-ref", f"refs/agent-sessions/{session_id}", record)
    return session_id


def craft_raw_session(repo: Path, *, session_id: str, meta_toml: bytes, events: bytes, step_trees: list[str],
                      step_message: str = "", record_message: str = "", attachments: str | None = None,
                      base: str | None = None) -> str:
    """A session from raw parts, nothing checked: ``meta_toml`` and ``events`` as bytes, one step commit
    per tree (each on the last), messages with whatever trailers the caller writes. Returns the record
    commit; the ref is refs/agent-sessions/<session_id>."""
    parent = base or git(repo, "rev-parse", "HEAD").strip()
    for number, tree in enumerate(step_trees):
        message = step_message or f"agitlog step {number}: crafted\n\nAgitlog-Kind: step\nAgitlog-Step: {number}"
        parent = git(repo, "commit-tree", tree, "-p", parent, "-m", message).strip()
    entries = [("100644", "blob", make_blob(repo, events), "events.jsonl"),
               ("100644", "blob", make_blob(repo, meta_toml), "session.toml")]
    if attachments:
        entries.append(("040000", "tree", attachments, "attachments"))
    record_tree = make_tree(repo, entries)
    message = record_message or (f"agitlog session crafted\n\nAgitlog-Session: {session_id}\n"
                                 "Agitlog-Kind: record\nAgitlog-Format: 1")
    record = git(repo, "commit-tree", record_tree, "-p", parent, "-m", message).strip()
    git(repo, "update-ref", f"refs/agent-sessions/{session_id}", record)
    return record
