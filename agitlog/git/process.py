"""Running git: one function per way of starting it, with leaked GIT_* variables stripped."""
from __future__ import annotations

import os
import subprocess
from functools import lru_cache
from pathlib import Path
from collections.abc import Mapping, Sequence  # not typing: hooks import this module, typing costs ms

from agitlog.constants import COMMIT_EMAIL, COMMIT_NAME
from agitlog.errors import GitError


ZERO_OID = "0" * 40


EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


# Variables that configure how git reaches the outside world, not which repository it acts on.
_KEPT_GIT_VARS = frozenset({
    "GIT_EXEC_PATH", "GIT_SSH", "GIT_SSH_COMMAND", "GIT_SSL_CAINFO", "GIT_SSL_NO_VERIFY",
    "GIT_ASKPASS", "GIT_TERMINAL_PROMPT", "GIT_HTTP_PROXY_AUTHMETHOD", "GIT_ALLOW_PROTOCOL",
    "GIT_CONFIG_GLOBAL", "GIT_CONFIG_NOSYSTEM", "GIT_CONFIG_COUNT", "GIT_TRACE", "GIT_TRACE2",
    "GIT_TRACE2_EVENT", "GIT_TRACE_PERFORMANCE",
})


def no_git_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """A copy of ``env`` without the GIT_* variables that would point git at another repo or index."""
    source = os.environ if env is None else env
    return {
        key: value for key, value in source.items()
        if not key.startswith("GIT_") or key in _KEPT_GIT_VARS or key.startswith("GIT_CONFIG_")
    }


@lru_cache(maxsize=1)
def _base_env() -> tuple[tuple[str, str], ...]:
    env = no_git_env()
    env.update({
        "GIT_AUTHOR_NAME": COMMIT_NAME, "GIT_AUTHOR_EMAIL": COMMIT_EMAIL,
        "GIT_COMMITTER_NAME": COMMIT_NAME, "GIT_COMMITTER_EMAIL": COMMIT_EMAIL,
        "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0",
    })
    return tuple(env.items())


def _env(extra: Mapping[str, str] | None) -> dict[str, str]:
    env = dict(_base_env())
    if extra:
        env.update(extra)
    return env


def git(
    cwd: Path,
    *args: str,
    input: bytes | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
) -> bytes:
    """Run one git command in ``cwd`` and return its stdout; a failure raises GitError."""
    try:
        proc = subprocess.run(
            ["git", *args], cwd=cwd, input=input, env=_env(env),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
    except FileNotFoundError as exc:
        raise GitError("git is not installed or not on PATH", hint="install git 2.30 or newer") from exc
    if check and proc.returncode != 0:
        raise GitError(_describe_failure(args, proc.stderr))
    return proc.stdout


class Pending:
    """A git command started in the background (``start``); ``result()`` waits for its stdout."""

    def __init__(self, args: Sequence[str], proc: subprocess.Popen[bytes]) -> None:
        self._args = args
        self._proc = proc

    def result(self, *, check: bool = True) -> bytes:
        out, err = self._proc.communicate()
        if check and self._proc.returncode != 0:
            raise GitError(_describe_failure(self._args, err))
        return out


def start(cwd: Path, *args: str, env: Mapping[str, str] | None = None) -> Pending:
    """Start a git command and return at once, so Python work can overlap it on another core."""
    try:
        proc = subprocess.Popen(["git", *args], cwd=cwd, env=_env(env), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
    except FileNotFoundError as exc:
        raise GitError("git is not installed or not on PATH", hint="install git 2.30 or newer") from exc
    return Pending(args, proc)


def _describe_failure(args: Sequence[str], stderr: bytes) -> str:
    text = stderr.decode("utf-8", "replace").strip()
    first = text.splitlines()[0] if text else "no error output"
    return f"git {args[0]} failed: {first}"
