"""What the installed git hooks run when their shell shortcut cannot decide alone.

The hook scripts (hooks/) start ``python -S`` with a bare ``agitlog`` package stub and call
``agitlog.sharing.commit_hook.main([HOOK, ARGS...])``; pre-commit users run ``python -m agitlog.sharing.commit_hook HOOK``;
``python -S path/to/agitlog/sharing/commit_hook.py HOOK ARGS...`` works too (it installs the stub itself).
Every commit may pay for prepare-commit-msg, so this module imports only the standard library,
agitlog.git, agitlog.constants and agitlog.store.provenance, never ``agitlog/__init__`` (which loads the SDK).
A hook never blocks git: any failure is one warning line on stderr and exit 0.
"""
from __future__ import annotations

import os
import sys
import types
from pathlib import Path

if not __package__:  # run as a file by the installed hook: load agitlog.* without agitlog/__init__
    _package = types.ModuleType("agitlog")
    _package.__path__ = [str(Path(__file__).resolve().parent.parent)]  # type: ignore[attr-defined]
    sys.modules.setdefault("agitlog", _package)

from agitlog import git  # noqa: E402
from agitlog.store import provenance as links  # noqa: E402
from agitlog.constants import REF_PREFIX, TRAILER_LINK  # noqa: E402

ENV_DISABLE = "AGITLOG_NO_HOOKS"
PUSH_CONFIG = "agitlogpush"   # the same key agitlog.sharing.remotes.setup_remote writes
MAX_LINKS = 3
MIN_AGE_LIMIT_DAYS = 1.0      # agitlog.linkMaxAgeDays below a day counts as a day


def prepare_commit_msg(args: list[str]) -> int:
    """Add ``Agent-Session: <id>`` for each recent session that wrote staged content exactly.
    Two git processes when nothing matches (rev-parse, diff --cached), three when a trailer is written
    (four when a session older than a day matched: its age is checked against git config)."""
    if not args:
        return 0
    repo = git.find_repo(Path.cwd())
    index = os.environ.get("GIT_INDEX_FILE")
    sessions = links.sessions_for_staged(repo, index_file=Path(index).absolute() if index else None)
    if sessions and links.within_age(sessions, max_age_days=MIN_AGE_LIMIT_DAYS) != sessions:
        # only an older match needs the configured limit: most commits skip a `git config` process
        sessions = links.within_age(sessions, max_age_days=_max_age(repo))
    if sessions:
        message_file = Path(args[0])
        git.add_trailers(repo, message_file if message_file.is_absolute() else Path.cwd() / message_file,
                         [f"{TRAILER_LINK}: {sid}" for sid in sessions[:MAX_LINKS]])
    return 0


def _max_age(repo: git.Repo) -> float | None:
    """``git config agitlog.linkMaxAgeDays`` (default 30; 0 means no limit; at least a day)."""
    value = git.config_get(repo, "agitlog.linkMaxAgeDays")
    try:
        days = float(value) if value else 30.0
    except ValueError:
        days = 30.0
    return max(days, MIN_AGE_LIMIT_DAYS) if days else None


def pre_push(args: list[str]) -> int:
    """When `agitlog remote setup` enabled it for this remote, push sessions in the background."""
    remote = os.environ.get("PRE_COMMIT_REMOTE_NAME") or (args[0] if args else "")
    if not remote:
        return 0
    repo = git.find_repo(Path.cwd())
    if (git.config_get(repo, f"remote.{remote}.{PUSH_CONFIG}") or "").lower() != "true":
        return 0
    if not git.ref_shas(repo, REF_PREFIX.rstrip("/")):
        return 0
    if not _sessions_pass_scan(repo, remote):
        return 0  # the user's own push goes on; only the sessions stay home
    # Not forced: a session the remote already holds in another version is rejected, never replaced.
    git.push_in_background(repo, remote, [f"{REF_PREFIX}*:{REF_PREFIX}*"],
                           log_file=repo.state_dir / "push.log")
    return 0


def _sessions_pass_scan(repo: git.Repo, remote: str) -> bool:
    """The secret scan `agitlog push` runs, before sessions are pushed along; says why on stderr."""
    from agitlog.sharing.scan import SecretsFoundError, check_publish  # noqa: PLC0415 - only when pushing along
    from agitlog.store.sessions import SessionStore  # noqa: PLC0415

    try:
        check_publish(repo, SessionStore.open(repo).all(), action=f"pushing sessions along to {remote}",
                      allow_secrets=False)
    except SecretsFoundError as exc:
        sys.stderr.write(f"agitlog: {exc.message}\nagitlog: {exc.hint} (`agitlog push {remote} --allow-secrets`)\n")
        return False
    return True


HOOKS = {"prepare-commit-msg": prepare_commit_msg, "pre-push": pre_push}


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in HOOKS or os.environ.get(ENV_DISABLE):
        return 0
    try:
        return HOOKS[args[0]](args[1:])
    except Exception as exc:  # noqa: BLE001 - a hook must never block the user's git command
        sys.stderr.write(f"agitlog: {args[0]} hook skipped: {type(exc).__name__}: {exc}\n")
        return 0


if __name__ == "__main__":
    sys.exit(main())
