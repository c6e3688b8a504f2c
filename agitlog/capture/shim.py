"""How a recorded process reaches the agitlog that records it, however agitlog itself was started
(a virtualenv never activated, pipx, `python -m agitlog`, `agitlog.session()` in a program).

`agitlog run` and ``agitlog.session()`` put a private directory that holds only an `agitlog` command
first on the child's PATH and export that command's absolute path as AGITLOG_BIN, so `agitlog emit`
and a nested `agitlog run` in the agent call this very agitlog. Only that one name is added: putting
the virtualenv's bin directory on PATH would also change which `python` and `pip` the agent runs.

The command is a symlink to the console script installed next to this interpreter, or, when there
is none, a two-line shell script running ``<this python> -m agitlog``. It lives under the
repository's state directory, one directory per interpreter, and is written once."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from agitlog.constants import ENV_BIN
from agitlog.private import make_private_dir

TYPE_CHECKING = False  # typing costs `agitlog run` milliseconds to import
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

COMMAND = "agitlog"


def console_script() -> Path | None:
    """The `agitlog` console script installed with this interpreter, if there is one."""
    script = Path(sys.executable).parent / COMMAND
    return script if script.is_file() and os.access(script, os.X_OK) else None


def command_words() -> list[str]:
    """How a user's shell reaches this agitlog, as words to print: `agitlog` when PATH already finds
    this one, else the console script's absolute path, else ``python -m agitlog``."""
    script = console_script()
    if script is None:
        return [sys.executable, "-m", COMMAND]
    found = which(COMMAND)
    if found and _same_file(found, script):
        return [COMMAND]
    return [str(script)]


def which(program: str) -> str | None:
    """``shutil.which(program)`` on POSIX, without importing shutil (it loads bz2 and lzma, on
    `agitlog run`'s path): the first executable file of that name on PATH."""
    for directory in (os.environ.get("PATH") or os.defpath).split(os.pathsep):
        candidate = os.path.join(directory or ".", program)
        if os.access(candidate, os.F_OK | os.X_OK) and not os.path.isdir(candidate):
            return candidate
    return None


def shell_command(*args: str) -> str:
    """``command_words()`` plus ``args``, quoted for a POSIX shell."""
    import shlex  # compiles a regex at import: `agitlog run -q` never needs it

    return shlex.join([*command_words(), *args])


def ensure_shim(state_dir: Path) -> Path | None:
    """The private `agitlog` command for this interpreter under ``state_dir`` (made when missing);
    None when it cannot be written (a read-only repository): the child then keeps its PATH as is."""
    key = _sha1()(os.fsencode(sys.executable)).hexdigest()[:12]
    shim = state_dir / "bin" / key / COMMAND
    script = console_script()
    try:
        if script is not None:
            if not (shim.is_symlink() and os.readlink(shim) == str(script)):
                _replace(shim, lambda tmp: tmp.symlink_to(script))
        else:
            import shlex

            text = f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -m {COMMAND} \"$@\"\n"
            if shim.is_symlink() or not shim.is_file() or shim.read_text() != text:
                _replace(shim, lambda tmp: _write_script(tmp, text))
    except OSError:
        return None
    return shim


def child_env(env: Mapping[str, str], shim: Path | None) -> dict[str, str]:
    """``env`` with the shim's directory first on PATH (once) and AGITLOG_BIN naming it."""
    updated = dict(env)
    if shim is None:
        return updated
    directory = str(shim.parent)
    path = updated.get("PATH", os.defpath)
    if path.split(os.pathsep)[0] != directory:
        updated["PATH"] = directory + os.pathsep + path if path else directory
    updated[ENV_BIN] = str(shim)
    return updated


def _replace(path: Path, make: Callable[[Path], object]) -> None:
    """Create the entry under a temporary name, then rename it over ``path``: concurrent runs never
    see a half-written command."""
    make_private_dir(path.parent)  # under .git/agitlog/: 0700 like everything there
    tmp = path.with_name(f".{COMMAND}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    make(tmp)
    os.replace(tmp, path)


def _write_script(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o700)


def _same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _sha1():  # -> the sha1 constructor
    """CPython's built-in SHA-1 rather than hashlib's, which loads OpenSSL on `agitlog run`'s start-up."""
    try:
        from _sha1 import sha1
    except ImportError:
        from hashlib import sha1
    return sha1
