"""Commands that move or manage sessions: push, fetch, remote, bundle, import, hooks, rm, gc."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from agitlog.cli.options import (JsonOption, NameOption, NamesOption, RemoteArg, RepoOption, TargetsArg, open_repo,
                                 team_views)


AllowSecretsOption = Annotated[bool, typer.Option(
    "--allow-secrets", help="Publish even if the secret scan finds credentials in the sessions.")]


def push_cmd(targets: TargetsArg = None, allow_secrets: AllowSecretsOption = False, names: NamesOption = None,
             json_out: JsonOption = False, repo: RepoOption = None) -> int:
    """Send sessions (refs/agent-sessions/*) to a remote; branches and tags are never pushed. What
    would be published is scanned for secrets first (see `agitlog scan`)."""
    from agitlog.sharing.remotes import push_sessions, split_remote_and_sessions

    where = open_repo(repo)
    remote, sessions = split_remote_and_sessions(where, targets or [])
    result = push_sessions(where, remote=remote, sessions=sessions, allow_secrets=allow_secrets, names=names or ())
    team_views.render_push(result, json_out=json_out)
    return 1 if result.rejected else 0


def fetch_cmd(targets: TargetsArg = None, json_out: JsonOption = False, repo: RepoOption = None) -> int:
    """Get teammates' sessions from a remote (`git clone` alone does not bring them)."""
    from agitlog.sharing.remotes import fetch_sessions, split_remote_and_sessions

    where = open_repo(repo)
    remote, sessions = split_remote_and_sessions(where, targets or [])
    result = fetch_sessions(where, remote=remote, sessions=sessions)
    team_views.render_fetch(result, json_out=json_out)
    return 1 if result.conflicts or result.skipped else 0


def remote_setup_cmd(
    remote: RemoteArg = None,
    no_push: Annotated[bool, typer.Option("--no-push", help="Only fetch sessions; never push them along.")] = False,
    remove: Annotated[bool, typer.Option("--remove", help="Undo: stop carrying sessions.")] = False,
    json_out: JsonOption = False,
    repo: RepoOption = None,
) -> int:
    """Add the session refspec to the remote's config (idempotent) and enable pushing along."""
    from agitlog.sharing.remotes import setup_remote

    result = setup_remote(open_repo(repo), remote=remote, push=not no_push, remove=remove)
    team_views.render_remote_setup(result, json_out=json_out)
    return 0


def remote_remove_cmd(remote: RemoteArg = None, json_out: JsonOption = False, repo: RepoOption = None) -> int:
    """Undo `agitlog remote setup` (same as `remote setup --remove`)."""
    from agitlog.sharing.remotes import setup_remote

    team_views.render_remote_setup(setup_remote(open_repo(repo), remote=remote, remove=True), json_out=json_out)
    return 0


def bundle_cmd(
    sessions: Annotated[Optional[list[str]], typer.Argument(help="Session ids, prefixes or names (default: all).")] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="The bundle file to write.")] = Path("sessions.bundle"),
    full: Annotated[bool, typer.Option("--full", help="Include all history, even what the remote already has.")] = False,
    allow_secrets: AllowSecretsOption = False,
    names: NamesOption = None,
    json_out: JsonOption = False,
    repo: RepoOption = None,
) -> int:
    """Write sessions to one file (a git bundle) to attach to a ticket; `agitlog import` reads it."""
    from agitlog.sharing.remotes import create_bundle

    result = create_bundle(open_repo(repo), output=output, sessions=sessions or [], full=full,
                           allow_secrets=allow_secrets, names=names or ())
    team_views.render_bundle(result, json_out=json_out)
    return 0


def scan_cmd(
    session: Annotated[Optional[str], typer.Argument(help="A session id, prefix or name (default: all sessions).")] = None,
    name: NameOption = None,
    json_out: JsonOption = False,
    repo: RepoOption = None,
) -> int:
    """Check sessions for secrets the way `push` does, before it refuses: session, step, path, kind."""
    from agitlog.sharing.scan import scan_sessions
    from agitlog.store.sessions import SessionStore

    where = open_repo(repo)
    store = SessionStore.open(where)
    chosen = [store.resolve(session, name=name)] if session or name else store.all()
    result = scan_sessions(where, chosen)
    team_views.render_scan(result, json_out=json_out)
    return 0 if result.clean else 1


def import_cmd(
    source: Annotated[str, typer.Argument(
        metavar="AGENT|BUNDLE",
        help="claude, codex, gemini or aider: that agent's transcripts of this repository; else a bundle written by "
             "`agitlog bundle` "
             "(write ./claude for a bundle file of that name).")],
    since: Annotated[Optional[str], typer.Option(
        "--since", help="With an agent: only transcripts written since then (30d, 12h, 2026-11-01).")] = None,
    json_out: JsonOption = False,
    repo: RepoOption = None,
) -> int:
    """Add sessions: an agent's own transcripts (agitlog import claude) or a bundle's sessions."""
    from agitlog.capture.importers import KNOWN

    if source in KNOWN:
        from agitlog.cli.commands.record import import_agent

        return import_agent(source, since=since, json_out=json_out, repo=repo)
    from agitlog.sharing.remotes import import_bundle

    result = import_bundle(open_repo(repo), path=Path(source))
    team_views.render_fetch(result, json_out=json_out)
    return 1 if result.conflicts or result.skipped else 0


def hooks_install_cmd(json_out: JsonOption = False, repo: RepoOption = None) -> int:
    """Install prepare-commit-msg (adds `Agent-Session: <id>`) and pre-push; existing hooks keep running."""
    from agitlog.sharing.hooks import install_hooks

    team_views.render_hooks(install_hooks(open_repo(repo)), json_out=json_out)
    return 0


def hooks_uninstall_cmd(json_out: JsonOption = False, repo: RepoOption = None) -> int:
    """Remove agitlog's hooks and restore the ones that were there before."""
    from agitlog.sharing.hooks import uninstall_hooks

    team_views.render_hooks(uninstall_hooks(open_repo(repo)), json_out=json_out)
    return 0


def hooks_status_cmd(json_out: JsonOption = False, repo: RepoOption = None) -> int:
    """Which agitlog hooks are installed."""
    from agitlog.sharing.hooks import hooks_status

    team_views.render_hooks_status(hooks_status(open_repo(repo)), json_out=json_out)
    return 0


def rm_cmd(
    sessions: Annotated[Optional[list[str]], typer.Argument(help="Session ids, unique prefixes or names.")] = None,
    remote: Annotated[Optional[str], typer.Option("--remote", help="Also delete them on this remote.")] = None,
    names: NamesOption = None,
    json_out: JsonOption = False,
    repo: RepoOption = None,
) -> int:
    """Delete sessions (their refs); `git gc` later reclaims the space."""
    from agitlog.sharing.retention import rm_sessions

    result = rm_sessions(open_repo(repo), sessions=sessions or [], remote=remote, names=names or ())
    team_views.render_rm(result, json_out=json_out)
    return 0


def gc_cmd(
    older_than: Annotated[Optional[str], typer.Option("--older-than", help='Remove sessions started before, e.g. "90d".')] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say what would be removed.")] = False,
    no_keep_adopted: Annotated[bool, typer.Option("--no-keep-adopted", help="Remove old sessions even if a branch adopted their steps.")] = False,
    json_out: JsonOption = False,
    repo: RepoOption = None,
) -> int:
    """Remove old sessions (keeping those a branch adopted) and pack session refs."""
    from agitlog.query.listing import parse_since
    from agitlog.sharing.retention import gc_sessions

    result = gc_sessions(open_repo(repo), older_than=parse_since(older_than) if older_than else None,
                         dry_run=dry_run, keep_adopted=not no_keep_adopted)
    team_views.render_gc(result, json_out=json_out)
    return 0
