"""`agitlog rerun`: play a recorded session again with the recorded model answers, in a temporary
worktree of its step 0, recorded as a new session linked to the original (``rerun_of``)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agitlog import git
from agitlog.query.compare import Comparison, compare_sessions
from agitlog.config import load_config
from agitlog.errors import AgitlogError, CorruptRecordError, UsageError
from agitlog.capture.replaybook import (DIVERGENCE_POLICIES, Divergence, ReplayBook, RequestEdit, build_book,
                                        injected_answer)
from agitlog.jsondiff import describe_changes
from agitlog.rerun.code import CodeOverlay, apply_overlay, code_overlay
from agitlog.rerun.sandbox import ISOLATION_NONE, make_sandbox
from agitlog.store.models import ForkInfo, SessionMeta
from agitlog.store.origin import mark_recorded, recorded_here
from agitlog.store.sessions import SessionStore


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
    code: CodeOverlay | None = None    # --code: the files taken from the code under test
    fork: ForkInfo | None = None       # --fork-at: the model call from which the run went its own way, and how
    isolation: str = ISOLATION_NONE      # how the sandbox kept the agent away from the user's worktree

    @property
    def reproduced(self) -> bool:
        return self.comparison.identical

    def explain(self) -> str:
        """Why the rerun did or did not reproduce, in a few lines (for test failures and logs)."""
        lines = [f"rerun {self.rerun} of {self.original}: "
                 + ("reproduced" if self.reproduced else f"did not reproduce (exit {self.exit_code}, {self.status})")]
        if self.divergence is not None:
            lines.append(self.divergence.describe())
        difference = self.comparison.first_difference
        if difference is not None and self.divergence is None:
            lines.append(f"first different event: #{difference.index} ({', '.join(difference.fields)})")
            lines += describe_changes(difference.changes)
        if not self.comparison.trees_equal:
            lines.append("final files differ: " + ", ".join(path for _, _, path in self.comparison.tree_changes[:10]))
        return "\n".join(lines)


def rerun_session(
    repo: git.Repo,
    *,
    query: str | None,
    on_divergence: str = "fail",
    live_from: int | None = None,
    replay_tools: bool = False,
    keep_worktree: bool = False,
    agent_stdout_to_stderr: bool = False,
    code: str | None = None,
    fork_at: int | None = None,
    fork_answer: bytes | None = None,
    fork_request: RequestEdit | None = None,
    trust: bool = False,
    name: str | None = None,
) -> RerunResult:
    """Re-execute a session deterministically; see docs/commands/rerun.md. A session this clone did
    not record runs only with ``trust`` (UntrustedSessionError names the exact command otherwise)."""
    from agitlog.capture.llm.capture import canonical_body
    from agitlog.capture.runner import ChildLaunch, run_recorded

    if on_divergence not in DIVERGENCE_POLICIES:
        raise UsageError(f"--on-divergence must be one of {', '.join(DIVERGENCE_POLICIES)}")
    store = SessionStore.open(repo)
    original = store.resolve(query, name=name, original=True)
    if original.live:
        raise AgitlogError(f"session {original.id} is still recording", hint="wait for it to finish")
    meta = original.meta
    step0 = meta.steps.first
    if not step0:
        raise AgitlogError(f"session {original.id} has no step commits to start from")
    command, rel_cwd = planned_command(original.id, meta)
    if not trust and not recorded_here(repo.state_dir, original.id, command):
        raise UntrustedSessionError(original.id, command, rel_cwd)
    events = [dict(e) for e in store.events(original)]
    ignore = load_config(repo.root).rerun_ignore
    book = build_book(events, load_bodies=lambda names: store.attachments(original, names),
                      canonical=lambda body: canonical_body(body, ignore),
                      policy="live" if live_from is not None and on_divergence == "fail" else on_divergence,
                      live_from_step=live_from)
    book.ignore_paths = ignore
    _set_fork(book, fork_at=fork_at, answer=fork_answer, request=fork_request)
    fork = _fork_info(book)
    overlay = code_overlay(repo, code=code, final_step=meta.steps.last or step0) if code is not None else None
    sandbox = make_sandbox(repo, base=meta.git.base_commit, branch=meta.git.branch, step0=step0)
    book.request_substitutions = _date_substitutions(meta.started_at) + sandbox.request_substitutions()
    book.answer_substitutions = sandbox.answer_substitutions()
    try:
        if overlay is not None:
            apply_overlay(overlay, sandbox.root)
        result = run_recorded(
            command=command, cwd=sandbox.root / rel_cwd, program_dir=repo.root / rel_cwd,
            agent=meta.agent, name=f"rerun of {meta.name or original.id}", replay=book,
            replay_tools=replay_tools, extra_meta={"rerun_of": original.id, **_fork_table(fork)},
            stdout_to_stderr=agent_stdout_to_stderr,
            launch=ChildLaunch(wrap=lambda argv: sandbox.wrap(argv, rel_cwd=rel_cwd), repo_root=sandbox.seen_root),
        )
        sandbox.hand_over_session(repo, result.session_id)
        mark_recorded(repo.state_dir, result.session_id, command)  # recorded by this clone, in its sandbox
        rerun = result.session or SessionStore.open(repo).resolve(result.session_id)  # None: finishing failed
        comparison = compare_sessions(store, original, rerun, ignore_paths=overlay.paths if overlay else frozenset(),
                                      substitutions=book.request_substitutions, request_ignore=ignore)
    finally:
        if not keep_worktree:
            sandbox.remove()
    return RerunResult(
        original=original.id, rerun=result.session_id, exit_code=result.exit_code, status=result.status,
        served_calls=book.served_count, recorded_calls=len(book.calls), upstream_calls=result.upstream_calls,
        divergence=book.divergence, comparison=comparison, missing_env=_missing_env(list(meta.env_names)),
        workdir=sandbox.root if keep_worktree else None, code=overlay, isolation=sandbox.isolation,
        fork=fork,
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
            f"    {self.command_line}\n  in directory {cwd} of a private copy of its step 0, with your environment",
            hint="read the command; if you trust it, run again with --trust")


def planned_command(session_id: str, meta: SessionMeta) -> tuple[list[str], str]:
    """The command a rerun would run and the directory (relative to the step-0 worktree) it runs in,
    refused when the metadata could make it run outside that worktree."""
    command, cwd = list(meta.command), meta.cwd
    if not command or not all(command):
        raise CorruptRecordError(f"session {session_id} records no runnable command", hint="it cannot be rerun")
    if cwd.startswith("/") or ".." in cwd.split("/") or "\0" in cwd:
        raise CorruptRecordError(f"session {session_id} records a working directory outside its worktree: {cwd!r}",
                                 hint="it cannot be rerun")
    return command, cwd


def _set_fork(book: ReplayBook, *, fork_at: int | None, answer: bytes | None, request: RequestEdit | None) -> None:
    """``--fork-at N``: recorded answers up to model call N, then at N a different answer
    (``--answer``) or a different request (``--request``/``--edit``) or neither, and the real model
    from there on."""
    if fork_at is None:
        if answer is not None or request is not None:
            flag = "--answer" if answer is not None else "--request/--edit"
            raise UsageError(f"{flag} needs --fork-at: which model call should get it?")
        return
    if answer is not None and request is not None:
        raise UsageError("--answer and --request/--edit exclude each other: at the fork the model is either "
                         "asked something else or said to have answered something else")
    if not 0 <= fork_at < len(book.calls):
        raise UsageError(f"--fork-at {fork_at}: the session made {len(book.calls)} model call(s), numbered from 0",
                         hint="`agitlog show --type llm.request` lists them in order")
    book.fork_at = fork_at
    book.fork_answer = injected_answer(answer, index=fork_at) if answer is not None else None
    book.fork_request = request


def _fork_info(book: ReplayBook) -> ForkInfo | None:
    """Where a forked rerun forked and how: its session.toml's ``[fork]`` table."""
    if book.fork_at is None:
        return None
    if book.fork_answer is not None:
        return ForkInfo(at=book.fork_at, how="answer")
    if book.fork_request is not None:
        return ForkInfo(at=book.fork_at, how=book.fork_request.how,
                        paths=tuple(path for path, _ in book.fork_request.edits))
    return ForkInfo(at=book.fork_at, how="live")


def _fork_table(fork: ForkInfo | None) -> dict[str, Any]:
    return {"fork": fork.to_dict()} if fork is not None else {}


def parse_edits(edits: list[str]) -> tuple[tuple[str, Any], ...]:
    """``--edit 'PATH=VALUE'`` options as (JSON path, value): VALUE is read as JSON when it parses
    (``42``, ``true``, ``{"a": 1}``, ``"quoted"``), else taken as a plain string."""
    import json

    from agitlog.jsondiff import check_path

    parsed = []
    for edit in edits:
        path, equals, text = edit.partition("=")
        if not equals:
            raise UsageError(f"--edit {edit!r}: expected PATH=VALUE, e.g. '$.messages[0].content=Be brief'")
        try:
            check_path(path.strip())
        except ValueError as exc:
            raise UsageError(f"--edit: {exc}") from None
        try:
            value: Any = json.loads(text)
        except ValueError:
            value = text
        parsed.append((path.strip(), value))
    return tuple(parsed)


def request_edit(*, body: bytes | None, edits: list[str]) -> RequestEdit | None:
    """The ``--request FILE`` / ``--edit PATH=VALUE`` of a fork, checked (the file must hold a JSON
    object: the request body the provider's API takes)."""
    import json

    if body is None and not edits:
        return None
    if body is not None and edits:
        raise UsageError("--request replaces the whole request; --edit changes fields of the agent's own: "
                         "give one of them")
    if body is None:
        return RequestEdit(edits=parse_edits(edits))
    try:
        parsed = json.loads(body)
    except ValueError as exc:
        raise UsageError(f"--request: the file is not JSON ({exc})") from None
    if not isinstance(parsed, dict):
        raise UsageError("--request: the file must hold a JSON object, the request body as the provider's API takes it",
                         hint="`agitlog show SESSION --type llm.request --json` shows the recorded bodies")
    return RequestEdit(body=body)


def _date_substitutions(started_at: str) -> tuple[tuple[str, str], ...]:
    """Today's date, as an agent would write it into a prompt (Claude Code's system prompt does), is
    matched as the original run's date: a rerun on a later day still reproduces."""
    from datetime import datetime, timezone

    try:
        started = datetime.strptime(started_at[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    except ValueError:
        return ()
    now = datetime.now(timezone.utc)
    pairs = {(now.astimezone().date().isoformat(), started.astimezone().date().isoformat()),
             (now.date().isoformat(), started.date().isoformat())}
    return tuple(sorted((seen, recorded) for seen, recorded in pairs if seen != recorded))


def _missing_env(names: list[str]) -> list[str]:
    """Variables the original run had that this environment lacks (their values were never recorded)."""
    ours = ("AGITLOG_", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "GOOGLE_GEMINI_BASE_URL", "TRACEPARENT", "PYTHONPATH",
            "OLDPWD", "PWD", "SHLVL", "_")
    return [name for name in names if name not in os.environ and not name.startswith(ours)]
