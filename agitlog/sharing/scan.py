"""The push-time secret scan: what `push`, `bundle` and the pre-push hook would publish for the first
time is read for credentials before it leaves the machine (issue 11).

Events and metadata are redacted when recorded, but a step snapshot must equal the worktree, so a
file the agent wrote (``settings.py`` holding a key) is stored as it is. Publishing is where that
stops: the blobs the sessions would publish that the user has not already published (objects
reachable from no remote-tracking ref, nor from a session that passed this check before) are read
with the same detector as redaction. A finding names session, step, path and kind, never the value.

Sessions that passed (or were published with ``--allow-secrets``) are remembered in
``.git/agitlog/cache/scan-passed`` so the next check reads only what is new.
"""
from __future__ import annotations

import re
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from agitlog import git
from agitlog.config import load_config
from agitlog.constants import REF_PREFIX, TRAILER_SESSION, TRAILER_STEP
from agitlog.datatypes import replace  # sessions are datatypes: dataclasses.replace refuses them
from agitlog.errors import AgitlogError
from agitlog.private import make_private_dir, write_private
from agitlog.redact import Redactor
from agitlog.store.sessions import Session

MAX_BLOB_SIZE = 5_000_000  # larger files are data, not configuration; scanning them would stall a push
_MARKER_RE = re.compile(r"\[REDACTED:([a-z0-9_]+)\]")
_BINARY_SNIFF = 8000


@dataclass(frozen=True)
class Finding:
    """A credential in a blob a push would publish. ``step`` is None for the session record
    (session.toml, events.jsonl, attachments)."""

    session: str
    step: int | None
    path: str
    kind: str


@dataclass
class ScanResult:
    sessions: list[str]
    scanned_blobs: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.findings


class SecretsFoundError(AgitlogError):
    """Publishing refused: the sessions hold credentials."""

    code = "secrets_found"

    def __init__(self, result: ScanResult, action: str) -> None:
        lines = [f"  {describe(f)}" for f in result.findings[:20]]
        more = len(result.findings) - len(lines)
        if more:
            lines.append(f"  ... and {more} more (`agitlog scan` lists them all)")
        super().__init__(f"not {action}: {len(result.findings)} secret(s) in what would be published\n"
                         + "\n".join(lines),
                         hint="remove them from the worktree and record again, delete the session "
                              "(`agitlog rm`), or publish anyway with --allow-secrets")
        self.result = result


def describe(finding: Finding) -> str:
    where = "record" if finding.step is None else f"step {finding.step}"
    return f"session {finding.session} {where}: {finding.path} ({finding.kind})"


def scan_sessions(repo: git.Repo, sessions: Sequence[Session]) -> ScanResult:
    """Read every blob ``sessions`` would publish for the first time; report the credentials found."""
    tips = {s.id: s.commit for s in sessions if s.commit}
    result = ScanResult(sessions=list(tips))
    new = git.new_object_ids(repo, list(tips.values()), exclude=_passed(repo))
    if not new:
        return result
    places = _places(repo, sessions, tips, new)
    detector = Redactor(load_config(repo.root).redact_patterns)
    blobs = list(places)
    result.scanned_blobs = len(blobs)
    for blob, data in zip(blobs, git.cat_files(repo, blobs)):
        kinds = _kinds(detector, data)
        if kinds:
            result.findings += [Finding(session=sid, step=step, path=path, kind=", ".join(kinds))
                                for sid, step, path in places[blob]]
    result.findings.sort(key=lambda f: (f.session, -1 if f.step is None else f.step, f.path))
    return result


def _places(repo: git.Repo, sessions: Sequence[Session], tips: dict[str, str], new: set[str]
            ) -> dict[str, list[tuple[str, int | None, str]]]:
    """Blob -> where it appears first: (session, step, path) for files a step added or changed, and
    (session, None, path) for the files of a record commit."""
    places: dict[str, list[tuple[str, int | None, str]]] = {}
    revs = list(tips.values()) + [f"^{base}" for s in sessions if (base := _base(s))]
    for commit, session_id, step, files in git.step_blobs(repo, revs, session_key=TRAILER_SESSION,
                                                         step_key=TRAILER_STEP):
        if commit not in new:
            continue
        for path, blob in files:
            if blob in new:
                places.setdefault(blob, []).append((session_id, step, path))
    records = [s for s in sessions if s.commit in new and not s.live]
    trees = git.ls_trees(repo, [s.commit for s in records])  # one process for all, not one each
    for session in records:
        if session.commit:
            for entry in trees.get(session.commit, []):
                if entry.kind == "blob" and entry.sha in new:
                    path = entry.path.decode("utf-8", "surrogateescape")
                    places.setdefault(entry.sha, []).append((session.id, None, path))
    return places


def _base(session: Session) -> str | None:
    return session.meta.git.base_commit


def _kinds(detector: Redactor, data: bytes | None) -> list[str]:
    """The kinds of secret in a blob (sorted, distinct); none for binary and very large blobs."""
    if not data or len(data) > MAX_BLOB_SIZE:
        return []
    if data[:2] == b"\x1f\x8b":  # gzip inside a file: read what it holds
        try:
            data = zlib.decompress(data, 16 + zlib.MAX_WBITS)[:MAX_BLOB_SIZE]
        except zlib.error:
            return []
    if b"\0" in data[:_BINARY_SNIFF]:
        return []
    text = data.decode("utf-8", "replace")
    before = Counter(_MARKER_RE.findall(text))  # markers already there are redactions, not secrets
    after = Counter(_MARKER_RE.findall(detector.redact_text(text)))
    return sorted(after - before)


# --- sessions that passed --------------------------------------------------------------------------

def _passed_file(repo: git.Repo) -> Path:
    return repo.state_dir / "cache" / "scan-passed"


def _passed(repo: git.Repo) -> list[str]:
    try:
        text = _passed_file(repo).read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError):
        return []
    return [line for line in text.split() if len(line) in (40, 64) and all(c in "0123456789abcdef" for c in line)]


def remember_passed(repo: git.Repo, result: ScanResult, tips: Sequence[str]) -> None:
    """Record tips whose history was checked (clean, or published on purpose): not read again."""
    known = _passed(repo)
    merged = list(dict.fromkeys([*known, *tips]))[-5000:]  # a bounded list: old entries only cost a rescan
    if merged == known:
        return
    path = _passed_file(repo)
    try:
        make_private_dir(path.parent)
        write_private(path, "".join(f"{sha}\n" for sha in merged).encode("ascii"))
    except OSError:
        pass  # the next check reads a little more


def check_publish(repo: git.Repo, sessions: Sequence[Session], *, action: str, allow_secrets: bool
                  ) -> ScanResult:
    """The gate before publishing: scan, refuse with SecretsFoundError unless ``allow_secrets``."""
    result = scan_sessions(repo, sessions)
    if result.findings and not allow_secrets:
        raise SecretsFoundError(result, action)
    remember_passed(repo, result, [s.commit for s in sessions if s.commit and not s.live])
    return result


def sessions_for_refs(sessions: Sequence[Session], refs: dict[str, str]) -> list[Session]:
    """The sessions behind ``refs`` (name -> sha), as they are now (live sessions included)."""
    by_id = {s.id: s for s in sessions}
    chosen = []
    for name, sha in refs.items():
        session = by_id.get(name.removeprefix(REF_PREFIX))
        if session is not None:
            chosen.append(replace(session, commit=sha))
    return chosen
