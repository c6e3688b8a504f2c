"""Reading and writing objects: blobs, trees, commits, trailers, history walks."""
from __future__ import annotations

import os
from pathlib import Path
from collections.abc import Iterable, Iterator, Sequence  # not typing: hooks import this module, typing costs ms

from agitlog.datatypes import datatype
from agitlog.git import loose
from agitlog.git.process import git, run_git
from agitlog.git.repo import Repo, resolve_commit


def commit_tree(repo: Repo, *, tree: str, parents: Sequence[str], message: str, date: str | None = None) -> str:
    """A commit by agitlog's identity; written from Python where that is exactly what git writes
    (agitlog.git.loose), else by `git commit-tree`."""
    if date is None and loose.supported(repo.common_dir):
        data = loose.commit_bytes(tree=tree, parents=parents, message=message)
        return loose.write_object(repo.common_dir, "commit", data)
    args = ["commit-tree", tree]
    for parent in parents:
        args += ["-p", parent]
    env = {"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date} if date else None
    return git(repo.root, *args, input=message.encode("utf-8"), env=env).decode().strip()


def hash_files(repo: Repo, paths: Sequence[Path]) -> list[str]:
    """Write files as blobs in one git process; their ids in the same order."""
    if not paths:
        return []
    if loose.supported(repo.common_dir):
        return [loose.write_object(repo.common_dir, "blob", (repo.root / path).read_bytes()) for path in paths]
    out = git(repo.root, "hash-object", "-w", "--no-filters", "--", *map(str, paths))
    return out.decode().split()


def hash_blob(repo: Repo, data: bytes) -> str:
    """Write ``data`` as a blob (no filters: the bytes as given); its id."""
    return git(repo.root, "hash-object", "-w", "--no-filters", "--stdin", input=data).decode().strip()


def rev_before(repo: Repo, rev: str, *, epoch: int) -> str | None:
    """The newest commit reachable from ``rev`` committed at or before ``epoch``, if any."""
    out = git(repo.root, "rev-list", "-1", f"--before={epoch}", rev, "--", check=False)
    return out.decode().strip() or None


def mktree(repo: Repo, entries: Iterable[tuple[str, str, str, str]]) -> str:
    """A tree from (mode, type, sha, name) entries; names may not contain '/'."""
    if loose.supported(repo.common_dir):
        return loose.write_object(repo.common_dir, "tree", loose.tree_bytes(entries))
    lines = b"".join(
        f"{mode} {kind} {sha}\t".encode() + os.fsencode(name) + b"\0" for mode, kind, sha, name in entries
    )
    return git(repo.root, "mktree", "-z", input=lines).decode().strip()


def cat_file(repo: Repo, spec: str) -> bytes | None:
    """The contents of one object (``sha``, ``rev:path``), or None if it does not exist."""
    code, out, _ = run_git(repo.root, ["cat-file", "-p", spec], stderr=False)
    return out if code == 0 else None


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


def tree_of(repo: Repo, commit: str) -> str:
    return git(repo.root, "rev-parse", f"{commit}^{{tree}}").decode().strip()


def rev_list(repo: Repo, tip: str, *, stop_at: str | None = None) -> list[str]:
    args = ["rev-list", "--first-parent", tip] + ([f"^{stop_at}"] if stop_at else [])
    return git(repo.root, *args).decode().split()


def step_chain(repo: Repo, tip: str, *, first: str | None = None, base: str | None = None) -> list[str]:
    """A session's step commits, newest first: ``tip`` and its first parents down to ``first`` (step 0)
    when it is known, else down to (not including) ``base``. [] when git cannot walk it (an object
    is missing, or ``first`` is not on the chain), so a crafted session never breaks a reader."""
    args = ["rev-list", "--first-parent", tip]
    if first:
        args += ["--not", f"{first}^@"]
    elif base:
        args.append(f"^{base}")
    commits = git(repo.root, *args, check=False).decode().split()
    return commits if not first or (commits and commits[-1] == first) else []


@datatype(frozen=True)
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


def ls_trees(repo: Repo, commits: Sequence[str]) -> dict[str, list[TreeEntry]]:
    """``ls_tree`` of many commits in two processes, not one each: their trees from one ``git log``,
    then each tree against the empty tree in one ``git diff-tree --stdin`` (every entry an addition)."""
    if not commits:
        return {}
    out = git(repo.root, "log", "--no-walk=unsorted", "--stdin", "--format=%H %T",
              input="".join(c + "\n" for c in commits).encode())
    tree_of_commit = dict(line.split() for line in out.decode().splitlines() if line)
    trees = list(dict.fromkeys(tree_of_commit.values()))
    empty = empty_tree(repo)
    out = git(repo.root, "diff-tree", "--stdin", "-r", "-z", "--no-abbrev", "--no-renames",
              input="".join(f"{empty} {tree}\n" for tree in trees).encode())
    entries: dict[str, list[TreeEntry]] = {tree: [] for tree in trees}
    fields, current, i = out.split(b"\0"), "", 0
    while i < len(fields):
        field = fields[i]
        if field and not field.startswith(b":"):  # "<empty tree> <tree>\n", then the tree's first entry
            header, _, field = field.partition(b"\n")
            current = header.split()[-1].decode()
        if field.startswith(b":"):  # ":000000 <mode> <zero> <sha> A", then the path
            _, mode, _, sha, _ = field[1:].decode().split()
            kind = "commit" if mode == "160000" else "blob"
            entries[current].append(TreeEntry(mode=mode, kind=kind, sha=sha, path=fields[i + 1]))
            i += 1
        i += 1
    return {commit: entries.get(tree, []) for commit, tree in tree_of_commit.items()}


def empty_tree(repo: Repo) -> str:
    """The id of the empty tree in this repository's hash format (written if missing)."""
    return mktree(repo, [])


def parent_commit(repo: Repo, commit: str) -> str | None:
    """The first parent of ``commit``, or None for a root commit."""
    return resolve_commit(repo, f"{commit}^")


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


def add_trailers(repo: Repo, message_file: Path, trailers: Sequence[str]) -> None:
    args = ["interpret-trailers", "--in-place", "--if-exists", "addIfDifferent"]
    for trailer in trailers:
        args += ["--trailer", trailer]
    git(repo.root, *args, str(message_file))


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


def new_object_ids(repo: Repo, tips: Sequence[str], *, exclude: Sequence[str] = ()) -> set[str]:
    """Every object reachable from ``tips`` but neither from a remote-tracking ref (what the user
    already published) nor from ``exclude``: what a push of ``tips`` could publish for the first time.
    One ``git rev-list --objects`` for all of them."""
    if not tips:
        return set()
    request = "".join(f"{tip}\n" for tip in tips) + "".join(f"^{sha}\n" for sha in exclude)
    # --stdin is read where it stands, before --not: the tips stay positive
    out = git(repo.root, "rev-list", "--objects", "--no-object-names", "--stdin", "--not", "--remotes",
              input=request.encode())
    return set(out.decode().split())


@datatype(frozen=True)
class CommitInfo:
    sha: str
    parents: tuple[str, ...]
    author: str  # names only: enough to tell who (or which tool, "Name (aider)") made it
    committer: str
    committed: int  # committer epoch
    subject: str
    co_authors: tuple[str, ...] = ()  # its Co-authored-by: trailers ("aider (model) <aider@aider.chat>")


def commit_info(repo: Repo, spec: str) -> CommitInfo | None:
    """Who made a commit, when, and its subject; None when ``spec`` (a full or abbreviated id) names no commit."""
    sha = resolve_commit(repo, spec)
    if sha is None:
        return None
    out = git(repo.root, "show", "-s", "--format=%H%x00%P%x00%an%x00%cn%x00%ct%x00%s%x00"
              "%(trailers:key=Co-authored-by,valueonly,separator=%x01)", sha)
    fields = out.decode("utf-8", "replace").rstrip("\n").split("\0")
    return CommitInfo(sha=fields[0], parents=tuple(fields[1].split()), author=fields[2], committer=fields[3],
                      committed=int(fields[4]), subject=fields[5],
                      co_authors=tuple(value.strip() for value in fields[6].split("\x01") if value.strip()))
