"""Remotes and bundles: push, fetch, ls-remote, bundle."""
from __future__ import annotations

import os
from pathlib import Path
from collections.abc import Sequence  # not typing: hooks import this module, typing costs ms
# subprocess is imported by the functions that run git themselves: `log` in a fresh clone lists the
# remotes (list_remotes, through git()) and must not pay for it (start-up, issue 9).

from agitlog.errors import GitError
from agitlog.private import make_private_dir, open_private
from agitlog.git.process import _describe_failure, _env, git
from agitlog.git.repo import Repo


def list_remotes(repo: Repo) -> list[str]:
    return git(repo.root, "remote").decode("utf-8", "surrogateescape").split()


def push(repo: Repo, remote: str, refspecs: Sequence[str]) -> list[tuple[str, str, str]]:
    """``git push --porcelain`` of exactly ``refspecs``; (flag, "src:dst", summary) per ref."""
    import subprocess

    proc = subprocess.run(["git", "push", "--porcelain", "--no-verify", remote, *refspecs], cwd=repo.root,
                          env=_env(None), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    rows = _parse_push(proc.stdout)
    if proc.returncode != 0 and not rows:
        raise GitError(_describe_failure(("push",), proc.stderr), hint=f"check that remote {remote!r} is reachable")
    return rows


def _parse_push(out: bytes) -> list[tuple[str, str, str]]:
    rows = []
    for line in out.decode("utf-8", "surrogateescape").splitlines():
        parts = line.split("\t")
        if len(parts) >= 3 and len(parts[0]) == 1:
            rows.append((parts[0], parts[1], parts[2]))
    return rows


def fetch(repo: Repo, source: str, refspecs: Sequence[str]) -> None:
    """Fetch exactly ``refspecs`` from a remote, URL or bundle file; never tags, never FETCH_HEAD."""
    git(repo.root, "fetch", "--no-tags", "--no-write-fetch-head", "--quiet", source, *refspecs)


# git's own object checks (fsck) on everything a fetch brings in: a teammate's session is untrusted.
_CHECKED = ("-c", "fetch.fsckObjects=true", "-c", "transfer.fsckObjects=true")


def fetch_checked(repo: Repo, source: str, refspecs: Sequence[str]) -> str | None:
    """Fetch ``refspecs`` with every received object fsck-checked; None on success, else git's complaint.
    A failed fetch updates no ref (git checks the pack before it moves any)."""
    import subprocess

    proc = subprocess.run(["git", *_CHECKED, "fetch", "--no-tags", "--no-write-fetch-head", "--quiet",
                           "--stdin", source], input="".join(f"{spec}\n" for spec in refspecs).encode(),
                          cwd=repo.root, env=_env(None), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if proc.returncode == 0:
        return None
    return proc.stderr.decode("utf-8", "replace").strip() or f"git fetch exited {proc.returncode}"


def objects_problem(repo: Repo, tip: str, *, exclude: str) -> str | None:
    """git's strict object checks (index-pack --strict, fsck's rules) on what ``tip`` reaches and no
    ref outside the glob ``exclude`` does; None when clean, else git's complaint. For bundles: git
    before 2.46 does not apply fetch.fsckObjects when it fetches from a bundle file."""
    import subprocess
    import tempfile

    listing = subprocess.run(["git", "rev-list", "--objects", tip, "--not", f"--exclude={exclude}", "--all"],
                             cwd=repo.root, env=_env(None), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if listing.returncode != 0:
        return listing.stderr.decode("utf-8", "replace").strip() or "git rev-list failed"
    with tempfile.TemporaryDirectory(prefix="agitlog-check-") as tmp:
        pack = Path(tmp) / "new.pack"
        with open(pack, "wb") as out:
            packed = subprocess.run(["git", "pack-objects", "--stdout", "-q"], input=listing.stdout, cwd=repo.root,
                                    env=_env(None), stdout=out, stderr=subprocess.PIPE)
        if packed.returncode != 0:
            return packed.stderr.decode("utf-8", "replace").strip() or "git pack-objects failed"
        checked = subprocess.run(["git", "index-pack", "--strict", "-o", str(pack.with_suffix(".idx")), str(pack)],
                                 cwd=repo.root, env=_env(None), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if checked.returncode != 0:
        return checked.stderr.decode("utf-8", "replace").strip() or "git index-pack --strict failed"
    return None


def ls_remote(repo: Repo, source: str, prefix: str) -> dict[str, str]:
    out = git(repo.root, "ls-remote", "--refs", source, prefix + "*")
    refs = {}
    for line in out.decode("utf-8", "surrogateescape").splitlines():
        sha, _, name = line.partition("\t")
        refs[name] = sha
    return refs


def ls_remote_quietly(repo: Repo, source: str, prefix: str, *, timeout: float) -> dict[str, str] | None:
    """``ls_remote`` for a hint, not an answer: None when the remote cannot be listed within ``timeout``
    seconds (offline, wants a password, gone) instead of an error. It runs without a terminal, so
    ssh or a credential helper can never stop to ask for anything."""
    import subprocess

    try:
        proc = subprocess.run(["git", "ls-remote", "--refs", source, prefix + "*"], cwd=repo.root, env=_env(None),
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              timeout=timeout, start_new_session=True)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    refs = {}
    for line in proc.stdout.decode("utf-8", "surrogateescape").splitlines():
        sha, _, name = line.partition("\t")
        refs[name] = sha
    return refs


def bundle_create(repo: Repo, path: Path, revs: Sequence[str]) -> None:
    git(repo.root, "bundle", "create", "--quiet", str(path), "--stdin",
        input="".join(rev + "\n" for rev in revs).encode())


def bundle_heads(repo: Repo, path: Path) -> dict[str, str]:
    """refname -> sha of the refs a bundle carries."""
    out = git(repo.root, "bundle", "list-heads", str(path))
    heads = {}
    for line in out.decode("utf-8", "surrogateescape").splitlines():
        sha, _, name = line.partition(" ")
        heads[name] = sha
    return heads


def bundle_verify(repo: Repo, path: Path) -> str | None:
    """None when the repository has everything the bundle needs, else git's complaint."""
    import subprocess

    proc = subprocess.run(["git", "bundle", "verify", str(path)], cwd=repo.root, env=_env(None),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if proc.returncode == 0:
        return None
    return proc.stderr.decode("utf-8", "replace").strip() or f"git bundle verify exited {proc.returncode}"


def push_in_background(repo: Repo, remote: str, refspecs: Sequence[str], *, log_file: Path) -> int:
    """Start ``git push`` detached from the caller (a pre-push hook) and return its pid at once."""
    import subprocess

    make_private_dir(log_file.parent)
    with os.fdopen(open_private(log_file, os.O_CREAT | os.O_WRONLY | os.O_APPEND), "ab") as log:
        proc = subprocess.Popen(["git", "push", "--porcelain", "--no-verify", remote, *refspecs], cwd=repo.root,
                                env=_env(None), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                start_new_session=True)
    return proc.pid
