"""The read commands' fast path (cli/fastread.py) reads their options exactly as typer does, from the
same declarations, and keeps typer, click and rich out of the process. Asserted on the arguments
passed and on the modules loaded, never on times (bench/bench_everyday.py measures those)."""
from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer.main
from hypothesis import given, settings
from hypothesis import strategies as st

from agitlog.cli import app as app_module
from agitlog.cli import fastread
from agitlog.cli.read_options import SPEC
from helpers import agitlog, run_python_agent

_REFUSED = object()


@contextlib.contextmanager
def mock_stdout(stream: io.StringIO) -> Any:
    """sys.stdout replaced by ``stream`` (not a terminal), as a pipe would be."""
    saved = sys.stdout
    sys.stdout = stream
    try:
        yield
    finally:
        sys.stdout = saved  # typer refused the line (usage error, --help)


def _typer_params(command: str, args: list[str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """The keyword arguments typer passes the command's function for ``args``, or _REFUSED."""
    original, settings = app_module.COMMANDS[command]
    seen: dict[str, Any] = {}

    @functools.wraps(original)
    def recorder(**kwargs: Any) -> int:
        seen.update(kwargs)
        return 0

    monkeypatch.setitem(app_module.COMMANDS, command, (recorder, settings))
    click_command = typer.main.get_command(app_module.build_app(command))
    try:
        click_command.main(args=[command, *args], prog_name="agitlog", standalone_mode=False)
    except BaseException as exc:  # noqa: BLE001 - click's usage errors, Exit for --help
        if isinstance(exc, KeyboardInterrupt):
            raise
        return _REFUSED
    finally:
        monkeypatch.setitem(app_module.COMMANDS, command, (original, settings))
    return seen if seen else _REFUSED


def test_the_generated_spec_matches_the_typer_declarations() -> None:
    assert fastread.derive_spec() == SPEC, "run `python -m agitlog.cli.fastread` to regenerate cli/read_options.py"


def test_the_fast_path_reads_only_what_typer_declares() -> None:
    for command in fastread.READS:
        original = app_module.COMMANDS[command][0]
        from agitlog.cli.commands import reads

        body = getattr(reads, command)
        import inspect

        assert list(inspect.signature(body).parameters) == list(inspect.signature(original).parameters)


COMMON = {
    "log": [[], ["-n", "20"], ["--limit=5", "--json"], ["--status", "ok", "--status", "failed", "--agent", "a b"],
            ["--since", "7d", "--no-pager", "--repo", "/tmp/x"], ["--", ]],
    "show": [[], ["2026"], ["abc", "--json"], ["-t", "llm", "--type", "tool.call", "--agent", "x", "s1"],
             ["--name", "my run", "--no-pager"], ["--", "-weird"]],
    "replay": [[], ["s", "--at", "3", "--plain"], ["--plain", "--diffs", "--name", "n"], ["--json", "--at=0"]],
    "diff": [[], ["s", "--step", "2"], ["--range", "1..3", "--stat"], ["--name-only", "--json", "--repo", "r"]],
    "state": [[], ["s", "--at", "4"], ["--json"]],
    "blame": [["a.txt"], ["src/x.py", "--rev", "HEAD~1", "--json"]],
    "search": [["needle"], ["-E", "a.*b", "-n", "0", "-C", "2"], ["x", "--type", "llm", "-t", "tool", "--status", "ok"],
               ["x", "--session", "s", "--since", "1d", "--until", "2026-01-01", "--file", "a", "--reindex"],
               ["x", "--agent", "a", "--model", "m", "--tool", "t", "--limit", "5", "--json"]],
}


@pytest.mark.parametrize("command", fastread.READS)
def test_common_lines_are_read_without_typer_and_as_typer_reads_them(command: str,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    for args in COMMON[command]:
        fast = fastread.parse(command, args)
        assert fast is not None, f"{command} {args}: the fast path should read this line"
        assert fast == _typer_params(command, args, monkeypatch), f"{command} {args}"


REFUSED = {
    "log": [["-n", "0"], ["-n", "x"], ["--bogus"], ["--help"], ["-h"], ["stray"], ["--json=1"], ["-n"], ["-n", "-1"]],
    "show": [["a", "b"], ["--at", "1"], ["--help"]],
    "search": [[], ["x", "-n", "-5"], ["x", "-Eh"], ["--limit", "1"]],
    "blame": [[], ["a", "b"]],
}


@pytest.mark.parametrize("command", sorted(REFUSED))
def test_lines_typer_refuses_are_left_to_typer(command: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for args in REFUSED[command]:
        assert fastread.parse(command, args) is None, f"{command} {args}"
        assert _typer_params(command, args, monkeypatch) is _REFUSED, f"{command} {args}"


def _random_line(command: str, rng: random.Random) -> list[str]:
    spec = SPEC[command]
    words = [*spec["options"], *spec["flags"], "--bogus", "-h", "--help", "--", "-", "-x", "-Ep", "-n5", "--json=1"]
    values = ["5", "0", "-1", "x", "", "a b", "--json", "20", "1..2", "/tmp/p", "007", "+3", " 4", "2_0", "-"]
    line: list[str] = []
    for _ in range(rng.randint(0, 6)):
        roll = rng.random()
        if roll < 0.5:
            word = rng.choice(words)
            line.append(word)
            if word in spec["options"] and rng.random() < 0.9:
                line.append(rng.choice(values))
        elif roll < 0.6:
            name = rng.choice([*spec["options"]] or ["--x"])
            line.append(f"{name}={rng.choice(values)}")
        else:
            line.append(rng.choice(["s1", "2026", "a.txt", "needle", *values]))
    return line


@pytest.mark.parametrize("command", fastread.READS)
def test_random_lines_read_the_same_or_go_to_typer(command: str, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(f"fastread-{command}")
    read = 0
    for _ in range(400):
        args = _random_line(command, rng)
        fast = fastread.parse(command, args)
        if fast is None:
            continue
        read += 1
        assert fast == _typer_params(command, args, monkeypatch), f"{command} {args}"
    assert read >= 20, "the generator should reach the fast path often"


HEAVY = ("typer", "click", "rich")


def _loaded_after(args: list[str], *, cwd: Path) -> tuple[list[str], int, str]:
    """Run agitlog's entry point on ``args`` in a fresh interpreter (output to a pipe)."""
    code = ("import sys, json\nfrom agitlog.cli import main\ncode = main(sys.argv[1:])\n"
            f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]), file=sys.stderr)\nsys.exit(code)\n")
    proc = subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, env=dict(os.environ), capture_output=True,
                          text=True, timeout=60)
    return json.loads(proc.stderr.strip().splitlines()[-1]), proc.returncode, proc.stdout


def test_read_commands_start_without_typer_click_or_rich(repo: Path) -> None:
    loaded, code, _ = _loaded_after(["log"], cwd=repo)  # no sessions yet: the message, plain
    assert (loaded, code) == ([], 0)
    agent = """
        import pathlib, agitlog
        with agitlog.decision("write hello", reasoning="asked for it"):
            with agitlog.tool("write_file", path="hello.txt"):
                pathlib.Path("hello.txt").write_text("hi\\tthere\\n")
    """
    assert run_python_agent(repo, agent).returncode == 0
    for args in (["log"], ["log", "-n", "20"], ["show"], ["show", "--json"], ["replay", "--plain"], ["diff"],
                 ["diff", "--stat"], ["state"], ["search", "hello"], ["search", "nothing-like-it"]):
        loaded, code, out = _loaded_after(args, cwd=repo)
        assert loaded == [], f"{args} loaded {loaded}"
        assert code == (1 if args[-1] == "nothing-like-it" else 0), args
        assert out.strip() or args[-1] == "nothing-like-it", f"{args} printed nothing"
    loaded, _, _ = _loaded_after(["log", "--help"], cwd=repo)
    assert "typer" in loaded  # help is typer's own


def test_fast_and_typer_paths_print_the_same(repo: Path) -> None:
    agent = """
        import pathlib, agitlog
        with agitlog.tool("write_file", path="a.txt"):
            pathlib.Path("a.txt").write_text("one\\ttab 漢字\\n")
    """
    assert run_python_agent(repo, agent).returncode == 0
    typer_only = ("import sys\nfrom agitlog.cli import fastread, main\nfastread.dispatch = lambda args: None\n"
                  "sys.exit(main(sys.argv[1:]))\n")
    for args in (["log"], ["show"], ["diff"], ["diff", "--stat"], ["search", "tab"], ["replay", "--plain"],
                 ["state", "--json"], ["log", "--status", "bogus"], ["show", "nosuchsession"]):
        fast = agitlog(*args, cwd=repo, process=True)
        slow = subprocess.run([sys.executable, "-c", typer_only, *args], cwd=repo, capture_output=True, text=True,
                              timeout=60)
        assert (fast.returncode, fast.stdout) == (slow.returncode, slow.stdout), args
        assert fast.stderr == slow.stderr, args


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(), max_size=3), st.sampled_from([" ", "", ", "]), st.sampled_from(["\n", "", "!\n"]))
def test_the_plain_console_writes_what_rich_writes_off_a_terminal(texts: list[str], sep: str, end: str) -> None:
    from agitlog.cli import output

    plain, rich = io.StringIO(), io.StringIO()
    for stream in (plain, rich):
        with mock_stdout(stream):
            made = output.console()
            if stream is rich:
                made = made._make_rich()  # the rich console it stands in for
            made.print(*texts, sep=sep, end=end)
    assert plain.getvalue() == rich.getvalue()


def test_git_functions_loaded_on_first_use_resolve_to_their_modules() -> None:
    import importlib

    from agitlog import git

    for module, names in git._ON_FIRST_USE.items():
        loaded = importlib.import_module(f"agitlog.git.{module}")
        for name in names:
            assert getattr(git, name) is getattr(loaded, name), name
    with pytest.raises(AttributeError):
        git.no_such_function  # noqa: B018
    code = "import sys, agitlog.git\nprint(sorted(m for m in sys.modules if m.startswith('agitlog.git.')))"
    loaded_at_start = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "agitlog.git.diff" not in loaded_at_start and "agitlog.git.worktrees" not in loaded_at_start
