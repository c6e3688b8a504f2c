"""`agitlog rerun`: play a recorded session again with the recorded model answers, in a temporary
worktree of its step 0, recorded as a new session linked to the original (``rerun_of``)."""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agitlog import git
from agitlog.query.compare import Comparison, compare_sessions
from agitlog.errors import AgitlogError, CorruptRecordError, UsageError
from agitlog.capture.replaybook import DIVERGENCE_POLICIES, Divergence, build_book
from agitlog.capture.lifecycle import recover_sessions
from agitlog.store.origin import recorded_here
from agitlog.store.records import load_attachments, load_events, resolve_session


@dataclass
class RerunResult:
    original: str
    rerun: str
    exit_code: int
    status: str
    served_calls: int
    recorded_calls: int
    upstream_calls: int
    divergence: Divergence | None
    comparison: Comparison
    missing_env: list[str]
    workdir: Path | None

    @property
    def reproduced(self) -> bool:
        return self.comparison.identical


def rerun_session(
    repo: git.Repo,
    *,
    query: str | None,
    on_divergence: str = "fail",
    live_from: int | None = None,
    replay_tools: bool = False,
    keep_worktree: bool = False,
    agent_stdout_to_stderr: bool = False,
    trust: bool = False,
) -> RerunResult:
    """Re-execute a session deterministically; see docs/commands/rerun.md. A session this clone did
    not record runs only with ``trust`` (UntrustedSessionError names the exact command otherwise)."""
    from agitlog.capture.llm.capture import canonical_body
    from agitlog.capture.runner import run_recorded

    if on_divergence not in DIVERGENCE_POLICIES:
        raise UsageError(f"--on-divergence must be one of {', '.join(DIVERGENCE_POLICIES)}")
    recover_sessions(repo)
    original = resolve_session(repo, query)
    if original.live:
        raise AgitlogError(f"session {original.id} is still recording", hint="wait for it to finish")
    meta = original.meta
    step0 = meta.get("steps", {}).get("first")
    if not step0:
        raise AgitlogError(f"session {original.id} has no step commits to start from")
    command, cwd = planned_command(original.id, meta)
    if not trust and not recorded_here(repo.state_dir, original.id, command):
        raise UntrustedSessionError(original.id, command, cwd)
    events = load_events(repo, original)
    book = build_book(events, load_bodies=lambda names: load_attachments(repo, original, names), canonical=canonical_body,
                      policy="live" if live_from is not None and on_divergence == "fail" else on_divergence,
                      live_from_step=live_from)
    workdir = Path(tempfile.mkdtemp(prefix="agitlog-rerun-"))
    git.add_worktree(repo, workdir, step0)
    try:
        result = run_recorded(
            command=command, cwd=workdir / cwd, agent=meta.get("agent"),
            name=f"rerun of {meta.get('name') or original.id}", replay=book, replay_tools=replay_tools,
            extra_meta={"rerun_of": original.id}, stdout_to_stderr=agent_stdout_to_stderr,
        )
        rerun = resolve_session(repo, result.session_id)
        comparison = compare_sessions(repo, original, rerun)
    finally:
        if not keep_worktree:
            git.remove_worktree(repo, workdir)
    return RerunResult(
        original=original.id, rerun=result.session_id, exit_code=result.exit_code, status=result.status,
        served_calls=book.served_count, recorded_calls=len(book.calls), upstream_calls=result.upstream_calls,
        divergence=book.divergence, comparison=comparison, missing_env=_missing_env(meta.get("env_names", [])),
        workdir=workdir if keep_worktree else None,
    )


class UntrustedSessionError(AgitlogError):
    """A session recorded somewhere else: running it means running whatever command it names."""

    code = "untrusted_session"

    def __init__(self, session_id: str, command: list[str], cwd: str) -> None:
        import shlex

        self.command_line = shlex.join(command)
        self.cwd = cwd
        super().__init__(
            f"session {session_id} was not recorded in this clone; rerun would execute:\n"
            f"    {self.command_line}\n  in <step-0 worktree>/{cwd}, with your environment",
            hint="read the command; if you trust it, run again with --trust")


def planned_command(session_id: str, meta: dict[str, Any]) -> tuple[list[str], str]:
    """The command a rerun would run and the directory (relative to the step-0 worktree) it runs in,
    refused when the metadata could make it run outside that worktree."""
    command, cwd = meta.get("command"), meta.get("cwd", ".")
    if not isinstance(command, list) or not command or not all(isinstance(word, str) and word for word in command):
        raise CorruptRecordError(f"session {session_id} records no runnable command", hint="it cannot be rerun")
    parts = cwd.split("/") if isinstance(cwd, str) else [".."]
    if not isinstance(cwd, str) or cwd.startswith("/") or ".." in parts or "\0" in cwd:
        raise CorruptRecordError(f"session {session_id} records a working directory outside its worktree: {cwd!r}",
                                 hint="it cannot be rerun")
    return command, cwd


def _missing_env(names: list[str]) -> list[str]:
    """Variables the original run had that this environment lacks (their values were never recorded)."""
    ours = ("AGITLOG_", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "TRACEPARENT", "PYTHONPATH", "OLDPWD", "PWD", "SHLVL", "_")
    return [name for name in names if name not in os.environ and not name.startswith(ours)]
