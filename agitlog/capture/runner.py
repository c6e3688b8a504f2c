"""`agitlog run`: run any command as a recorded session. The child keeps the terminal, gets the
signals agitlog receives, and its exit code becomes agitlog's."""
from __future__ import annotations

import codecs
import os
import signal
import sys
import threading
from pathlib import Path

from agitlog import git
from agitlog.capture.channel import ChannelServer
from agitlog.constants import (
    ENV_ADDR, ENV_AGENT, ENV_PORT, ENV_REPLAY_TOOLS, ENV_REPO, ENV_SESSION, ENV_SPAN, ENV_TOKEN, ENV_TRACEPARENT,
    STATUS_FAILED, STATUS_INTERRUPTED, STATUS_KILLED, STATUS_OK,
)
from agitlog.errors import AgitlogError
from agitlog.capture.recorder import Recorder
from agitlog.capture.lifecycle import FinishedSession, LiveSession, finish_session, prepare_finish, start_session
from agitlog.store.recovery import recover_sessions
from agitlog.capture.adapters import choose_adapter
from agitlog.capture.early import EarlyStart, find_executable
from agitlog.datatypes import datatype

TYPE_CHECKING = False  # typing costs `agitlog run` milliseconds to import
if TYPE_CHECKING:
    import subprocess
    from collections.abc import Callable, Mapping, Sequence
    from typing import IO, Any

    from agitlog.capture.replaybook import ReplayBook
    from agitlog.store.sessions import Session

FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)


@datatype(frozen=True)
class RunResult:
    session_id: str
    exit_code: int
    status: str
    steps: int
    warning: str | None = None
    upstream_calls: int = 0
    finished: FinishedSession | None = None   # None when finishing failed (see warning)

    @property
    def session(self) -> Session | None:
        """The stored session, typed; None when finishing it failed (see warning)."""
        return self.finished.session() if self.finished is not None else None


def run_recorded(
    *,
    command: Sequence[str],
    cwd: Path,
    name: str | None = None,
    agent: str | None = None,
    capture_output: bool = False,
    auto_capture: bool = True,
    extra_meta: Mapping[str, Any] | None = None,
    replay: ReplayBook | None = None,
    replay_tools: bool = False,
    stdout_to_stderr: bool = False,
    first_status: git.Pending | None = None,
    located: git.Pending | None = None,
    adapter: str | None = None,
    program_dir: Path | None = None,
    launch: ChildLaunch | None = None,
    early: EarlyStart | None = None,
) -> RunResult:
    """Run ``command`` in ``cwd`` and record it as a session of the repository around ``cwd``.
    ``adapter`` names an agent adapter (agitlog.capture.adapters); by default the command's name picks one.
    ``program_dir``: where a relative program path is found when ``cwd`` does not hold it (a rerun
    runs in a temporary worktree, but ``../venv/bin/python`` meant the original run's directory).
    ``launch``: how to start the child when not directly (a rerun's sandbox). ``early``: the session's
    journal and step 0, already under way (agitlog.capture.early; it replaces ``located`` and
    ``first_status``)."""
    if not command:
        raise AgitlogError("no command to run", hint="usage: agitlog run -- COMMAND [ARGS...]", exit_code=2)
    if early is not None:
        repo, base, branch = early.repo, early.base, early.branch
    else:
        repo, base, branch = git.find_repo_and_head(cwd, pending=located)
    try:
        executable = find_executable(command[0], _program_cwd(command[0], cwd, program_dir))
        chosen = choose_adapter(command, adapter)
        if chosen is not None:  # (an early start wrote it into start.json already)
            extra_meta = {**(extra_meta or {}), "adapter": {"name": chosen.name}}
        recover_sessions(repo)
    except BaseException:
        if early is not None:
            early.abandon()  # nothing was recorded: no journal is left behind
        raise
    live = start_session(repo, command=command, cwd=cwd, name=name, agent=agent, extra_meta=extra_meta,
                         head=(base, branch), first_status=first_status, early=early)
    _tell_parent_session(live)
    channel = ChannelServer(live.recorder, replay=replay if replay_tools else None)
    channel.start()
    services = _start_capture_services(live, enabled=auto_capture or replay is not None, replay=replay,
                                       inject=auto_capture, channel=channel)
    try:
        env = _child_env(live, channel, services)
        if replay_tools:
            env[ENV_REPLAY_TOOLS] = "1"
        argv = list(command)
        if chosen is not None:  # after the proxy started: an adapter may point the agent at it
            prepared = chosen.prepare(command, hook_command=hook_command(chosen.name), env=env)
            env.update(prepared.env)
            argv = prepared.command
        if launch is not None:
            argv, executable = launch.wrap(argv), None
            env[ENV_REPO] = str(launch.repo_root)
            live.seen_root = launch.repo_root
        outcome = _run_child(argv, executable=executable, cwd=cwd, env=env,
                             recorder=live.recorder if capture_output else None, stdout_to_stderr=stdout_to_stderr)
        live.recorder.prefetch_snapshot()  # the after-snapshot's scan runs while the channel and proxy close
        prepare_finish()
    finally:
        channel.close()
        for service in services:
            service.close()
    warning = None
    stored = None
    if chosen is not None:
        try:
            chosen.after_run(live)
        except (AgitlogError, OSError, ValueError) as exc:  # the session is still worth finishing
            warning = f"the {chosen.name} adapter could not finish its part: {exc}"
    try:
        stored = finish_session(live, status=outcome.status, exit_code=outcome.exit_code, signal=outcome.signal)
    except (AgitlogError, OSError) as exc:  # e.g. a full disk: keep the agent's exit code, keep the journal
        warning = (f"could not finish recording {live.id}: {exc}; its journal is kept and the next agitlog "
                   "command (or `agitlog recover`) will finish it")
    return RunResult(session_id=live.id, exit_code=outcome.exit_code, status=outcome.status,
                     steps=live.recorder.step + 1, warning=warning,
                     upstream_calls=sum(getattr(s, "upstream_calls", 0) for s in services), finished=stored)


@datatype(frozen=True)
class ChildLaunch:
    """A child started through a wrapper (a rerun's mount namespace), and the repository root it is
    told about (where it believes it runs)."""

    wrap: Callable[[list[str]], list[str]]
    repo_root: Path


_HOOK_STUB = ('import sys, types; p = types.ModuleType("agitlog"); p.__path__ = [sys.argv[1]]; '
              'sys.modules["agitlog"] = p; from agitlog.capture.adapters.hook import main; main(sys.argv[2:])')


def hook_command(agent: str) -> str:
    """The shell command an agent's hooks run: this interpreter and this agitlog, whatever PATH says.
    It runs once per hook (twice per tool call), so like the git hooks it starts ``python -S`` with a
    bare package stub: no site-packages, no SDK, only the standard library and the modules it needs."""
    import shlex

    package = Path(__file__).resolve().parents[1]
    return " ".join(shlex.quote(part) for part in (sys.executable, "-S", "-c", _HOOK_STUB, str(package), agent))


def _tell_parent_session(live: LiveSession) -> None:
    """A run inside a recorded run is a child session; the parent records a link to it."""
    if not live.meta.get("parent_session"):
        return
    from agitlog.capture.sdk import emit  # noqa: PLC0415

    emit("session.child", {"session": live.id, "command": live.meta["command"], "name": live.meta.get("name"),
                           "agent": live.meta["agent"]})


def _program_cwd(program: str, cwd: Path, program_dir: Path | None) -> Path:
    if program_dir is None or "/" not in program or os.path.isabs(program) or (cwd / program).exists():
        return cwd
    return program_dir


def _start_capture_services(live: LiveSession, *, enabled: bool, replay: ReplayBook | None, inject: bool,
                            channel: ChannelServer) -> list[Any]:
    """Services that capture without code changes (the LLM proxy, the OTLP receiver for agent
    frameworks' spans), built on first use (agitlog.capture.services); none when disabled."""
    if not enabled:
        return []
    from agitlog.capture.services import CaptureServices  # noqa: PLC0415

    return [CaptureServices(live, replay=replay, inject=inject, channel=channel)]


def _child_env(live: LiveSession, channel: ChannelServer, services: list[Any]) -> dict[str, str]:
    from agitlog.capture.shim import child_env, ensure_shim

    env = child_env(os.environ, ensure_shim(live.repo.state_dir))  # the agent can call this agitlog
    meta = live.meta
    env.update({
        ENV_SESSION: live.id, ENV_ADDR: f"127.0.0.1:{channel.port}", ENV_PORT: str(channel.port),
        ENV_TOKEN: channel.token, ENV_AGENT: meta["agent"], ENV_SPAN: meta["root_span"],
        ENV_REPO: str(live.repo.root), ENV_TRACEPARENT: f"00-{meta['trace_id']}-{meta['root_span']}-01",
    })
    for service in services:
        env.update(service.child_env())
    return env


@datatype(frozen=True)
class _Outcome:
    exit_code: int
    status: str
    signal: int | None


def _run_child(argv: list[str], *, executable: str | None, cwd: Path, env: dict[str, str],
               recorder: Recorder | None, stdout_to_stderr: bool = False) -> _Outcome:
    try:
        if recorder is None and executable is not None and os.fspath(cwd) == os.getcwd():
            proc: Any = _SpawnedChild(argv, executable=executable, env=env, stdout_to_stderr=stdout_to_stderr)
        else:
            import subprocess  # noqa: PLC0415 - pipes for --capture-output, another directory

            pipe = subprocess.PIPE if recorder else None
            stdout = pipe or (sys.stderr.fileno() if stdout_to_stderr else None)  # keeps our stdout clean for --json
            proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=stdout, stderr=pipe, executable=executable)
    except OSError as exc:
        code = 126 if isinstance(exc, PermissionError) else 127
        return _Outcome(exit_code=code, status=STATUS_FAILED, signal=None)
    received: list[int] = []
    previous = _forward_signals(proc, received)
    pumps = _start_output_pumps(proc, recorder) if recorder else []
    try:
        returncode = proc.wait()
        for pump in pumps:
            pump.join()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return _outcome(returncode, received)


class _SpawnedChild:
    """The child started with ``os.posix_spawn``, as subprocess.Popen would start it (default SIGPIPE
    and SIGXFSZ, no descriptor beyond 0-2 inherited), for the common run: same directory, output
    not captured. Importing subprocess alone costs `agitlog run` milliseconds. Offers what
    ``_forward_signals`` and ``_run_child`` use of a Popen: ``send_signal`` and ``wait``."""

    def __init__(self, argv: list[str], *, executable: str, env: dict[str, str], stdout_to_stderr: bool) -> None:
        actions = [(os.POSIX_SPAWN_CLOSE, fd) for fd in _inheritable_fds()]
        if stdout_to_stderr:
            actions.append((os.POSIX_SPAWN_DUP2, 2, 1))  # keeps our own stdout clean for --json
        self.returncode: int | None = None
        self.pid = os.posix_spawn(executable, argv, env, file_actions=actions,
                                  setsigdef=(signal.SIGPIPE, signal.SIGXFSZ))

    def send_signal(self, signum: int) -> None:
        if self.returncode is None:
            os.kill(self.pid, signum)

    def wait(self) -> int:
        """The exit code, or minus the signal that ended the child (as Popen.wait)."""
        _, status = os.waitpid(self.pid, 0)
        self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode


def _inheritable_fds() -> list[int]:
    """Descriptors above 2 that a child would inherit (Popen closes them: close_fds)."""
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return []
    found = []
    for name in names:
        fd = int(name)
        try:
            if fd > 2 and os.get_inheritable(fd):
                found.append(fd)
        except OSError:
            continue  # the descriptor listdir itself used
    return found


def _outcome(returncode: int, received: list[int]) -> _Outcome:
    interrupted = signal.SIGINT in received or returncode == -signal.SIGINT
    if returncode < 0:
        signum = -returncode
        status = STATUS_INTERRUPTED if interrupted else STATUS_KILLED
        return _Outcome(exit_code=128 + signum, status=status, signal=signum)
    if interrupted:
        return _Outcome(exit_code=returncode, status=STATUS_INTERRUPTED, signal=None)
    return _Outcome(exit_code=returncode, status=STATUS_OK if returncode == 0 else STATUS_FAILED, signal=None)


def _forward_signals(proc: subprocess.Popen[bytes], received: list[int]) -> dict[int, Any]:
    """Pass signals on to the child. Ctrl-C and Ctrl-\\ from our terminal already reached it (same
    process group), so those are only noted, never sent twice."""
    terminal_delivers = _in_terminal_foreground()

    def handler(signum: int, _frame: Any) -> None:
        received.append(signum)
        if terminal_delivers and signum in (signal.SIGINT, signal.SIGQUIT):
            return
        try:
            proc.send_signal(signum)
        except ProcessLookupError:
            pass

    return {signum: signal.signal(signum, handler) for signum in FORWARDED_SIGNALS}


def _in_terminal_foreground() -> bool:
    try:
        return os.isatty(0) and os.tcgetpgrp(0) == os.getpgrp()
    except OSError:
        return False


def _start_output_pumps(proc: subprocess.Popen[bytes], recorder: Recorder) -> list[threading.Thread]:
    pumps = []
    for name, source, sink in (("stdout", proc.stdout, sys.stdout), ("stderr", proc.stderr, sys.stderr)):
        thread = threading.Thread(target=_pump, args=(name, source, sink, recorder), daemon=True)
        thread.start()
        pumps.append(thread)
    return pumps


def _pump(stream: str, source: IO[bytes] | None, sink: IO[str], recorder: Recorder) -> None:
    """Show the child's output live and record it as ``output`` events."""
    if source is None:
        return
    out = sink.buffer
    fd = source.fileno()
    decoder = codecs.getincrementaldecoder("utf-8")("backslashreplace")  # a chunk may end mid-character
    pending = ""
    while chunk := os.read(fd, 1 << 16):
        out.write(chunk)
        out.flush()
        text, pending = split_output(pending + decoder.decode(chunk))
        if text:
            recorder.record_many([{"type": "output", "data": {"stream": stream, "text": text}}])
    if pending:
        recorder.record_many([{"type": "output", "data": {"stream": stream, "text": pending}}])
    source.close()


_MAX_PENDING_OUTPUT = 1 << 20


def split_output(text: str) -> tuple[str, str]:
    """(what to record now, what to hold back): output is recorded in whole lines, and a private key
    block in one piece, because each event is redacted on its own and a pipe read can cut a secret
    in two (issue 11). What is held back is bounded."""
    if len(text) > _MAX_PENDING_OUTPUT:
        return text, ""
    cut = text.rfind("\n") + 1
    begin = text.rfind("-----BEGIN", 0, cut)
    if begin >= 0 and "-----END" not in text[begin:cut] and "PRIVATE KEY" in text[begin:begin + 80]:
        cut = text.rfind("\n", 0, begin) + 1  # keep the block whole: wait for its END line
    return text[:cut], text[cut:]
