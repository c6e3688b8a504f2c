"""The one module that runs git. Every other module asks it by name; nothing else spawns git.

Output is read NUL-separated wherever git offers it, and leaked ``GIT_*`` variables (a hook's
``GIT_INDEX_FILE``, say) are stripped so they can never redirect what agitlog writes.
"""
from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from collections.abc import Iterable, Iterator, Mapping, Sequence  # not typing: hooks import this module, typing costs ms

from agitlog.constants import COMMIT_EMAIL, COMMIT_NAME, STATE_DIRNAME, TRAILER_KIND
from agitlog.errors import GitError, NotARepositoryError

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

    def result(self) -> bytes:
        out, err = self._proc.communicate()
        if self._proc.returncode != 0:
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


@dataclass(frozen=True)
class Repo:
    """Where a repository lives: its worktree root, its own git dir and the shared (common) one."""

    root: Path
    git_dir: Path
    common_dir: Path
    index_file: Path

    @property
    def state_dir(self) -> Path:
        return self.common_dir / STATE_DIRNAME


_LOCATE = ("rev-parse", "--is-bare-repository", "--show-toplevel", "--absolute-git-dir", "--git-common-dir",
           "--git-path", "index")


def find_repo(start: Path) -> Repo:
    """The repository containing ``start``; NotARepositoryError if there is none or it is bare."""
    return _repo_from(start, _locate(start, _LOCATE))


def find_repo_and_head(start: Path) -> tuple[Repo, str | None, str | None]:
    """The repository, the commit HEAD points at and the branch name, in one git call when HEAD is born."""
    if not start.is_dir():
        raise NotARepositoryError(f"no such directory: {start}")
    proc = git(start, *_LOCATE, "HEAD", "--symbolic-full-name", "HEAD", check=False)
    lines = proc.decode("utf-8", "surrogateescape").splitlines()
    if len(lines) != 7:  # unborn branch (HEAD names no commit yet), or not a repository at all
        repo = find_repo(start)
        return (repo, *head_state(repo))
    repo = _repo_from(start, lines[:5])
    branch = lines[6].removeprefix("refs/heads/") if lines[6].startswith("refs/heads/") else None
    return repo, lines[5], branch


def _locate(start: Path, args: Sequence[str]) -> list[str]:
    if not start.is_dir():
        raise NotARepositoryError(f"no such directory: {start}")
    try:
        out = git(start, *args)
    except GitError as exc:
        raise NotARepositoryError(
            f"not a git repository: {start}", hint="run `git init` first, or pass --repo PATH",
        ) from exc
    return out.decode("utf-8", "surrogateescape").splitlines()


def _repo_from(start: Path, lines: Sequence[str]) -> Repo:
    if len(lines) < 5 or lines[0] == "true":
        raise NotARepositoryError(f"{start} is a bare repository", hint="run agitlog inside a worktree")
    return Repo(root=Path(lines[1]), git_dir=Path(lines[2]), common_dir=_absolute(start, lines[3]),
                index_file=_absolute(start, lines[4]))


def _absolute(base: Path, text: str) -> Path:
    path = Path(text)
    return path if path.is_absolute() else (base / path).resolve()


def head_state(repo: Repo) -> tuple[str | None, str | None]:
    """(commit HEAD points at or None on an unborn branch, branch name or None when detached)."""
    out = git(repo.root, "symbolic-ref", "-q", "HEAD", check=False).decode("utf-8", "surrogateescape").strip()
    branch = out.removeprefix("refs/heads/") if out else None
    sha = git(repo.root, "rev-parse", "-q", "--verify", "HEAD^{commit}", check=False).decode().strip()
    return (sha or None), branch


def resolve_commit(repo: Repo, spec: str) -> str | None:
    out = git(repo.root, "rev-parse", "-q", "--verify", f"{spec}^{{commit}}", check=False)
    return out.decode().strip() or None


# --- writing objects ------------------------------------------------------------------------------

def _index_env(index_file: Path) -> dict[str, str]:
    return {"GIT_INDEX_FILE": str(index_file)}


_STATUS = ("-c", "core.untrackedCache=true", "-c", "status.relativePaths=false", "status", "--porcelain=v2", "-z",
           "--untracked-files=all", "--no-renames", "--ignore-submodules=dirty")


def status_z(repo: Repo, *, index_file: Path) -> bytes:
    """``git status --porcelain=v2 -z`` of the worktree against a private index (untracked cache on)."""
    return git(repo.root, *_STATUS, env=_index_env(index_file))


def start_status_z(repo: Repo, *, index_file: Path) -> Pending:
    """``status_z``, started in the background."""
    return start(repo.root, *_STATUS, env=_index_env(index_file))


def start_worktree_status(cwd: Path) -> Pending:
    """``status_z`` against the user's own index, read-only (``--no-optional-locks``: git neither
    refreshes nor writes it), started before agitlog knows the repository: step 0 of `agitlog run`
    scans the worktree while Python is still loading. Its output equals that of a private copy of
    the index, which is what the session's snapshots use from then on."""
    return start(cwd, "--no-optional-locks", *_STATUS)


def update_index(repo: Repo, *, index_file: Path, paths: Iterable[str]) -> None:
    """Add, refresh or remove ``paths`` in a private index; one git process for all of them."""
    data = b"".join(os.fsencode(path) + b"\0" for path in paths)
    if data:
        git(repo.root, "update-index", "--add", "--remove", "-z", "--stdin",
            input=data, env=_index_env(index_file))


def ignored_directories(repo: Repo) -> frozenset[str]:
    """Directories git ignores as a whole (no tracked file inside), relative to the root."""
    out = git(repo.root, "ls-files", "-z", "--others", "--ignored", "--exclude-standard", "--directory")
    return frozenset(os.fsdecode(p).rstrip("/") for p in out.split(b"\0") if p.endswith(b"/"))


def write_tree(repo: Repo, *, index_file: Path) -> str:
    return git(repo.root, "write-tree", env=_index_env(index_file)).decode().strip()


def commit_tree(repo: Repo, *, tree: str, parents: Sequence[str], message: str, date: str | None = None) -> str:
    args = ["commit-tree", tree]
    for parent in parents:
        args += ["-p", parent]
    env = {"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date} if date else None
    return git(repo.root, *args, input=message.encode("utf-8"), env=env).decode().strip()


def hash_files(repo: Repo, paths: Sequence[Path]) -> list[str]:
    """Write files as blobs in one git process; their ids in the same order."""
    if not paths:
        return []
    out = git(repo.root, "hash-object", "-w", "--no-filters", "--", *map(str, paths))
    return out.decode().split()


def mktree(repo: Repo, entries: Iterable[tuple[str, str, str, str]]) -> str:
    """A tree from (mode, type, sha, name) entries; names may not contain '/'."""
    lines = b"".join(
        f"{mode} {kind} {sha}\t".encode() + os.fsencode(name) + b"\0" for mode, kind, sha, name in entries
    )
    return git(repo.root, "mktree", "-z", input=lines).decode().strip()


def update_ref(repo: Repo, ref: str, new: str, old: str | None, *, message: str = "agitlog") -> None:
    """Compare-and-swap ``ref`` from ``old`` (None: must not exist yet) to ``new``."""
    git(repo.root, "update-ref", "-m", message, ref, new, old or ZERO_OID)


# --- reading --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RefInfo:
    name: str
    sha: str
    kind: str  # the Agitlog-Kind trailer of the commit it points at ("" when absent)


def iter_refs(repo: Repo, prefix: str) -> list[RefInfo]:
    fmt = f"%(objectname)%00%(refname)%00%(trailers:key={TRAILER_KIND},valueonly,separator=%x2C)%00"
    out = git(repo.root, "for-each-ref", f"--format={fmt}", prefix)
    fields = out.split(b"\0")
    refs = []
    for i in range(0, len(fields) - 2, 3):
        sha = fields[i].strip().decode()
        refs.append(RefInfo(name=fields[i + 1].decode("utf-8", "surrogateescape"), sha=sha,
                            kind=fields[i + 2].decode().strip()))
    return refs


def cat_file(repo: Repo, spec: str) -> bytes | None:
    """The contents of one object (``sha``, ``rev:path``), or None if it does not exist."""
    proc = subprocess.run(["git", "cat-file", "-p", spec], cwd=repo.root, env=_env(None),
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    return proc.stdout if proc.returncode == 0 else None


def cat_files(repo: Repo, specs: Sequence[str]) -> list[bytes | None]:
    """Many objects through one ``git cat-file --batch``; None for each missing one."""
    if not specs:
        return []
    request = b"".join(os.fsencode(spec) + b"\n" for spec in specs)
    out = git(repo.root, "cat-file", "--batch", input=request)
    return list(_parse_batch(out, len(specs)))


def _parse_batch(out: bytes, count: int) -> Iterator[bytes | None]:
    pos = 0
    for _ in range(count):
        end = out.index(b"\n", pos)
        header = out[pos:end].split()
        pos = end + 1
        if len(header) < 3 or header[1] == b"missing" or header[-1] == b"missing":
            yield None
            continue
        size = int(header[2])
        yield out[pos:pos + size]
        pos += size + 1


def diff_tree_numstat(repo: Repo, old: str | None, new: str) -> list[tuple[int | None, int | None, str]]:
    """(added, deleted, path) per file changed between two commits; None counts for binary files."""
    return diff_tree_numstat_many(repo, [(old or EMPTY_TREE, new)])[0]


def diff_tree_numstat_many(repo: Repo, pairs: Sequence[tuple[str, str]]
                           ) -> list[list[tuple[int | None, int | None, str]]]:
    """``diff_tree_numstat`` for many (old, new) pairs through one ``git diff-tree --stdin``."""
    if not pairs:
        return []
    request = "".join(f"{new} {old}\n" for old, new in pairs).encode()
    out = git(repo.root, "diff-tree", "--stdin", "--always", "-r", "--numstat", "-z", "--no-renames", input=request)
    results: list[list[tuple[int | None, int | None, str]]] = []
    for item in out.split(b"\0"):
        parts = item.split(b"\t", 2)
        if len(parts) != 3:
            if item:
                results.append([])  # the header git prints before each pair's files
            continue
        added, deleted, path = parts
        results[-1].append((_count(added), _count(deleted), path.decode("utf-8", "surrogateescape")))
    return results


def _count(text: bytes) -> int | None:
    return None if text == b"-" else int(text)


def tree_of(repo: Repo, commit: str) -> str:
    return git(repo.root, "rev-parse", f"{commit}^{{tree}}").decode().strip()


def add_worktree(repo: Repo, path: Path, commit: str) -> None:
    """A detached worktree of ``commit`` at ``path``; the user's hooks are not run for it."""
    git(repo.root, "-c", "core.hooksPath=/dev/null", "worktree", "add", "--detach", "--quiet", str(path), commit)


def remove_worktree(repo: Repo, path: Path) -> None:
    """Remove a worktree ``add_worktree`` made, and git's record of it."""
    git(repo.root, "worktree", "remove", "--force", str(path), check=False)
    git(repo.root, "worktree", "prune", check=False)


def rev_list(repo: Repo, tip: str, *, stop_at: str | None = None) -> list[str]:
    args = ["rev-list", "--first-parent", tip] + ([f"^{stop_at}"] if stop_at else [])
    return git(repo.root, *args).decode().split()


# --- replay (issue 5) ---

@dataclass(frozen=True)
class TreeEntry:
    """One entry of ``git ls-tree -r``: the path stays bytes, exactly as recorded."""

    mode: str
    kind: str  # blob, commit (a submodule)
    sha: str
    path: bytes


def ls_tree(repo: Repo, commit: str) -> list[TreeEntry]:
    """Every blob and gitlink of a commit's tree, recursively, NUL-separated."""
    out = git(repo.root, "ls-tree", "-r", "-z", "--full-tree", commit)
    entries = []
    for item in out.split(b"\0"):
        if not item:
            continue
        info, path = item.split(b"\t", 1)
        mode, kind, sha = info.decode().split()
        entries.append(TreeEntry(mode=mode, kind=kind, sha=sha, path=path))
    return entries


def empty_tree(repo: Repo) -> str:
    """The id of the empty tree in this repository's hash format (written if missing)."""
    return mktree(repo, [])


def parent_commit(repo: Repo, commit: str) -> str | None:
    """The first parent of ``commit``, or None for a root commit."""
    return resolve_commit(repo, f"{commit}^")


def diff_patch(repo: Repo, old: str, new: str, *, exclude: Sequence[str] = ()) -> bytes:
    """The unified diff between two trees or commits, with renames found and paths unquoted where
    git allows; binary files appear as "Binary files ... differ". ``exclude`` paths are left out."""
    # Only negative pathspecs: git then matches everything else (a positive "." would not, in diff-tree).
    pathspecs = ["--"] + [f":(top,exclude,literal){path}" for path in exclude] if exclude else []
    return git(repo.root, "-c", "core.quotePath=false", "diff-tree", "-r", "-p", "-M", "--no-color",
               "--no-ext-diff", "--no-textconv", "--full-index", old, new, *pathspecs)


@dataclass(frozen=True)
class RawChange:
    """One file of ``git diff-tree --raw -M``: status letter (A, D, M, R, T...) and both paths."""

    status: str
    old_mode: str
    new_mode: str
    old_path: str
    new_path: str
    added: int | None = None     # from --numstat; None for binary files
    deleted: int | None = None


def diff_changes(repo: Repo, old: str, new: str) -> list[RawChange]:
    """Every file changed between two trees with its status, modes and line counts (renames found)."""
    raw = git(repo.root, "diff-tree", "-r", "-z", "-M", "--raw", old, new).split(b"\0")
    counts = _numstat_renames(git(repo.root, "diff-tree", "-r", "-z", "-M", "--numstat", old, new))
    changes = []
    i = 0
    while i < len(raw) - 1:
        info = raw[i].decode().lstrip(":").split()
        if len(info) < 5:
            i += 1
            continue
        status = info[4][0]
        paths = [os.fsdecode(raw[i + 1])] + ([os.fsdecode(raw[i + 2])] if status in "RC" else [])
        i += 1 + len(paths)
        added, deleted = counts.get(paths[-1], (None, None))
        changes.append(RawChange(status=status, old_mode=info[0], new_mode=info[1], old_path=paths[0],
                                 new_path=paths[-1], added=added, deleted=deleted))
    return changes


def _numstat_renames(out: bytes) -> dict[str, tuple[int | None, int | None]]:
    """new path -> (added, deleted) from ``--numstat -z -M`` output (renames take two extra fields)."""
    fields = out.split(b"\0")
    counts = {}
    i = 0
    while i < len(fields):
        parts = fields[i].split(b"\t")
        if len(parts) != 3:
            i += 1
            continue
        if parts[2]:
            path, i = parts[2], i + 1
        else:  # a rename: "added\tdeleted\t" NUL old NUL new
            path, i = fields[i + 2], i + 3
        counts[os.fsdecode(path)] = (_count(parts[0]), _count(parts[1]))
    return counts


def is_worktree_clean(repo: Repo) -> bool:
    """True when the user's worktree and index match HEAD and there are no untracked files."""
    out = git(repo.root, "status", "--porcelain=v1", "-z", "--untracked-files=normal", "--ignore-submodules=none")
    return not out.strip(b"\0")


def checkout_detached(repo: Repo, commit: str) -> None:
    """Move the user's own worktree, index and HEAD to ``commit`` (detached); only for --here."""
    git(repo.root, "checkout", "--quiet", "--detach", commit)


# --- teamwork (issue 6) ---------------------------------------------------------------------------

def checkout_worktree_at(worktree: Path, commit: str) -> None:
    """Check ``commit`` out in a temporary worktree agitlog owns (user hooks are not run)."""
    git(worktree, "-c", "core.hooksPath=/dev/null", "checkout", "--quiet", "--detach", "--force", commit)


def ref_shas(repo: Repo, prefix: str) -> dict[str, str]:
    """refname -> object id for every ref under ``prefix``; parses no objects, so it stays cheap."""
    out = git(repo.root, "for-each-ref", "--format=%(objectname) %(refname)", prefix)
    refs = {}
    for line in out.decode("utf-8", "surrogateescape").splitlines():
        sha, _, name = line.partition(" ")
        refs[name] = sha
    return refs


def list_remotes(repo: Repo) -> list[str]:
    return git(repo.root, "remote").decode("utf-8", "surrogateescape").split()


def push(repo: Repo, remote: str, refspecs: Sequence[str]) -> list[tuple[str, str, str]]:
    """``git push --porcelain`` of exactly ``refspecs``; (flag, "src:dst", summary) per ref."""
    proc = subprocess.run(["git", "push", "--porcelain", "--no-verify", remote, *refspecs], cwd=repo.root,
                          env=_env(None), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    rows = _parse_push(proc.stdout)
    if proc.returncode != 0 and not rows:
        raise GitError(_describe_failure(("push",), proc.stderr), hint=f"check that remote {remote!r} is reachable")
    return rows


def _parse_push(out: bytes) -> list[tuple[str, str, str]]:
    rows = []
    for line in out.decode("utf-8", "surrogateescape").splitlines():
        parts = line.split("\t")
        if len(parts) >= 3 and len(parts[0]) == 1:
            rows.append((parts[0], parts[1], parts[2]))
    return rows


def fetch(repo: Repo, source: str, refspecs: Sequence[str]) -> None:
    """Fetch exactly ``refspecs`` from a remote, URL or bundle file; never tags, never FETCH_HEAD."""
    git(repo.root, "fetch", "--no-tags", "--no-write-fetch-head", "--quiet", source, *refspecs)


def ls_remote(repo: Repo, source: str, prefix: str) -> dict[str, str]:
    out = git(repo.root, "ls-remote", "--refs", source, prefix + "*")
    refs = {}
    for line in out.decode("utf-8", "surrogateescape").splitlines():
        sha, _, name = line.partition("\t")
        refs[name] = sha
    return refs


def config_get_all(repo: Repo, key: str) -> list[str]:
    out = git(repo.root, "config", "--local", "--get-all", key, check=False)
    return out.decode("utf-8", "surrogateescape").splitlines()


def config_get(repo: Repo, key: str) -> str | None:
    """A key's value as git resolves it from every scope, or None."""
    out = git(repo.root, "config", "--get", key, check=False).decode("utf-8", "surrogateescape").strip()
    return out or None


def config_scope(repo: Repo, key: str) -> str | None:
    """Which scope ("local", "global", "system", ...) sets ``key``, or None when unset."""
    out = git(repo.root, "config", "--show-scope", "--get", key, check=False).decode().strip()
    return out.split("\t", 1)[0] if out else None


def config_add(repo: Repo, key: str, value: str) -> None:
    git(repo.root, "config", "--local", "--add", key, value)


def config_set(repo: Repo, key: str, value: str) -> None:
    git(repo.root, "config", "--local", key, value)


def config_unset_value(repo: Repo, key: str, value: str) -> None:
    """Remove every ``key`` whose value is exactly ``value``."""
    import re

    git(repo.root, "config", "--local", "--unset-all", key, "^" + re.escape(value) + "$", check=False)


def bundle_create(repo: Repo, path: Path, revs: Sequence[str]) -> None:
    git(repo.root, "bundle", "create", "--quiet", str(path), "--stdin",
        input="".join(rev + "\n" for rev in revs).encode())


def bundle_heads(repo: Repo, path: Path) -> dict[str, str]:
    """refname -> sha of the refs a bundle carries."""
    out = git(repo.root, "bundle", "list-heads", str(path))
    heads = {}
    for line in out.decode("utf-8", "surrogateescape").splitlines():
        sha, _, name = line.partition(" ")
        heads[name] = sha
    return heads


def bundle_verify(repo: Repo, path: Path) -> str | None:
    """None when the repository has everything the bundle needs, else git's complaint."""
    proc = subprocess.run(["git", "bundle", "verify", str(path)], cwd=repo.root, env=_env(None),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if proc.returncode == 0:
        return None
    return proc.stderr.decode("utf-8", "replace").strip() or f"git bundle verify exited {proc.returncode}"


def refs_containing(repo: Repo, commit: str, patterns: Sequence[str]) -> list[str]:
    out = git(repo.root, "for-each-ref", f"--contains={commit}", "--format=%(refname)", *patterns, check=False)
    return out.decode("utf-8", "surrogateescape").split()


def reachable_from(repo: Repo, patterns: Sequence[str], *, exclude: Sequence[str] = ()) -> set[str]:
    """Commits reachable from refs matching ``patterns`` (e.g. --branches) but not from ``exclude``."""
    args = ["rev-list", "--stdin", *patterns]
    request = "".join(f"^{sha}\n" for sha in exclude).encode()
    return set(git(repo.root, *args, input=request).decode().split())


def bisect_run(worktree: Path, *, bad: str, good: str, command: Sequence[str]) -> tuple[int, str]:
    """``git bisect start bad good`` then ``git bisect run command`` inside ``worktree``; (code, output)."""
    git(worktree, "-c", "core.hooksPath=/dev/null", "bisect", "start", bad, good)
    proc = subprocess.run(["git", "-c", "core.hooksPath=/dev/null", "bisect", "run", *command], cwd=worktree,
                          env=_env(None), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return proc.returncode, proc.stdout.decode("utf-8", "replace")


def commit_trailers(repo: Repo, commits: Sequence[str]) -> dict[str, dict[str, list[str]]]:
    """commit -> trailer key -> values, for many commits in one ``git log --no-walk``."""
    if not commits:
        return {}
    fmt = "%H%x00%(trailers:only,unfold)%x00"
    out = git(repo.root, "log", "--no-walk=unsorted", f"--format={fmt}", "--stdin",
              input="".join(c + "\n" for c in commits).encode())
    result: dict[str, dict[str, list[str]]] = {}
    fields = out.decode("utf-8", "surrogateescape").split("\0")
    for i in range(0, len(fields) - 1, 2):
        trailers: dict[str, list[str]] = {}
        for line in fields[i + 1].splitlines():
            key, sep, value = line.partition(":")
            if sep:
                trailers.setdefault(key.strip(), []).append(value.strip())
        result[fields[i].strip()] = trailers
    return result


def diff_text(repo: Repo, old: str | None, new: str, *, max_bytes: int = 200_000) -> str:
    """The patch between two commits as text (from the empty tree when ``old`` is None), cut at ``max_bytes``."""
    text = diff_patch(repo, old or EMPTY_TREE, new).decode("utf-8", "replace")
    return text if len(text) <= max_bytes else text[:max_bytes] + "\n[... diff truncated ...]\n"


def cached_blobs(repo: Repo, *, index_file: Path | None = None) -> list[tuple[str, str]]:
    """(path, blob id) of every file the index adds or modifies against HEAD (what a commit would
    write; an unborn HEAD counts as empty). Inside a commit hook pass git's ``GIT_INDEX_FILE``:
    `commit -a` and `commit PATH` stage into a temporary index."""
    args = ["diff", "--cached", "--raw", "-z", "--no-renames", "--no-ext-diff", "--no-textconv", "--no-abbrev"]
    out = git(repo.root, *args, env=_index_env(index_file) if index_file else None)
    rows = []
    fields = out.split(b"\0")
    for i in range(0, len(fields) - 1, 2):
        meta = fields[i][1:].split()
        if len(meta) >= 5 and meta[4][:1] in (b"A", b"M", b"T") and meta[1] != b"160000":
            rows.append((fields[i + 1].decode("utf-8", "surrogateescape"), meta[3].decode()))
    return rows


def add_trailers(repo: Repo, message_file: Path, trailers: Sequence[str]) -> None:
    args = ["interpret-trailers", "--in-place", "--if-exists", "addIfDifferent"]
    for trailer in trailers:
        args += ["--trailer", trailer]
    git(repo.root, *args, str(message_file))


def blame_porcelain(repo: Repo, path: str, rev: str | None) -> bytes:
    args = ["blame", "--line-porcelain", *([rev] if rev else []), "--", path]
    return git(repo.root, *args)


def delete_refs(repo: Repo, refs: Mapping[str, str]) -> None:
    """Delete many refs in one transaction, each only if it still points where we saw it."""
    if refs:
        request = "".join(f"delete {name} {sha}\n" for name, sha in refs.items())
        git(repo.root, "update-ref", "--stdin", input=request.encode())


def pack_refs(repo: Repo) -> None:
    git(repo.root, "pack-refs", "--all", "--prune")


def hooks_dir(repo: Repo) -> Path:
    """Where git looks for hooks (``core.hooksPath`` when set, else the common git dir's hooks/)."""
    out = git(repo.root, "rev-parse", "--git-path", "hooks").decode("utf-8", "surrogateescape").strip()
    return _absolute(repo.root, out)


def step_blobs(repo: Repo, revs: Sequence[str], *, session_key: str, step_key: str
               ) -> list[tuple[str, str, int, list[tuple[str, str]]]]:
    """(commit, session id, step, [(path, blob) added or modified]) for every commit ``revs`` reach
    along first parents (``^base`` entries stop the walk); one ``git log`` for all sessions."""
    fmt = f"%x01%H%x00%(trailers:key={session_key},valueonly)%x00%(trailers:key={step_key},valueonly)%x00"
    out = git(repo.root, "log", "--stdin", "--first-parent", "--raw", "-z", "--no-renames", "--no-abbrev",
              f"--format={fmt}", input="".join(rev + "\n" for rev in revs).encode())
    rows = []
    for chunk in out.split(b"\x01")[1:]:
        fields = chunk.split(b"\0")
        step_text = fields[2].strip().decode() if len(fields) > 2 else ""
        if not step_text.isdigit():
            continue  # a record commit, or a commit agitlog did not write
        files = []
        for i in range(3, len(fields) - 1):
            meta = fields[i].lstrip(b"\n")
            if meta.startswith(b":"):
                parts = meta[1:].split()
                if len(parts) >= 5 and parts[4][:1] in (b"A", b"M", b"T") and parts[1] != b"160000":
                    files.append((fields[i + 1].decode("utf-8", "surrogateescape"), parts[3].decode()))
        rows.append((fields[0].decode(), fields[1].strip().decode(), int(step_text), files))
    return rows


def push_in_background(repo: Repo, remote: str, refspecs: Sequence[str], *, log_file: Path) -> int:
    """Start ``git push`` detached from the caller (a pre-push hook) and return its pid at once."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(["git", "push", "--porcelain", "--no-verify", remote, *refspecs], cwd=repo.root,
                                env=_env(None), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                start_new_session=True)
    return proc.pid


def object_ids(repo: Repo, specs: Sequence[str]) -> list[str | None]:
    """The object id each ``rev:path`` names (None when missing), through one ``cat-file --batch-check``."""
    if not specs:
        return []
    request = b"".join(os.fsencode(spec) + b"\n" for spec in specs)
    out = git(repo.root, "cat-file", "--batch-check=%(objectname) %(objecttype)", input=request)
    ids: list[str | None] = []
    for line in out.decode("utf-8", "surrogateescape").splitlines():
        parts = line.split()
        ids.append(parts[0] if len(parts) == 2 and parts[1] != "missing" else None)
    return ids


def hash_worktree_file(repo: Repo, path: str) -> str | None:
    """The blob id the file would get if added (filters applied, nothing written)."""
    out = git(repo.root, "hash-object", "--", path, check=False).decode().strip()
    return out or None


def packed_refs_exists(repo: Repo) -> bool:
    return (repo.common_dir / "packed-refs").exists()


def drop_empty_packed_refs(repo: Repo) -> None:
    """Remove a packed-refs file that holds no refs (``git bisect start`` creates one when it clears
    refs/bisect/*). Done under git's own packed-refs.lock, so a concurrent writer is never lost."""
    path = repo.common_dir / "packed-refs"
    lock = repo.common_dir / "packed-refs.lock"
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except OSError:
        return
    try:
        lines = path.read_bytes().splitlines() if path.exists() else []
        if all(line.startswith(b"#") for line in lines) and path.exists():
            path.unlink()
    finally:
        os.close(fd)
        lock.unlink()
