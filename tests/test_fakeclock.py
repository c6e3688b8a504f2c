"""tests/fakeclock.py, the faked clock the later-day reruns of real agents use: it must reach static
and dynamic programs, Python, forked and threaded descendants; file times and times given to the
kernel move with the clock, monotonic clocks do not; exit statuses and signals pass through."""
from __future__ import annotations

import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

import fakeclock


@pytest.fixture(autouse=True)
def _usable() -> None:
    if reason := fakeclock.unusable():
        pytest.skip(reason)


DAYS3 = 3 * 86400


def _faked(*argv: str, offset: str = "+3d", **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(fakeclock.command(offset, list(argv)), capture_output=True, text=True, timeout=60,
                          **kwargs)  # type: ignore[call-overload]


def _python(code: str, offset: str = "+3d", **kwargs: object) -> subprocess.CompletedProcess[str]:
    return _faked(sys.executable, "-c", code, offset=offset, **kwargs)


def _between(value: float, before: float, after: float, offset: int) -> bool:
    """``value`` was read, on a clock moved by ``offset``, between the real ``before`` and ``after``."""
    return before + offset - 1 <= value <= after + offset + 1


# A static x86_64 program with no libc: clock_gettime(CLOCK_REALTIME), gettimeofday and time as bare
# system calls, their seconds written to stdout (40 bytes: timespec, timeval, time_t), then exit(0).
#     sub rsp,48; mov eax,228; xor edi,edi; mov rsi,rsp; syscall; mov eax,96; lea rdi,[rsp+16];
#     xor esi,esi; syscall; mov eax,201; xor edi,edi; syscall; mov [rsp+32],rax; mov eax,1; mov edi,1;
#     mov rsi,rsp; mov edx,40; syscall; mov eax,60; xor edi,edi; syscall
RAW_CODE = bytes.fromhex(
    "4883ec30b8e400000031ff4889e60f05b860000000488d7c241031f60f05b8c900000031ff0f054889442420b8010000"
    "00bf010000004889e6ba280000000f05b83c00000031ff0f05")


def _static_elf(path: Path, code: bytes) -> Path:
    """A minimal static ELF executable running ``code``: one header, one loadable segment."""
    base, headers = 0x400000, 64 + 56
    size = headers + len(code)
    ident = b"\x7fELF\x02\x01\x01" + bytes(9)
    elf = struct.pack("<16sHHIQQQIHHHHHH", ident, 2, 62, 1, base + headers, 64, 0, 0, 64, 56, 1, 64, 0, 0)
    elf += struct.pack("<IIQQQQQQ", 1, 5, 0, base, base, size, size, 0x1000)
    path.write_bytes(elf + code)
    path.chmod(0o755)
    return path


def test_offsets_parse() -> None:
    assert [fakeclock.parse_offset(t) for t in ("+3d", "-2h", "+90m", "+45s", "+7")] == [DAYS3, -7200, 5400, 45, 7]
    with pytest.raises(ValueError):
        fakeclock.parse_offset("3d")


def test_a_static_program_making_bare_system_calls(tmp_path: Path) -> None:
    program = _static_elf(tmp_path / "clock", RAW_CODE)
    before = time.time()
    proc = subprocess.run(fakeclock.command("+3d", [str(program)]), capture_output=True, timeout=120)
    after = time.time()
    assert proc.returncode == 0, proc.stderr
    realtime, _, timeofday, _, seconds = struct.unpack("<qqqqq", proc.stdout)
    assert all(_between(t, before, after, DAYS3) for t in (realtime, timeofday, seconds)), (before, proc.stdout)


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc with a static libc to build a static program")
def test_a_static_libc_program_reading_the_clock_through_its_vdso(tmp_path: Path) -> None:
    """A static libc reads the clock through the vDSO the kernel maps; the faked clock hides it."""
    source = tmp_path / "clock.c"
    source.write_text('#include <stdio.h>\n#include <time.h>\n#include <sys/time.h>\nint main(void) {\n'
                      '  struct timespec ts; struct timeval tv; clock_gettime(CLOCK_REALTIME, &ts);\n'
                      '  gettimeofday(&tv, 0); printf("%ld %ld %ld\\n", (long)ts.tv_sec, (long)tv.tv_sec,'
                      ' (long)time(0)); return 0; }\n')
    built = subprocess.run(["gcc", "-static", "-o", str(tmp_path / "clock"), str(source)], capture_output=True)
    if built.returncode != 0:
        pytest.skip("gcc cannot link a static program here (no static libc)")
    before = time.time()
    proc = _faked(str(tmp_path / "clock"), offset="-2h")
    after = time.time()
    assert proc.returncode == 0, proc.stderr
    assert all(_between(int(t), before, after, -7200) for t in proc.stdout.split()), (before, proc.stdout)


def test_a_dynamic_program() -> None:
    before = time.time()
    proc = _faked("date", "+%s")
    after = time.time()
    assert proc.returncode == 0 and _between(int(proc.stdout), before, after, DAYS3), (before, proc.stdout)


CHILD = """
import ctypes, datetime, json, os, threading, time
getauxval = ctypes.CDLL(None).getauxval
getauxval.restype, getauxval.argtypes = ctypes.c_ulong, [ctypes.c_ulong]
seen = {}
thread = threading.Thread(target=lambda: seen.update(thread=time.time()))
thread.start(); thread.join()
pid = os.fork()
if pid == 0:  # a forked grandchild, which runs a program of its own
    os.execvp("date", ["date", "+%s"])
os.waitpid(pid, 0)
print(json.dumps({"time": time.time(), "now": datetime.datetime.now().timestamp(), "monotonic": time.monotonic(),
                  "vdso": getauxval(33), **seen}))
"""


def test_python_its_threads_and_its_forked_children_all_see_the_later_clock() -> None:
    before, monotonic_before = time.time(), time.monotonic()
    proc = _python(CHILD)
    after, monotonic_after = time.time(), time.monotonic()
    assert proc.returncode == 0, proc.stderr
    grandchild, report = proc.stdout.splitlines()
    seen = json.loads(report)
    assert all(_between(seen[k], before, after, DAYS3) for k in ("time", "now", "thread")), (before, seen)
    assert _between(int(grandchild), before, after, DAYS3)
    assert seen["vdso"] == 0  # AT_SYSINFO_EHDR: hidden from the new image, so its clock calls are real ones
    assert monotonic_before <= seen["monotonic"] <= monotonic_after  # CLOCK_MONOTONIC is not moved


def test_file_times_move_with_the_clock_both_ways(tmp_path: Path) -> None:
    """A file written now looks written now (on the later clock); times a program sets are on its clock."""
    written, stamped = tmp_path / "written.txt", tmp_path / "stamped.txt"
    stamped.write_text("")
    code = (f"import json, os, pathlib, time\npathlib.Path({str(written)!r}).write_text('x')\n"
            f"now = time.time(); os.utime({str(stamped)!r}, (now - 3600, now - 3600))\n"
            f"print(json.dumps({{'mtime': os.stat({str(written)!r}).st_mtime, 'ns': os.lstat({str(written)!r}).st_mtime_ns,"
            f" 'stamped': os.stat({str(stamped)!r}).st_mtime, 'now': now}}))")
    before = time.time()
    proc = _python(code)
    after = time.time()
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout)
    assert _between(seen["mtime"], before, after, DAYS3) and _between(seen["ns"] / 1e9, before, after, DAYS3)
    assert _between(written.stat().st_mtime, before, after, 0)  # on disk: the real time
    assert abs(seen["stamped"] - (seen["now"] - 3600)) < 1  # as the program set it, on its clock
    assert _between(stamped.stat().st_mtime + 3600, before, after, 0)  # on disk: real time


def test_statx_times_move_too(tmp_path: Path) -> None:
    """`stat` (coreutils) asks statx; its answer is moved as stat's is."""
    (tmp_path / "f").write_text("")
    before = time.time()
    proc = _faked("stat", "-c", "%Y %Z %X", str(tmp_path / "f"))
    after = time.time()
    assert proc.returncode == 0, proc.stderr
    assert all(_between(int(t), before, after, DAYS3) for t in proc.stdout.split()), (before, proc.stdout)


def test_an_absolute_deadline_on_the_later_clock_comes_when_it_should() -> None:
    """clock_nanosleep to "now + 0.2 s" on the faked realtime clock, and a condition variable's timed
    wait (a futex on an absolute realtime deadline): both return instead of sleeping three days."""
    code = """
import ctypes, time
libc = ctypes.CDLL(None)
class timespec(ctypes.Structure):
    _fields_ = [("sec", ctypes.c_long), ("nsec", ctypes.c_long)]
now = time.time() + 0.2
deadline = timespec(int(now), int((now % 1) * 1e9))
assert libc.clock_nanosleep(0, 1, ctypes.byref(deadline), None) == 0
mutex, cond = ctypes.create_string_buffer(64), ctypes.create_string_buffer(64)
libc.pthread_mutex_init(mutex, None); libc.pthread_cond_init(cond, None); libc.pthread_mutex_lock(mutex)
now = time.time() + 0.2
deadline = timespec(int(now), int((now % 1) * 1e9))
print(libc.pthread_cond_timedwait(cond, mutex, ctypes.byref(deadline)))
"""
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "110"  # ETIMEDOUT, at the deadline


def test_exit_statuses_and_signals_pass_through(tmp_path: Path) -> None:
    assert _faked("sh", "-c", "exit 7").returncode == 7
    assert _faked("sh", "-c", "kill -TERM $$").returncode == -signal.SIGTERM  # killed: the supervisor dies the same way
    assert _faked(str(tmp_path / "no-such-program")).returncode == 127
    handled = _python("import os, signal\nsignal.signal(signal.SIGUSR1, lambda *_: os._exit(3))\n"
                      "os.kill(os.getpid(), signal.SIGUSR1)\nimport time; time.sleep(60)")
    assert handled.returncode == 3  # a signal sent to a traced process reaches its handler


def test_a_signal_to_the_supervisor_reaches_the_command() -> None:
    code = ("import os, signal, sys, time\nsignal.signal(signal.SIGTERM, lambda *_: os._exit(5))\n"
            "print('ready', flush=True)\ntime.sleep(60)")
    proc = subprocess.Popen(fakeclock.command("+3d", [sys.executable, "-c", code]), stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 5
    proc.stdout.close()


def test_the_command_line() -> None:
    usage = subprocess.run([sys.executable, fakeclock.__file__, "+3d", "date"], capture_output=True, text=True)
    assert usage.returncode == 2 and "usage" in usage.stderr
    env = {**os.environ, "TZ": "UTC"}
    proc = subprocess.run([sys.executable, fakeclock.__file__, "-1d", "--", "date", "+%F"], capture_output=True,
                          text=True, env=env, timeout=120)
    assert proc.returncode == 0
    assert proc.stdout.strip() in {time.strftime("%F", time.gmtime(time.time() + d - 86400)) for d in (-5, 5)}
