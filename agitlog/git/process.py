"""Running git: one function per way of starting it, with leaked GIT_* variables stripped.

``git`` (run, wait, collect) and ``start`` (a git process running while Python works, collected by
``Pending.result``) start git with ``os.posix_spawnp`` and collect its output with ``select.poll``:
the subprocess module costs every read command about 2 ms to import (it loads selectors, locale,
signal, threading), more than a git call takes, and would delay `agitlog run`'s first git."""
from __future__ import annotations

import os
from functools import lru_cache
from collections.abc import Mapping, Sequence  # not typing: hooks import this module, typing costs ms

from agitlog.constants import COMMIT_EMAIL, COMMIT_NAME
from agitlog.errors import GitError, GitNotInstalledError

TYPE_CHECKING = False  # pathlib: `agitlog run` starts its first git before it loads
if TYPE_CHECKING:
    from pathlib import Path



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
    code, out, err = run_git(cwd, args, input=input, env=_env(env))
    if check and code != 0:
        raise GitError(_describe_failure(args, err))
    return out


def run_git(cwd: Path, args: Sequence[str], *, input: bytes | None = None, env: Mapping[str, str] | None = None,
            stderr: bool = True) -> tuple[int, bytes, bytes]:
    """Run git with ``args`` in ``cwd`` (``env``: the whole environment, default _env(None)) and wait:
    (exit code, stdout, stderr; stderr is discarded unless ``stderr``). Raises GitError when git
    cannot be started."""
    pipes: list[int] = []
    try:
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe() if stderr else (-1, os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC))
        in_r, in_w = os.pipe() if input is not None else (os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC), -1)
        pipes = [fd for fd in (out_r, out_w, err_r, err_w, in_r, in_w) if fd >= 0]
        pid = _spawn(cwd, args, _env(None) if env is None else env, stdin=in_r, stdout=out_w, stderr=err_w)
        for fd in (out_w, err_w, in_r):
            os.close(fd)
            pipes.remove(fd)
        out, err = _collect(out_r, err_r, in_w, input or b"", pipes)
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status), out, err
    finally:
        for fd in pipes:
            os.close(fd)


def _spawn(cwd: Path | str, args: Sequence[str], env: Mapping[str, str], *, stdin: int, stdout: int,
           stderr: int) -> int:
    """Start ``git -C cwd args`` with the given descriptors as its 0, 1 and 2; its pid. posix_spawn
    has no working-directory action before Python 3.13: git's own -C does the same."""
    actions = [(os.POSIX_SPAWN_DUP2, stdin, 0), (os.POSIX_SPAWN_DUP2, stdout, 1), (os.POSIX_SPAWN_DUP2, stderr, 2)]
    try:
        # As subprocess does: git gets the default SIGPIPE and SIGXFSZ (Python ignores them).
        return os.posix_spawnp("git", ["git", "-C", os.fspath(cwd), *args], dict(env), file_actions=actions,
                               setsigdef=(_SIGPIPE, _SIGXFSZ))
    except FileNotFoundError as exc:
        raise GitNotInstalledError("git is not installed or not on PATH", hint="install git 2.30 or newer") from exc


_SIGPIPE, _SIGXFSZ = 13, 25  # Linux and the BSDs alike; the signal module would be one more import


def _collect(out_fd: int, err_fd: int, in_fd: int, data: bytes, pipes: list[int]) -> tuple[bytes, bytes]:
    """Write ``data`` to ``in_fd`` while reading ``out_fd`` and ``err_fd`` to their ends (no
    deadlock whatever the sizes; -1: none); each is closed when done and taken out of ``pipes``."""
    import select

    chunks: dict[int, list[bytes]] = {out_fd: [], err_fd: []}
    poller = select.poll()
    for fd in (out_fd, err_fd):
        if fd >= 0:
            poller.register(fd, select.POLLIN)
    view, written = memoryview(data), 0
    if in_fd >= 0:
        if data:
            os.set_blocking(in_fd, False)  # a write takes what fits: git may be waiting for us to read
            poller.register(in_fd, select.POLLOUT)
        else:
            _close(in_fd, pipes)
            in_fd = -1
    open_fds = sum(fd >= 0 for fd in (out_fd, err_fd, in_fd))
    while open_fds:
        for fd, event in poller.poll():
            if fd == in_fd:
                try:
                    written += os.write(fd, view[written:written + 65536]) if event & select.POLLOUT else len(view)
                except BlockingIOError:
                    pass
                except BrokenPipeError:  # git stopped reading: what it wrote still tells
                    written = len(view)
                if written >= len(view):  # all of it: closing tells git the input ended
                    poller.unregister(fd)
                    _close(fd, pipes)
                    open_fds -= 1
                continue
            chunk = os.read(fd, 1 << 16)
            if chunk:
                chunks[fd].append(chunk)
            else:
                poller.unregister(fd)
                _close(fd, pipes)
                open_fds -= 1
    return b"".join(chunks[out_fd]), b"".join(chunks[err_fd])


def _close(fd: int, pipes: list[int]) -> None:
    pipes.remove(fd)
    os.close(fd)


class Pending:
    """A git command started in the background (``start``); ``result()`` waits for its stdout."""

    def __init__(self, args: Sequence[str], pid: int, out_fd: int, err_fd: int) -> None:
        self._args = args
        self._pid, self._out_fd, self._err_fd = pid, out_fd, err_fd
        self._done: tuple[int, bytes, bytes] | None = None

    def result(self, *, check: bool = True) -> bytes:
        if self._done is None:
            pipes = [self._out_fd, self._err_fd]
            try:
                out, err = _collect(self._out_fd, self._err_fd, -1, b"", pipes)
                _, status = os.waitpid(self._pid, 0)
            finally:
                for fd in pipes:
                    os.close(fd)
            self._done = (os.waitstatus_to_exitcode(status), out, err)
        code, out, err = self._done
        if check and code != 0:
            raise GitError(_describe_failure(self._args, err))
        return out


def start(cwd: Path | str, *args: str, env: Mapping[str, str] | None = None) -> Pending:
    """Start a git command and return at once, so Python work can overlap it on another core. Started
    like ``run_git`` (no subprocess: `agitlog run` starts its first git before anything else loads)."""
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    null = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    try:
        pid = _spawn(cwd, args, _env(env), stdin=null, stdout=out_w, stderr=err_w)
    except GitError:
        os.close(out_r)
        os.close(err_r)
        raise
    finally:
        for fd in (null, out_w, err_w):
            os.close(fd)
    return Pending(args, pid, out_r, err_r)


def _describe_failure(args: Sequence[str], stderr: bytes) -> str:
    text = stderr.decode("utf-8", "replace").strip()
    first = text.splitlines()[0] if text else "no error output"
    return f"git {args[0]} failed: {first}"
