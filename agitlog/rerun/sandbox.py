"""The sealed place a rerun happens in: a private clone that looks like the original run from inside.

A rerun must never write to the user's worktree or repository, whatever paths the recorded answers
hold (Claude Code's tool calls carry absolute paths: ``/path/to/repo/hello.py``), and the agent
should find what it found the first time: the same directory, branch, history and uncommitted
changes. So:

- the sandbox is a local clone (objects hard-linked, so cheap) under the git dir, with the original
  branch checked out at the original base commit and step 0's files laid over it as *uncommitted*
  changes (not a commit of them), as they were;
- on Linux the agent runs in a private mount namespace in which the sandbox is mounted *at the
  original repository's path*: paths, ``git status`` and ``git log`` read as in the original run,
  and the user's real worktree is out of the agent's reach. Elsewhere (no ``unshare``), the agent
  runs at the sandbox's own path, and the original path is mapped to it in what is served and
  back in what is matched (``PathMap``);
- the rerun records into the sandbox, and its session is fetched into the user's repository at the
  end; the sandbox is then removed.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from agitlog import git
from agitlog.constants import ENV_RERUN_ISOLATION, REF_PREFIX

ISOLATION_NAMESPACE = "mount-namespace"
ISOLATION_NONE = "none"

# Inside the new mount namespace: put the sandbox over the original path, then become the agent.
_ENTER = 'mount --rbind "$1" "$2" && cd "$2/$3" && shift 3 && exec "$@"'


@dataclass(frozen=True)
class Sandbox:
    root: Path              # the sandbox's worktree, as agitlog (outside the namespace) sees it
    original_root: Path     # the user's worktree: where the agent believes it is
    isolation: str

    @property
    def seen_root(self) -> Path:
        """The repository root as the agent sees it."""
        return self.original_root if self.isolation == ISOLATION_NAMESPACE else self.root

    def wrap(self, argv: list[str], *, rel_cwd: str) -> list[str]:
        """The command that starts ``argv`` inside the sandbox's view of the world."""
        if self.isolation != ISOLATION_NAMESPACE:
            return argv
        user = [] if os.geteuid() == 0 else ["--user", "--map-current-user", "--keep-caps"]
        return ["unshare", *user, "--mount", "--propagation", "private", "--", "sh", "-c", _ENTER, "sh",
                str(self.root), str(self.original_root), rel_cwd, *argv]

    def request_substitutions(self) -> tuple[tuple[str, str], ...]:
        """What a request says of the sandbox, as the recording said it (none when the agent sees
        the original path)."""
        if self.seen_root == self.original_root:
            return ()
        return ((str(self.root), str(self.original_root)),)

    def answer_substitutions(self) -> tuple[tuple[bytes, bytes], ...]:
        """Recorded answers' paths into the user's worktree, pointed at the sandbox instead."""
        if self.seen_root == self.original_root:
            return ()
        return ((os.fsencode(self.original_root), os.fsencode(self.root)),)

    def hand_over_session(self, repo: git.Repo, session_id: str) -> None:
        """Bring the session recorded in the sandbox into the user's repository."""
        ref = f"{REF_PREFIX}{session_id}"
        git.fetch(repo, str(self.root), [f"{ref}:{ref}"])

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def make_sandbox(repo: git.Repo, *, base: str | None, branch: str | None, step0: str) -> Sandbox:
    """A private clone of ``repo`` on ``branch`` at ``base`` with step 0's files as uncommitted changes."""
    parent = repo.common_dir / "agitlog" / "rerun"
    parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    root = Path(tempfile.mkdtemp(prefix="sandbox-", dir=parent))
    try:
        git.clone_local(repo, root)
        git.copy_identity(repo, root)
        git.checkout_branch_at(root, branch=branch, commit=base)
        git.restore_worktree_from(root, step0)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    wanted = os.environ.get(ENV_RERUN_ISOLATION, ISOLATION_NAMESPACE) != ISOLATION_NONE
    isolation = ISOLATION_NAMESPACE if wanted and namespaces_available() else ISOLATION_NONE
    return Sandbox(root=root, original_root=repo.root, isolation=isolation)


def namespaces_available() -> bool:
    """Whether this machine lets us start a process in a private mount namespace (Linux, util-linux
    ``unshare``, and either root or unprivileged user namespaces)."""
    if shutil.which("unshare") is None or not Path("/proc/self/ns/mnt").exists():
        return False
    user = [] if os.geteuid() == 0 else ["--user", "--map-current-user"]
    import subprocess

    try:
        return subprocess.run(["unshare", *user, "--mount", "true"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False
