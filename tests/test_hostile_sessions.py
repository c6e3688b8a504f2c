"""Sessions from a hostile teammate (issue 10, "Done when").

Hypothesis builds sessions with git plumbing in a teammate's clone: metadata with wrong types,
infinities, huge numbers, unknown formats and terminal escapes in every field; events with the same,
plus broken JSON, deep nesting and undecodable bytes; step trees with odd file names (300
characters, control characters, bidi overrides); trailers that lie; attachments that are not what
they claim; a session that reuses the id of one of ours. We `agitlog fetch` them and run every read
and sharing command on each, in-process (fast) and a few through the installed command, and require:

- no traceback (exit 3) and no hang (a 60 s alarm per command);
- no control byte on stdout or stderr;
- no file written outside a checkout directory, nothing of the user's state changed;
- no command from a session executed (each names one that would create a marker file);
- no local session overwritten.

Trees git's fsck refuses ("..", "", names with "/", ".git") never arrive by fetch; they are written
straight into the local repository too, as a plain `git fetch` without fsck would have let them in,
so checkout's own defences are exercised as well.
"""
from __future__ import annotations

import io
import json
import os
import re
import signal
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import HealthCheck, Phase, given, settings, strategies as st

from crafted import craft_raw_session, literal_tree, make_blob, make_tree
from helpers import agitlog, git, init_repo, run_python_agent, user_state

from agitlog.cli import main

# What must never reach a terminal: C0 (but tab and newline), DEL, C1, bidi overrides and isolates.
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

HOSTILE_TEXT = [
    "\x1b]0;PWNED\x07", "\x1b[2J\x1b[H", "\x1b[31mred\x1b[0m", "\u202eexe.txt", "\x9b31m", "a\rb\x08c",
    "", "x" * 300, "../../../../etc/passwd", "[bold red]markup[/]", "line1\nline2", "\x00nul", "%s%n{0}",
]
HOSTILE_NUMBERS = [float("inf"), float("-inf"), float("nan"), 1e308, -1, 2**63, 2**70, 0, True]
text = st.one_of(st.sampled_from(HOSTILE_TEXT),
                 st.text(alphabet=st.sampled_from("ab\x1b\x07\x9b\u202e\r\n]0;[/"), max_size=12))
scalar = st.one_of(text, st.sampled_from(HOSTILE_NUMBERS), st.just([]), st.just({"x": 1}))
value = st.one_of(scalar, st.lists(scalar, max_size=3))
ts = st.one_of(st.just("2026-01-01T00:00:00.000000Z"), text, st.sampled_from(["9999-99-99T99:99:99Z", "0", 1e20]))


class Hang(BaseException):
    """A command ran past its alarm (BaseException: the CLI boundary must not turn it into exit 3)."""


def _alarm(signum: int, frame: Any) -> None:
    raise Hang()


def run_in_process(*args: str, timeout: int = 60) -> tuple[int, str, str]:
    """`agitlog ARGS` through agitlog.cli.main, with stdout and stderr captured."""
    out, err = io.StringIO(), io.StringIO()
    saved_argv = sys.argv
    sys.argv = ["agitlog", *args]  # bisect reads the command line as typed
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(timeout)
    try:
        with redirect_stdout(out), redirect_stderr(err):
            code = main(list(args))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        sys.argv = saved_argv
    return code, out.getvalue(), err.getvalue()


def check_output(args: tuple[str, ...], code: int, out: str, err: str) -> None:
    where = f"agitlog {' '.join(args)!r}"
    assert code != 3 and "Traceback" not in out + err and "internal error" not in err, f"{where}: {err[-2000:]}"
    for name, stream in (("stdout", out), ("stderr", err)):
        found = CONTROL.search(stream)
        assert found is None, f"{where}: control byte {found.group()!r} on {name}: {stream[max(0, found.start() - 80):found.end() + 80]!r}"


# --- building hostile sessions ---------------------------------------------------------------------

@st.composite
def hostile_specs(draw: st.DrawFn) -> dict[str, Any]:
    """What one hostile session is made of (built into git objects by ``build_session``)."""
    meta: dict[str, Any] = {
        "format": draw(st.sampled_from([1, 1, 99, "1", -1])),
        "name": draw(value), "agent": draw(value), "status": draw(st.one_of(st.sampled_from(["ok", "failed"]), value)),
        "started_at": draw(ts), "ended_at": draw(ts), "duration_s": draw(scalar), "pid": draw(scalar),
        "exit_code": draw(scalar), "cwd": draw(st.one_of(st.just("."), text)), "host": draw(value),
        "user": draw(value), "parent_session": draw(value), "rerun_of": draw(value), "env_names": draw(value),
        "git": {"branch": draw(value)},
        "stats": {key: draw(scalar) for key in ("events", "llm_calls", "tool_calls", "input_tokens", "output_tokens")},
    }
    for key in draw(st.sets(st.sampled_from(sorted(meta)), max_size=4)):
        meta.pop(key, None)
    events = draw(st.lists(hostile_event(), min_size=1, max_size=6))
    return {
        "meta": meta, "events": events,
        "raw_lines": draw(st.lists(st.sampled_from([b"{not json", b"[" * 5000 + b"]" * 5000, b"\xff\xfe\x1b]0;x\x07",
                                                    b'{"v":1}', b"null", b"[]"]), max_size=2)),
        "base": draw(st.sampled_from(["real", "missing", "hostile"])),
        "files": draw(st.lists(st.tuples(st.sampled_from(["ok.txt", "x" * 300, "\x1b[31mred", "\u202eevil.txt",
                                                          "new\nline", "sub"]), text), min_size=1, max_size=3)),
        "steps": draw(st.integers(min_value=1, max_value=3)),
        "trailers": draw(st.sampled_from(["", "Agitlog-Step: \x1b]0;x\x07", "Agitlog-Session: ../../x",
                                          "Agitlog-Kind: record", "Agitlog-Step: 99999999999999999999"])),
        "steps_meta": draw(st.sampled_from(["real", "missing", "hostile"])),
        "attachment": draw(st.sampled_from(["none", "real", "subtree", "odd-name"])),
    }


@st.composite
def hostile_event(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.one_of(st.sampled_from(["decision", "llm.request", "llm.response", "tool.call", "tool.result",
                                           "error", "log", "state", "session.end"]), text))
    data = {key: draw(value) for key in draw(st.sets(st.sampled_from(
        ["decision", "reasoning", "message", "text", "tool", "arguments", "result", "model", "error", "name",
         "path", "body_ref", "status", "messages", "content"]), max_size=5))}
    if draw(st.booleans()):
        data["usage"] = {"input_tokens": draw(scalar), "output_tokens": draw(scalar)}
    if draw(st.booleans()):
        data["messages"] = [{"role": draw(value), "content": draw(value)}]
    event = {"v": draw(st.sampled_from([1, 99, "x"])), "seq": draw(st.one_of(st.integers(-5, 50), scalar)),
             "ts": draw(ts), "type": kind, "agent": draw(value), "step": draw(st.one_of(st.integers(-1, 5), scalar)),
             "commit": draw(st.one_of(text, st.just("f" * 40))), "span": draw(value), "parent_span": draw(value),
             "pid": draw(scalar), "data": draw(st.one_of(st.just(data), scalar))}
    for key in draw(st.sets(st.sampled_from(sorted(event)), max_size=3)):
        event.pop(key, None)
    return event


def _json_line(event: dict[str, Any]) -> bytes:
    return json.dumps(event, allow_nan=True).encode() + b"\n"


def build_session(repo: Path, spec: dict[str, Any], *, session_id: str, marker: Path) -> str:
    """Write ``spec`` as a session in ``repo``; its command would create ``marker``."""
    head = git(repo, "rev-parse", "HEAD").strip()
    trees = []
    for step in range(spec["steps"]):
        entries = [("100644", "blob", make_blob(repo, f"{content}\n{step}\n".encode()), name)
                   for name, content in dict(spec["files"]).items()]
        trees.append(_mktree_z(repo, entries))
    meta = dict(spec["meta"], id=session_id, command=["sh", "-c", f"touch '{marker}'"])
    meta["git"] = dict(meta.get("git", {}), base_commit={"real": head, "missing": "0123456789" * 4,
                                                          "hostile": "\x1b]0;PWNED\x07"}[spec["base"]])
    commits = git(repo, "rev-list", "--all").split()  # any commit: the steps are written below
    meta["steps"] = {"real": {"count": spec["steps"], "first": commits[0], "last": commits[0]},
                     "missing": {}, "hostile": {"count": "\x1b[2J", "first": "\x1b]0;x\x07", "last": 1e308}}[spec["steps_meta"]]
    events = b"".join(_json_line(e) for e in spec["events"]) + b"".join(line + b"\n" for line in spec["raw_lines"])
    attachments = {"none": None,
                   "real": make_tree(repo, [("100644", "blob", make_blob(repo, b"{}"), "a" * 40)]),
                   "subtree": make_tree(repo, [("040000", "tree", make_tree(repo, [
                       ("100644", "blob", make_blob(repo, b"x"), "inner")]), "nested")]),
                   "odd-name": make_tree(repo, [("100644", "blob", make_blob(repo, b"\x1b]0;x\x07"), "\x1b[31m")])}
    step_message = f"agitlog step: crafted \x1b]0;PWNED\x07\n\nAgitlog-Kind: step\n{spec['trailers']}"
    return craft_raw_session(repo, session_id=session_id, meta_toml=tomli_w.dumps(meta).encode(), events=events,
                             step_trees=trees, step_message=step_message, attachments=attachments[spec["attachment"]])


def _mktree_z(repo: Path, entries: list[tuple[str, str, str, str]]) -> str:
    """mktree -z: names may hold newlines."""
    text = "".join(f"{mode} {kind} {sha}\t{name}\0" for mode, kind, sha, name in entries)
    return git(repo, "mktree", "-z", input=text.encode()).strip()


def build_unsafe_tree_session(repo: Path, *, session_id: str, marker: Path) -> str:
    """A session whose step tree has names git's fsck refuses; written straight into ``repo``."""
    blob = make_blob(repo, b"owned\n")
    inner = make_tree(repo, [("100644", "blob", blob, "x")])
    tree = literal_tree(repo, [("100644", b"", blob), ("40000", b"..", inner), ("100644", b"../../escape", blob),
                               ("40000", b".git", inner), ("100644", b"/abs", blob), ("100644", b"ok", blob)])
    meta = {"format": 1, "id": session_id, "command": ["sh", "-c", f"touch '{marker}'"], "status": "ok",
            "started_at": "2026-01-01T00:00:00.000000Z", "cwd": "../..",
            "git": {"base_commit": git(repo, "rev-parse", "HEAD").strip()}}
    return craft_raw_session(repo, session_id=session_id, meta_toml=tomli_w.dumps(meta).encode(),
                             events=b'{"v":1,"seq":0,"type":"session.start","ts":"2026-01-01T00:00:00Z"}\n',
                             step_trees=[tree])


# --- the world: my repository, a shared origin, a teammate's clone --------------------------------

class World:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.origin = root / "origin.git"
        git(root, "init", "-q", "--bare", str(self.origin))
        self.mine = init_repo(root / "mine")
        (self.mine / "app.py").write_text("print('hi')\n")
        git(self.mine, "add", "-A")
        git(self.mine, "commit", "-q", "-m", "initial")
        git(self.mine, "remote", "add", "origin", str(self.origin))
        git(self.mine, "push", "-q", "origin", "main")
        proc = run_python_agent(self.mine, "open('app.py', 'a').write('# agent\\n')\n", "--name", "mine")
        assert proc.returncode == 0, proc.stderr
        self.my_session = git(self.mine, "for-each-ref", "--format=%(refname:lstrip=2)", "refs/agent-sessions/").split()[0]
        self.my_sha = self.session_sha(self.my_session)
        self.teammate = root / "teammate"
        git(root, "clone", "-q", str(self.origin), str(self.teammate))
        git(self.teammate, "remote", "rename", "origin", "upstream")
        git(self.mine, "remote", "add", "teammate", str(self.teammate))
        self.scratch = root / "scratch.git"  # where `push` sends sessions, so origin stays as it was
        git(root, "init", "-q", "--bare", str(self.scratch))
        self.marker = root / "EXECUTED"
        self.outputs = root / "outputs"
        self.outputs.mkdir()

    def session_sha(self, session_id: str) -> str:
        return git(self.mine, "rev-parse", f"refs/agent-sessions/{session_id}").strip()

    def listing(self) -> set[str]:
        """Every path under the root, except inside git directories, agitlog's outputs and the crash dir."""
        seen = set()
        for directory, dirs, files in os.walk(self.root):
            rel = Path(directory).relative_to(self.root)
            if rel.parts[:1] in (("outputs",), ("origin.git",), ("scratch.git",)) or ".git" in rel.parts:
                dirs[:] = []
                continue
            seen.update(str(rel / name) for name in dirs + files)
        return seen


def read_commands(world: World, session: str, n: int) -> list[tuple[str, ...]]:
    repo = ("--repo", str(world.mine))
    out = world.outputs
    return [
        ("show", session, *repo), ("show", session, "--json", *repo),
        ("replay", session, "--plain", "--diffs", *repo), ("replay", session, "--json", *repo),
        ("diff", session, *repo), ("diff", session, "--stat", *repo), ("diff", session, "--json", *repo),
        ("diff", session, "--step", "0", "--name-only", *repo),
        ("checkout", session, str(out / f"export-{n}"), "--step", "0", "--export", *repo),
        ("checkout", session, str(out / f"worktree-{n}"), "--step", "0", *repo),
        ("state", session, *repo), ("state", session, "--json", *repo),
        ("compare", session, world.my_session, *repo),
        ("bisect", session, *repo, "--", sys.executable, "-c", "pass"),
        ("rerun", session, *repo),
        ("bundle", session, "-o", str(out / f"one-{n}.bundle"), "--full", *repo),
        ("push", str(world.scratch), session, *repo),
    ]


def batch_commands(world: World) -> list[tuple[str, ...]]:
    repo = ("--repo", str(world.mine))
    return [
        ("log", *repo), ("log", "--json", "--since", "30d", *repo),
        ("search", "PWNED", *repo), ("search", "a", "--json", "-C", "2", *repo),
        ("blame", str(world.mine / "app.py"), *repo),
        ("gc", "--dry-run", "--older-than", "1d", *repo),
        ("bundle", "-o", str(world.outputs / "all.bundle"), *repo),
    ]


QUICK = ("show", "replay", "checkout")  # for refs that name no session at all


def exercise(world: World, sessions: list[str], *, odd: tuple[str, ...] = ()) -> None:
    """Every command on every hostile session (the read commands only on ``odd`` refs), then the
    promises checked."""
    before_files, before_state = world.listing(), _user_state(world.mine)
    hooks = sorted(p.name for p in (world.mine / ".git" / "hooks").iterdir())
    for args in batch_commands(world):
        check_output(args, *run_in_process(*args))
    for n, session in enumerate([*sessions, *odd]):
        for args in read_commands(world, session, n):
            if session in odd and args[0] not in QUICK:
                continue
            code, out, err = run_in_process(*args)
            check_output(args, code, out, err)
            if args[0] == "rerun":
                assert code != 0, err  # refused (not recorded here), or unrunnable
    assert not world.marker.exists(), "a command recorded in a hostile session was executed"
    assert world.listing() == before_files, sorted(world.listing() ^ before_files)
    assert _user_state(world.mine) == before_state
    assert sorted(p.name for p in (world.mine / ".git" / "hooks").iterdir()) == hooks
    assert world.session_sha(world.my_session) == world.my_sha
    for session in [*sessions, *odd]:
        args = ("rm", session, "--repo", str(world.mine))
        code, out, err = run_in_process(*args)
        check_output(args, code, out, err)
        assert code == 0, err  # a damaged session can always be removed
    assert world.session_sha(world.my_session) == world.my_sha


def _user_state(repo: Path) -> dict[str, str]:
    """helpers.user_state without packed-refs, which holds session refs too (gc packs them)."""
    state = user_state(repo)
    state.pop("packed-refs")
    return state


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


# No shrinking: each example costs seconds of real git; the failure message names the command and
# the bytes, which is what debugging needs. derandomize: the same examples on every CI run.
@settings(max_examples=2, deadline=None, database=None, derandomize=True, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(specs=st.lists(hostile_specs(), min_size=1, max_size=2))
def test_hostile_sessions_from_a_teammate(tmp_path_factory: pytest.TempPathFactory,
                                          specs: list[dict[str, Any]]) -> None:
    world = World(tmp_path_factory.mktemp("world"))  # a fresh world per example
    ids = [f"20260101-00000{i}-{os.urandom(3).hex()}" for i in range(len(specs))]
    for session_id, spec in zip(ids, specs):
        build_session(world.teammate, spec, session_id=session_id, marker=world.marker)
    # the teammate also has a different session under the id of mine, and refs agitlog must not take
    impostor = build_session(world.teammate, specs[0], session_id=world.my_session, marker=world.marker)
    git(world.teammate, "update-ref", "refs/agent-sessions/nested/evil", impostor)
    # and refs that name no record commit: a blob, a tree, a bare step commit, an annotated tag
    odd = {"blob": make_blob(world.teammate, b"not a session\x1b]0;x\x07"), "tree": git(world.teammate, "rev-parse", f"{impostor}^{{tree}}").strip(),
           "step": git(world.teammate, "rev-parse", f"{impostor}^").strip()}
    git(world.teammate, "tag", "-a", "-m", "\x1b]0;PWNED\x07", "odd-tag", impostor)
    odd["tag"] = git(world.teammate, "rev-parse", "odd-tag").strip()
    odd_ids = tuple(f"20260101-00010{n}-{kind[:2]}{n:04d}" for n, kind in enumerate(sorted(odd)))
    for odd_id, kind in zip(odd_ids, sorted(odd)):
        git(world.teammate, "update-ref", f"refs/agent-sessions/{odd_id}", odd[kind])
    code, out, err = run_in_process("fetch", "teammate", "--json", "--repo", str(world.mine))
    check_output(("fetch",), code, out, err)
    result = json.loads(out)
    assert "error" not in result, result
    assert code == 1  # one conflict and one skipped ref: reported, the rest arrived
    assert sorted(result["new"]) == sorted([*ids, *odd_ids])
    assert result["conflicts"] == [{"session": world.my_session,
                                    "kept_as": f"refs/agent-sessions-conflicts/teammate/{world.my_session}"}]
    assert [s["ref"] for s in result["skipped"]] == ["refs/agent-sessions/nested/evil"]
    assert world.session_sha(world.my_session) == world.my_sha
    for args in (("show", ids[0]), ("replay", ids[0], "--plain"), ("log",)):  # real processes, real stdout bytes
        proc = agitlog(*args, cwd=world.mine)
        check_output(args, proc.returncode, proc.stdout, proc.stderr)
    exercise(world, ids, odd=odd_ids)


def test_unsafe_trees_and_paths_written_without_fsck(world: World) -> None:
    """Trees git's fsck refuses, as a plain unchecked `git fetch` would have let them in."""
    ids = [f"20260102-00000{i}-{os.urandom(3).hex()}" for i in range(2)]
    for session_id in ids:
        build_unsafe_tree_session(world.mine, session_id=session_id, marker=world.marker)
    exercise(world, ids)


def test_a_session_with_bad_objects_is_skipped_and_the_rest_arrive(world: World) -> None:
    good = f"20260103-000000-{os.urandom(3).hex()}"
    bad = f"20260103-000001-{os.urandom(3).hex()}"
    build_session(world.teammate, _plain_spec(), session_id=good, marker=world.marker)
    build_unsafe_tree_session(world.teammate, session_id=bad, marker=world.marker)
    proc = agitlog("fetch", "teammate", cwd=world.mine)
    assert proc.returncode == 1
    assert f"skipped refs/agent-sessions/{bad}: git refused it" in proc.stderr
    assert f"fetched 1 new session from teammate: {good}" in proc.stdout
    assert not CONTROL.search(proc.stdout + proc.stderr)
    refs = git(world.mine, "for-each-ref", "--format=%(refname)", "refs/").split()
    assert f"refs/agent-sessions/{good}" in refs and f"refs/agent-sessions/{bad}" not in refs
    assert not any(ref.startswith("refs/agitlog-incoming/") for ref in refs)
    fsck = git(world.mine, "fsck", "--strict", "--no-dangling", check=False)
    assert "error" not in fsck


def test_a_fetch_of_many_sessions_takes_them_in_one_pattern_and_still_skips_bad_ones(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past _NAMED_MAX sessions a fetch asks git for all of them with one refspec pattern (git is slow
    with many named refspecs); when git refuses that, the wanted sessions are fetched by name in
    chunks, so a bad session is still skipped alone, and a nested or unchanged ref never lands."""
    from agitlog.sharing import remotes

    calls: list[list[str]] = []
    fetch_checked = remotes.git.fetch_checked
    monkeypatch.setattr(remotes.git, "fetch_checked", lambda repo, source, specs: calls.append(list(specs))
                        or fetch_checked(repo, source, specs))
    monkeypatch.setattr(remotes, "_NAMED_MAX", 1)
    monkeypatch.setattr(remotes, "_CHUNK", 2)
    good = [f"20260103-00000{n}-{os.urandom(3).hex()}" for n in range(3)]
    for session_id in good:
        build_session(world.teammate, _plain_spec(), session_id=session_id, marker=world.marker)
    assert run_in_process("fetch", "teammate", "--repo", str(world.mine))[0] == 0
    assert calls == [["+refs/agent-sessions/*:refs/agitlog-incoming/%d/*" % os.getpid()]]
    git(world.teammate, "update-ref", "refs/agent-sessions/nested/evil", git(world.teammate, "rev-parse",
                                                                            f"refs/agent-sessions/{good[0]}").strip())
    fresh = init_repo(world.root / "fresh")  # no sessions: they are fetched straight into place
    git(fresh, "remote", "add", "teammate", str(world.teammate))
    calls.clear()
    code, out, _ = run_in_process("fetch", "teammate", "--json", "--repo", str(fresh))
    assert calls == [["refs/agent-sessions/*:refs/agent-sessions/*"]]
    assert code == 1 and sorted(json.loads(out)["new"]) == sorted(good)
    assert [s["ref"] for s in json.loads(out)["skipped"]] == ["refs/agent-sessions/nested/evil"]
    assert sorted(git(fresh, "for-each-ref", "--format=%(refname)", "refs/").split()) == sorted(
        f"refs/agent-sessions/{s}" for s in good)
    bad = f"20260104-000001-{os.urandom(3).hex()}"
    later = [f"20260104-00000{n}-{os.urandom(3).hex()}" for n in (2, 3)]
    build_unsafe_tree_session(world.teammate, session_id=bad, marker=world.marker)
    for session_id in later:
        build_session(world.teammate, _plain_spec(), session_id=session_id, marker=world.marker)
    calls.clear()
    code, out, err = run_in_process("fetch", "teammate", "--json", "--repo", str(world.mine))
    result = json.loads(out)
    assert code == 1
    assert sorted(result["new"]) == sorted(later)
    assert result["unchanged"] == len(good)
    assert sorted(s["ref"] for s in result["skipped"]) == sorted(
        ["refs/agent-sessions/nested/evil", f"refs/agent-sessions/{bad}"])
    assert len(calls[0]) == 1 and calls[0][0].startswith("+refs/agent-sessions/*:") and len(calls) > 2
    refs = git(world.mine, "for-each-ref", "--format=%(refname)", "refs/").split()
    assert f"refs/agent-sessions/{bad}" not in refs and not any(r.startswith("refs/agitlog-incoming/") for r in refs)
    assert all(f"refs/agent-sessions/{s}" in refs for s in good + later)
    assert "error" not in git(world.mine, "fsck", "--strict", "--no-dangling", check=False)
    fresher = init_repo(world.root / "fresher")  # straight in, refused for the bad one: staged, by name
    git(fresher, "remote", "add", "teammate", str(world.teammate))
    calls.clear()
    code, out, _ = run_in_process("fetch", "teammate", "--json", "--repo", str(fresher))
    assert calls[0] == ["refs/agent-sessions/*:refs/agent-sessions/*"] and calls[1][0].endswith(":refs/agitlog-incoming/%d/*" % os.getpid())
    assert code == 1 and sorted(json.loads(out)["new"]) == sorted(good + later)
    assert sorted(s["ref"] for s in json.loads(out)["skipped"]) == sorted(
        ["refs/agent-sessions/nested/evil", f"refs/agent-sessions/{bad}"])
    assert sorted(git(fresher, "for-each-ref", "--format=%(refname)", "refs/").split()) == sorted(
        f"refs/agent-sessions/{s}" for s in good + later)


def test_fetch_keeps_a_different_copy_aside_and_push_never_forces(world: World) -> None:
    """The issue's scenario: a teammate's remote replaces my (pushed) session, and a later push would
    have force-pushed the replacement to origin."""
    assert agitlog("push", "origin", cwd=world.mine).returncode == 0
    build_session(world.teammate, _plain_spec(), session_id=world.my_session, marker=world.marker)
    proc = agitlog("fetch", "teammate", cwd=world.mine)
    assert proc.returncode == 1, proc.stderr
    kept = f"refs/agent-sessions-conflicts/teammate/{world.my_session}"
    assert f"conflict: teammate has a different session {world.my_session}" in proc.stderr and kept in proc.stderr
    assert world.session_sha(world.my_session) == world.my_sha
    assert git(world.mine, "rev-parse", kept).strip() == git(
        world.teammate, "rev-parse", f"refs/agent-sessions/{world.my_session}").strip()
    # again: nothing changes, and the conflict is reported again
    assert agitlog("fetch", "teammate", cwd=world.mine).returncode == 1
    # the teammate pushes its copy to origin: agitlog push from the teammate is rejected, not forced
    git(world.teammate, "remote", "add", "origin", str(world.origin))
    proc = agitlog("push", "origin", cwd=world.teammate)
    assert proc.returncode == 1 and "rejected" in proc.stderr
    origin_sha = git(world.origin, "rev-parse", f"refs/agent-sessions/{world.my_session}").strip()
    assert origin_sha == world.my_sha
    # nor does the pre-push hook, which pushes sessions along with the teammate's own `git push`
    assert agitlog("remote", "setup", "origin", cwd=world.teammate).returncode == 0
    (world.teammate / "theirs.txt").write_text("theirs\n")
    git(world.teammate, "add", "theirs.txt")
    git(world.teammate, "commit", "-q", "-m", "theirs")
    git(world.teammate, "push", "-q", "origin", "HEAD:refs/heads/theirs")
    push_log = world.teammate / ".git" / "agitlog" / "push.log"
    _wait_for(lambda: push_log.exists() and "rejected" in push_log.read_text())  # the hook pushes in the background
    assert git(world.origin, "rev-parse", f"refs/agent-sessions/{world.my_session}").strip() == world.my_sha
    # plain git fetch with the refspec `remote setup` writes cannot replace it either
    assert agitlog("remote", "setup", "teammate", "--no-push", cwd=world.mine).returncode == 0
    git(world.mine, "fetch", "-q", "teammate", check=False)
    assert world.session_sha(world.my_session) == world.my_sha


def test_remote_setup_replaces_a_forced_refspec(world: World) -> None:
    git(world.mine, "config", "--add", "remote.origin.fetch", "+refs/agent-sessions/*:refs/agent-sessions/*")
    proc = agitlog("remote", "setup", "origin", cwd=world.mine)
    assert proc.returncode == 0, proc.stderr
    specs = git(world.mine, "config", "--get-all", "remote.origin.fetch").split()
    assert "+refs/agent-sessions/*:refs/agent-sessions/*" not in specs
    assert "refs/agent-sessions/*:refs/agent-sessions/*" in specs
    assert "let `git fetch` replace local sessions" in proc.stderr


def test_import_of_a_bundle_never_replaces_a_session(world: World) -> None:
    build_session(world.teammate, _plain_spec(), session_id=world.my_session, marker=world.marker)
    bundle = world.root / "theirs.bundle"
    git(world.teammate, "bundle", "create", "-q", str(bundle), f"refs/agent-sessions/{world.my_session}")
    proc = agitlog("import", str(bundle), "--json", cwd=world.mine)
    assert proc.returncode == 1, proc.stderr
    result = json.loads(proc.stdout)
    assert result["new"] == [] and result["conflicts"][0]["session"] == world.my_session
    assert result["conflicts"][0]["kept_as"].startswith("refs/agent-sessions-conflicts/bundle-")
    assert world.session_sha(world.my_session) == world.my_sha


def test_import_checks_a_bundles_objects_and_skips_only_the_bad_session(world: World) -> None:
    """git fetch does not fsck what it reads from a bundle file (before git 2.46): import checks it."""
    good = f"20260105-000000-{os.urandom(3).hex()}"
    bad = f"20260105-000001-{os.urandom(3).hex()}"
    build_session(world.teammate, _plain_spec(), session_id=good, marker=world.marker)
    blob = make_blob(world.teammate, b"owned\n")
    inner = make_tree(world.teammate, [("100644", "blob", blob, "x")])
    tree = literal_tree(world.teammate, [("40000", b"..", inner), ("100644", b"ok", blob)])  # packable, not fsck-clean
    craft_raw_session(world.teammate, session_id=bad, meta_toml=b"format = 1\n", events=b"", step_trees=[tree])
    bundle = world.root / "theirs.bundle"
    git(world.teammate, "bundle", "create", "-q", str(bundle), f"refs/agent-sessions/{good}", f"refs/agent-sessions/{bad}")
    proc = agitlog("import", str(bundle), "--json", cwd=world.mine)
    assert proc.returncode == 1, proc.stderr
    result = json.loads(proc.stdout)
    assert result["new"] == [good]
    assert result["skipped"][0]["ref"] == f"refs/agent-sessions/{bad}" and "hasDotdot" in result["skipped"][0]["reason"]
    assert bad not in git(world.mine, "for-each-ref", "refs/")


def test_commit_hook_is_not_broken_by_a_session_with_a_missing_base(world: World) -> None:
    spec = dict(_plain_spec(), base="missing")
    session = f"20260104-000000-{os.urandom(3).hex()}"
    build_session(world.teammate, spec, session_id=session, marker=world.marker)
    assert agitlog("fetch", "teammate", cwd=world.mine).returncode == 0
    assert agitlog("hooks", "install", cwd=world.mine).returncode == 0
    (world.mine / "app.py").write_text("print('changed')\n")
    git(world.mine, "add", "app.py")
    proc = agitlog("search", "x", cwd=world.mine)
    assert proc.returncode in (0, 1) and "error" not in proc.stderr, proc.stderr
    import subprocess

    commit = subprocess.run(["git", "commit", "-q", "-m", "mine"], cwd=world.mine, capture_output=True, text=True)
    assert commit.returncode == 0 and "skipped" not in commit.stderr, commit.stderr


def _wait_for(condition: Any, timeout: float = 60) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.1)


def _plain_spec() -> dict[str, Any]:
    return {"meta": {"format": 1, "status": "ok", "started_at": "2026-01-01T00:00:00.000000Z"},
            "events": [{"v": 1, "seq": 0, "type": "session.start", "ts": "2026-01-01T00:00:00.000000Z"}],
            "raw_lines": [], "base": "real", "files": [("ok.txt", "theirs")], "steps": 1, "trailers": "",
            "steps_meta": "real", "attachment": "none"}
