"""A faked later clock for a command and every process it starts, static or dynamic (x86_64 Linux).

    python tests/fakeclock.py +3d -- CMD [ARG...]

libfaketime works by LD_PRELOAD, which a static binary (Codex CLI, musl) never loads and a program
doing its own system calls (Claude Code, a Bun binary, for file times) goes around. This reaches
them all from the outside, with ptrace and seccomp, in Python with ctypes (nothing to compile):

- the command starts traced (PTRACE_TRACEME), with a seccomp filter that every descendant inherits.
  The filter stops (SECCOMP_RET_TRACE) only the calls that read or take wall-clock times:
  clock_gettime on a realtime clock, gettimeofday, time, the stat family (file times), utimensat,
  utimes and utime with explicit times, clock_nanosleep with an absolute realtime deadline and
  futex waits on an absolute realtime deadline. Everything else (monotonic clocks included) runs
  untouched;
- at each such stop the supervisor lets the call run to its exit and adds the offset to the times
  it returns, or takes it off the times a call is given (and puts them back afterwards);
- at every exec it hides the vDSO from the new image (the AT_SYSINFO_EHDR auxv entry becomes
  AT_IGNORE), so that glibc and musl make real clock_gettime calls, which the filter sees;
- forks, vforks and threads stay traced (a process with such a filter and no tracer would get
  ENOSYS); signals pass through; it exits when every traced process has, with the command's status.

Not faked: times a program reads without a system call (the TSC), times in /proc, timers set on
a realtime clock with an absolute time (timerfd, POSIX timers), and 32-bit programs. Job-control
stops (SIGSTOP, SIGTSTP) do not stop a traced process here: the supervisor lets it go on.
"""
from __future__ import annotations

import ctypes
import os
import platform
import re
import signal
import struct
import sys
from dataclasses import dataclass, field

SUPPORTED = sys.platform == "linux" and platform.machine() == "x86_64"

_libc = ctypes.CDLL(None, use_errno=True)
_libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
_libc.ptrace.restype = ctypes.c_long
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]

# ptrace requests, options and events (linux/ptrace.h)
PTRACE_TRACEME, PTRACE_PEEKUSER, PTRACE_POKEUSER, PTRACE_CONT = 0, 3, 6, 7
PTRACE_GETREGS, PTRACE_SETOPTIONS, PTRACE_GETEVENTMSG, PTRACE_SYSCALL, PTRACE_GETSIGINFO = 12, 0x4200, 0x4201, 24, 0x4202
O_TRACESYSGOOD, O_TRACEFORK, O_TRACEVFORK, O_TRACECLONE, O_TRACEEXEC = 1, 2, 4, 8, 0x10
O_TRACESECCOMP, O_EXITKILL = 0x80, 1 << 20
EVENT_FORK, EVENT_VFORK, EVENT_CLONE, EVENT_EXEC, EVENT_SECCOMP = 1, 2, 3, 4, 7
WALL = 0x40000000

# x86_64 system calls
SYS_STAT, SYS_FSTAT, SYS_LSTAT, SYS_GETTIMEOFDAY, SYS_UTIME, SYS_TIME = 4, 5, 6, 96, 132, 201
SYS_FUTEX, SYS_CLOCK_GETTIME, SYS_CLOCK_NANOSLEEP, SYS_UTIMES = 202, 228, 230, 235
SYS_NEWFSTATAT, SYS_UTIMENSAT, SYS_STATX = 262, 280, 332
REALTIME_CLOCKS = (0, 5, 8, 11)  # REALTIME, REALTIME_COARSE, REALTIME_ALARM, TAI
TIMER_ABSTIME = 1
FUTEX_WAIT_BITSET, FUTEX_CLOCK_REALTIME, FUTEX_CMD_MASK = 9, 256, 0x7F
UTIME_NOW, UTIME_OMIT = (1 << 30) - 1, (1 << 30) - 2
STAT_TIMES = (72, 88, 104)  # struct stat: st_atim, st_mtim, st_ctim (tv_sec at each)
STATX_TIMES = (64, 80, 96, 112)  # struct statx: stx_atime, stx_btime, stx_ctime, stx_mtime

# user_regs_struct, in unsigned longs
R10, R8, RAX, RDX, RSI, RDI, ORIG_RAX, RSP = 7, 9, 10, 12, 13, 14, 15, 19
AT_NULL, AT_IGNORE, AT_SYSINFO_EHDR = 0, 1, 33


class _IoVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def parse_offset(text: str) -> int:
    """Seconds in ``+3d``, ``-2h``, ``+90m``, ``+45s`` or ``+45`` (a sign is required)."""
    match = re.fullmatch(r"([+-])(\d+)([dhms]?)", text)
    if not match:
        raise ValueError(f"not an offset: {text!r} (try +3d, -2h, +90m, +45s)")
    sign, number, unit = match.groups()
    seconds = int(number) * {"d": 86400, "h": 3600, "m": 60, "s": 1, "": 1}[unit]
    return seconds if sign == "+" else -seconds


# ---------------------------------------------------------------- the seccomp filter (the child side)

def _filter() -> list[tuple[int, int, int, int]]:
    """The BPF program: TRACE the wall-clock calls named in the module docstring, ALLOW the rest.
    Instructions are (code, jump if true, jump if false, k); jumps count the instructions skipped."""
    ld_w_abs, jeq, jset, and_k, ret = 0x20, 0x15, 0x45, 0x54, 0x06
    allow, trace = 0x7FFF0000, 0x7FF00000
    always = (SYS_GETTIMEOFDAY, SYS_TIME, SYS_STAT, SYS_FSTAT, SYS_LSTAT, SYS_NEWFSTATAT, SYS_STATX,
              SYS_UTIMENSAT, SYS_UTIMES, SYS_UTIME)
    # args[0] (the clock id) is a realtime clock: on to the instruction after the ALLOW that ends this
    realtime = [(ld_w_abs, 0, 0, 16), *((jeq, len(REALTIME_CLOCKS) - i, 0, clock)
                                         for i, clock in enumerate(REALTIME_CLOCKS)), (ret, 0, 0, allow)]
    tails: dict[str, list[tuple[int, int, int, int]]] = {  # where a system call's number leads
        "trace": [(ret, 0, 0, trace)],
        "clock": [*realtime, (ret, 0, 0, trace)],
        # and args[1] (the flags) has TIMER_ABSTIME
        "sleep": [*realtime, (ld_w_abs, 0, 0, 24), (jset, 1, 0, TIMER_ABSTIME), (ret, 0, 0, allow), (ret, 0, 0, trace)],
        # args[1] (the op) is FUTEX_WAIT_BITSET with FUTEX_CLOCK_REALTIME, private or not
        "futex": [(ld_w_abs, 0, 0, 24), (and_k, 0, 0, FUTEX_CMD_MASK | FUTEX_CLOCK_REALTIME),
                  (jeq, 1, 0, FUTEX_WAIT_BITSET | FUTEX_CLOCK_REALTIME), (ret, 0, 0, allow), (ret, 0, 0, trace)],
    }
    checks = [*((nr, "trace") for nr in always), (SYS_CLOCK_GETTIME, "clock"), (SYS_CLOCK_NANOSLEEP, "sleep"),
              (SYS_FUTEX, "futex")]
    # x86_64 calls only (the arch at offset 4), then the number (offset 0) against each check
    prog: list[tuple[int, int, int, int]] = [(ld_w_abs, 0, 0, 4), (jeq, 1, 0, 0xC000003E), (ret, 0, 0, allow),
                                             (ld_w_abs, 0, 0, 0)]
    start_of, position = {}, len(prog) + len(checks) + 1  # the tails follow the checks and an ALLOW
    for name, tail in tails.items():
        start_of[name], position = position, position + len(tail)
    for nr, target in checks:
        prog.append((jeq, start_of[target] - len(prog) - 1, 0, nr))
    prog.append((ret, 0, 0, allow))
    for tail in tails.values():
        prog.extend(tail)
    return prog


def _install_filter() -> None:
    """NO_NEW_PRIVS (needed by an unprivileged filter) and the filter, in this process and its descendants."""
    program = _filter()
    array = (_SockFilter * len(program))(*(_SockFilter(*insn) for insn in program))
    fprog = _SockFprog(len(program), ctypes.cast(array, ctypes.POINTER(_SockFilter)))
    if _libc.prctl(38, 1, None, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    if _libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) != 0:  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP)")


def _child(argv: list[str]) -> None:
    """In the forked child: be traced, wait for the tracer's options, filter, exec. Never returns."""
    try:
        if _libc.ptrace(PTRACE_TRACEME, 0, None, None) != 0:
            raise OSError(ctypes.get_errno(), "ptrace(PTRACE_TRACEME)")
        os.kill(os.getpid(), signal.SIGSTOP)  # the tracer sets its options (TRACESECCOMP) before the filter exists
        _install_filter()
        os.execvp(argv[0], argv)
    except OSError as error:
        os.write(2, f"fakeclock: {argv[0]}: {error}\n".encode())
        os._exit(127)


# ---------------------------------------------------------------- the tracer

def _ptrace(request: int, pid: int, addr: int = 0, data: int | ctypes.c_void_p | None = 0) -> int:
    ctypes.set_errno(0)
    result = _libc.ptrace(request, pid, addr, data)
    if result == -1 and ctypes.get_errno():
        raise OSError(ctypes.get_errno(), f"ptrace({request}, {pid})")
    return result


def _regs(pid: int) -> list[int]:
    buffer = (ctypes.c_ulong * 27)()
    _ptrace(PTRACE_GETREGS, pid, 0, ctypes.addressof(buffer))
    return list(buffer)


def _read(pid: int, address: int, size: int) -> bytes:
    buffer = ctypes.create_string_buffer(size)
    local, remote = _IoVec(ctypes.addressof(buffer), size), _IoVec(address, size)
    done = _libc.process_vm_readv(pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
    if done != size:
        raise OSError(ctypes.get_errno(), f"process_vm_readv({pid}, {address:#x})")
    return buffer.raw


def _write(pid: int, address: int, data: bytes) -> None:
    buffer = ctypes.create_string_buffer(data, len(data))
    local, remote = _IoVec(ctypes.addressof(buffer), len(data)), _IoVec(address, len(data))
    if _libc.process_vm_writev(pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0) != len(data):
        raise OSError(ctypes.get_errno(), f"process_vm_writev({pid}, {address:#x})")


def _shift_secs(pid: int, address: int, offsets: tuple[int, ...], seconds: int) -> None:
    """Add ``seconds`` to the signed 64-bit tv_sec at each of ``offsets`` from ``address``."""
    span = max(offsets) + 8
    data = bytearray(_read(pid, address, span))
    for at in offsets:
        (value,) = struct.unpack_from("<q", data, at)
        struct.pack_into("<q", data, at, value + seconds)
    _write(pid, address, bytes(data))


@dataclass
class _Pending:
    """What to do at the exit of a call stopped at its entry: shift results, or put inputs back."""
    nr: int
    address: int = 0
    restore: bytes | None = None


@dataclass
class Supervisor:
    """Traces every process of one command and shifts the times they see by ``offset`` seconds."""
    offset: int
    main: int = 0
    status: int | None = None
    live: set[int] = field(default_factory=set)
    pending: dict[int, _Pending] = field(default_factory=dict)

    def run(self, argv: list[str]) -> int:
        """Start ``argv`` under the faked clock; return its exit status when all its processes are gone."""
        pid = os.fork()
        if pid == 0:
            _child(argv)
        self.main = pid
        _, status = os.waitpid(pid, WALL)
        if not os.WIFSTOPPED(status):
            return _exit_code(status)
        _ptrace(PTRACE_SETOPTIONS, pid, 0, O_TRACESYSGOOD | O_TRACEFORK | O_TRACEVFORK | O_TRACECLONE
                | O_TRACEEXEC | O_TRACESECCOMP | O_EXITKILL)
        self.live.add(pid)
        self._forward_signals()
        _ptrace(PTRACE_CONT, pid, 0, 0)
        while self.live:
            try:
                tid, status = os.waitpid(-1, WALL)
            except ChildProcessError:
                break
            self._handle(tid, status)
        return _exit_code(self.status if self.status is not None else 0)

    def _forward_signals(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2):
            signal.signal(sig, lambda number, _frame: _kill(self.main, number))

    def _handle(self, tid: int, status: int) -> None:
        if os.WIFEXITED(status) or os.WIFSIGNALED(status):
            self.live.discard(tid)
            self.pending.pop(tid, None)
            if tid == self.main:
                self.status = status
            return
        if not os.WIFSTOPPED(status):
            return
        if tid not in self.live:  # a new process or thread's first stop (or its stop came before its parent's event)
            self.live.add(tid)
            if os.WSTOPSIG(status) == signal.SIGSTOP:
                self._resume(tid, PTRACE_CONT, 0)
                return
        sig, event = os.WSTOPSIG(status), status >> 16
        if sig == signal.SIGTRAP | 0x80:
            self._syscall_exit(tid)
            self._resume(tid, PTRACE_CONT, 0)
        elif sig == signal.SIGTRAP and event == EVENT_SECCOMP:
            self._resume(tid, PTRACE_SYSCALL if self._syscall_entry(tid) else PTRACE_CONT, 0)
        elif sig == signal.SIGTRAP and event == EVENT_EXEC:
            self._exec(tid)
            self._resume(tid, PTRACE_CONT, 0)
        elif sig == signal.SIGTRAP and event in (EVENT_FORK, EVENT_VFORK, EVENT_CLONE):
            self._resume(tid, PTRACE_CONT, 0)
        elif event:  # another ptrace event (a group-stop reported as one): go on
            self._resume(tid, PTRACE_CONT, 0)
        else:
            self._resume(tid, PTRACE_CONT, 0 if self._group_stop(tid) else sig)

    def _resume(self, tid: int, request: int, sig: int) -> None:
        try:
            _ptrace(request, tid, 0, sig)
        except ProcessLookupError:  # killed meanwhile (SIGKILL, or a sibling thread's exec)
            self.pending.pop(tid, None)

    def _group_stop(self, tid: int) -> bool:
        """A stop with no signal to deliver (the process was stopped): GETSIGINFO fails for those."""
        info = ctypes.create_string_buffer(128)
        try:
            _ptrace(PTRACE_GETSIGINFO, tid, 0, ctypes.addressof(info))
        except OSError:
            return True
        return False

    def _exec(self, tid: int) -> None:
        """Hide the vDSO from the new image: its AT_SYSINFO_EHDR auxv entry becomes AT_IGNORE."""
        self.pending.pop(tid, None)
        rsp = _regs(tid)[RSP]
        (argc,) = struct.unpack("<Q", _read(tid, rsp, 8))
        at = rsp + 8 * (argc + 2)  # past argc, argv and its NULL
        while True:  # past envp and its NULL
            chunk = _read(tid, at, 8 * 64)
            words = struct.unpack("<64Q", chunk)
            if 0 in words:
                at += 8 * (words.index(0) + 1)
                break
            at += 8 * 64
        while True:
            kind, _value = struct.unpack("<QQ", _read(tid, at, 16))
            if kind == AT_NULL:
                return
            if kind == AT_SYSINFO_EHDR:
                _write(tid, at, struct.pack("<Q", AT_IGNORE))
            at += 16

    def _syscall_entry(self, tid: int) -> bool:
        """At a filtered call's entry: take the offset off given times; True when its exit needs us."""
        regs = _regs(tid)
        nr = regs[ORIG_RAX]
        if nr in (SYS_UTIMENSAT, SYS_UTIMES, SYS_UTIME, SYS_CLOCK_NANOSLEEP, SYS_FUTEX):
            return self._given_times(tid, nr, regs)
        self.pending[tid] = _Pending(nr)
        return True

    def _given_times(self, tid: int, nr: int, regs: list[int]) -> bool:
        """Times a program gives a call are on the faked clock: make them real for the call."""
        address, offsets = {
            SYS_UTIMENSAT: (regs[RDX], (0, 16)), SYS_UTIMES: (regs[RSI], (0, 16)), SYS_UTIME: (regs[RSI], (0, 8)),
            SYS_CLOCK_NANOSLEEP: (regs[RDX], (0,)), SYS_FUTEX: (regs[R10], (0,))}[nr]
        if not address:
            return False
        original = _read(tid, address, max(offsets) + 16)
        if nr == SYS_UTIMENSAT:  # UTIME_NOW and UTIME_OMIT (in tv_nsec) carry no time
            offsets = tuple(at for at in offsets if struct.unpack_from("<q", original, at + 8)[0]
                            not in (UTIME_NOW, UTIME_OMIT))
            if not offsets:
                return False
        _shift_secs(tid, address, offsets, -self.offset)
        self.pending[tid] = _Pending(nr, address, original)
        return True

    def _syscall_exit(self, tid: int) -> None:
        """At the exit: put given times back, or add the offset to the times returned."""
        pending = self.pending.pop(tid, None)
        if pending is None:
            return
        try:
            if pending.restore is not None:
                _write(tid, pending.address, pending.restore)
                return
            regs = _regs(tid)
            result = ctypes.c_long(regs[RAX]).value
            if result < 0 and result > -4096:
                return
            self._shift_result(tid, pending.nr, regs, result)
        except OSError:  # a bad pointer in the call: the kernel already said EFAULT, or the memory went away
            pass

    def _shift_result(self, tid: int, nr: int, regs: list[int], result: int) -> None:
        if nr == SYS_TIME:
            _ptrace(PTRACE_POKEUSER, tid, 8 * RAX, result + self.offset)
            if regs[RDI]:
                _write(tid, regs[RDI], struct.pack("<q", result + self.offset))
        elif nr in (SYS_CLOCK_GETTIME, SYS_GETTIMEOFDAY):
            address = regs[RSI] if nr == SYS_CLOCK_GETTIME else regs[RDI]
            if address:
                _shift_secs(tid, address, (0,), self.offset)
        elif nr in (SYS_STAT, SYS_FSTAT, SYS_LSTAT):
            _shift_secs(tid, regs[RSI], STAT_TIMES, self.offset)
        elif nr == SYS_NEWFSTATAT:
            _shift_secs(tid, regs[RDX], STAT_TIMES, self.offset)
        elif nr == SYS_STATX:
            _shift_statx(tid, regs[R8], self.offset)  # the struct statx


def _shift_statx(pid: int, address: int, offset: int) -> None:
    """Shift the statx times the kernel filled in (its stx_mask says which)."""
    (mask,) = struct.unpack("<I", _read(pid, address, 4))
    wanted = [at for bit, at in ((0x20, 64), (0x800, 80), (0x80, 96), (0x40, 112)) if mask & bit]  # A, B, C, MTIME
    if wanted:
        _shift_secs(pid, address, tuple(wanted), offset)


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _exit_code(status: int) -> int:
    """The shell's convention: the exit code, or 128 + the signal that killed the command."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1


_UNUSABLE: list[str | None] = []


def unusable() -> str | None:
    """Why the faked clock cannot run here (not x86_64 Linux, or ptrace or seccomp refused, as some
    container profiles do), or None when it can: found once, by running `true` under it."""
    if not SUPPORTED:
        return "the faked clock (tests/fakeclock.py) needs x86_64 Linux"
    if not _UNUSABLE:
        import subprocess
        probe = subprocess.run(command("+0s", ["true"]), capture_output=True, text=True, timeout=60, check=False)
        _UNUSABLE.append(None if probe.returncode == 0 else f"the faked clock cannot run here: {probe.stderr.strip()}")
    return _UNUSABLE[0]


def command(offset: str, argv: list[str]) -> list[str]:
    """The command line that runs ``argv`` with the clock moved by ``offset`` (``+3d``)."""
    return [sys.executable, os.path.abspath(__file__), offset, "--", *argv]


def main(args: list[str]) -> int:
    """``+3d -- CMD ARG...``: run CMD with the clock moved by the offset; its exit status is ours."""
    if len(args) < 3 or args[1] != "--":
        print("usage: fakeclock.py +3d -- CMD [ARG...]", file=sys.stderr)
        return 2
    if not SUPPORTED:
        print("fakeclock: x86_64 Linux only", file=sys.stderr)
        return 2
    status = Supervisor(parse_offset(args[0])).run(args[2:])
    if status > 128 and status - 128 in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT,
                                         signal.SIGKILL, signal.SIGSEGV, signal.SIGABRT, signal.SIGPIPE):
        signal.signal(status - 128, signal.SIG_DFL)  # die the same way, so our caller sees the signal
        os.kill(os.getpid(), status - 128)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
