"""`agitlog replay`: the viewer driven headless through a recorded multi-agent session, the --plain
document against a golden file, --json, and untrusted text rendered literally."""
from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any


from helpers import agitlog, agitlog_json, run_python_agent
from replay_agents import MULTI_AGENT

GOLDEN = Path(__file__).parent / "golden"

HOSTILE = r'''
import agitlog
agitlog.log("\x1b[31mred\x1b[0m \x1b]0;title\x07 [bold]not bold[/bold] [link=http://x]y[/link]")
agitlog.state({"note": "[red]literal[/red] \x1b[2J"})
agitlog.decision("\x1b[1mchoice\x1b[0m", reasoning="[i]why[/i]")
'''


def normalize(text: str, repo: Path) -> str:
    """The --plain document with what changes from run to run (ids, hashes, times, paths) masked."""
    text = text.replace(str(repo.parent / "agent.py"), "AGENT").replace(sys.executable, "PYTHON")
    rules = [
        (r"\d{8}-\d{6}-[0-9a-f]{6}", "SESSION"), (r"\b[0-9a-f]{40}\b", "COMMIT"), (r"\b[0-9a-f]{16}\b", "ID"),
        (r"\b[0-9a-f]{12}\b", "SHA"), (r"\d{4}-\d\d-\d\dT[\d:.]+Z", "TIMESTAMP"), (r"\d\d:\d\d:\d\d\.\d{3}", "TIME"),
        (r"\b\d+(\.\d+)?(ms|s)\b", "DUR"), (r"duration_s: [\d.]+", "duration_s: DUR"),
        (r"(host|user): \S+", r"\1: X"), (r'line \d+, in', "line N, in"),
    ]
    for pattern, replacement in rules:
        text = re.sub(pattern, replacement, text)
    return text


def check_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(actual)
    assert actual == path.read_text()


# --- --plain and --json ---------------------------------------------------------------------------

def test_plain_walk_matches_golden(repo: Path) -> None:
    assert run_python_agent(repo, MULTI_AGENT).returncode == 0
    proc = agitlog("replay", "--plain", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    check_golden("replay_multi_agent.txt", normalize(proc.stdout, repo))


def test_plain_walk_with_diffs_from_an_event(repo: Path) -> None:
    assert run_python_agent(repo, MULTI_AGENT).returncode == 0
    proc = agitlog("replay", "--plain", "--diffs", "--at", "10", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    check_golden("replay_multi_agent_diffs_at_10.txt", normalize(proc.stdout, repo))


def test_piped_replay_is_the_plain_walk(repo: Path) -> None:
    assert run_python_agent(repo, MULTI_AGENT).returncode == 0
    sid = agitlog_json("show", cwd=repo)["session"]["id"]
    piped = agitlog("replay", sid[:12], cwd=repo)
    assert piped.returncode == 0 and piped.stdout == agitlog("replay", "--plain", cwd=repo).stdout


def test_replay_json_is_the_events_with_the_steps_they_produced(repo: Path) -> None:
    assert run_python_agent(repo, MULTI_AGENT).returncode == 0
    shown = agitlog_json("show", cwd=repo)
    data = agitlog_json("replay", cwd=repo)
    assert [e["seq"] for e in data["events"]] == [e["seq"] for e in shown["events"]]
    produced = {e["seq"]: e["produced"] for e in data["events"] if "produced" in e}
    assert [p["step"] for p in produced.values()] == [1, 2]
    assert produced[11]["files"] == [{"path": "src/app.py", "added": 1, "deleted": 1}]
    assert data["steps"][2] == shown["session"]["steps"]["last"]
    at = agitlog_json("replay", "--at", "19", cwd=repo)
    assert [e["seq"] for e in at["events"]] == [19, 20, 21]


def test_replay_errors(repo: Path, empty_repo: Path) -> None:
    proc = agitlog("replay", cwd=repo)
    assert proc.returncode == 1 and "no recorded sessions" in proc.stderr
    assert run_python_agent(repo, MULTI_AGENT).returncode == 0
    proc = agitlog("replay", "--at", "500", cwd=repo)
    assert proc.returncode == 2 and "no event 500" in proc.stderr
    proc = agitlog("replay", "nope", "--json", cwd=repo)
    assert proc.returncode == 1 and json.loads(proc.stdout)["error"]["code"] == "session_not_found"


# --- untrusted content ----------------------------------------------------------------------------

def test_escape_sequences_and_markup_render_literally_in_plain(repo: Path) -> None:
    assert run_python_agent(repo, HOSTILE).returncode == 0
    out = agitlog("replay", "--plain", cwd=repo).stdout
    assert "\x1b" not in out and "\x07" not in out
    assert "\\x1b[31mred\\x1b[0m \\x1b]0;title\\x07 [bold]not bold[/bold] [link=http://x]y[/link]" in out
    assert 'state: {"note": "[red]literal[/red] \\u001b[2J"}' in out
    assert "decision: \\x1b[1mchoice\\x1b[0m" in out and "reasoning: [i]why[/i]" in out
    state = agitlog("state", cwd=repo).stdout
    assert "\x1b" not in state and "last decision (#3): \\x1b[1mchoice\\x1b[0m" in state


def test_escape_sequences_and_markup_render_literally_in_the_viewer(repo: Path) -> None:
    assert run_python_agent(repo, HOSTILE).returncode == 0

    async def drive(app: Any) -> tuple[str, str, list[str]]:
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("j")
            await pilot.pause()
            detail = _static_text(app, "#detail")
            table = app.query_one("#timeline")
            cells = [c.plain for c in table.get_row_at(1)]
            await pilot.press("j", "j")
            await pilot.pause()
            return detail, _static_text(app, "#detail"), cells

    detail, decision, cells = asyncio.run(drive(_app(repo)))
    assert "[bold]not bold[/bold]" in detail and "\\x1b[31mred" in detail and "\x1b" not in detail
    assert any("\\x1b[31mred" in c and "[bold]" in c for c in cells)
    assert "reasoning: [i]why[/i]" in decision and "\\x1b[1mchoice" in decision


# --- the viewer -----------------------------------------------------------------------------------

def _app(repo: Path, at: int | None = None) -> Any:
    from agitlog import git
    from agitlog.cli.replay_tui import ReplayApp
    from agitlog.query.timeline import load_replay

    opened = git.find_repo(repo)
    return ReplayApp(opened, load_replay(opened, session=None, at=at))


def _static_text(app: Any, selector: str) -> str:
    """What a pane holds, as plain text (the panes hold rich Text, never markup strings)."""
    from rich.text import Text

    content = app.query_one(selector).content
    assert isinstance(content, Text), type(content)
    return content.plain


def _current(app: Any) -> dict[str, Any]:
    return app.replay.events[app.index]


def test_viewer_steps_jumps_searches_and_shows_diffs(repo: Path) -> None:
    assert run_python_agent(repo, MULTI_AGENT).returncode == 0

    async def drive(app: Any) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        async with app.run_test(size=(80, 24)) as pilot:
            seen["narrow"] = not app.query_one("#main").has_class("wide")
            seen["start"] = _current(app)["seq"]
            await pilot.press("j", "j", "down")
            seen["stepped"] = _current(app)["seq"]
            await pilot.press("k")
            seen["back"] = _current(app)["seq"]
            await pilot.press("d")
            seen["decision"] = _current(app)
            await pilot.press("t")
            seen["tool"] = _current(app)
            await pilot.press("f")
            await pilot.pause()
            seen["change"] = _current(app)
            seen["diff"] = _static_text(app, "#diff")
            await pilot.press("e")
            seen["error"] = _current(app)
            await pilot.press("D")
            seen["prev_decision"] = _current(app)["seq"]
            await pilot.press("slash", *"write_file", "enter")
            seen["search"] = _current(app)
            await pilot.press("n")
            seen["search_next"] = _current(app)
            await pilot.press("N")
            seen["search_prev"] = _current(app)
            await pilot.press("g", "2", "enter")
            await pilot.pause()
            seen["step2"] = _current(app)
            seen["step2_diff"] = _static_text(app, "#diff")
            await pilot.press("number_sign", "3", "enter")
            seen["event3"] = _current(app)
            seen["detail3"] = _static_text(app, "#detail")
            await pilot.press("g", "9", "enter")
            await pilot.pause()
            seen["bad_step"] = _current(app)["seq"]
            seen["status"] = _static_text(app, "#status")
            await pilot.press("question_mark")
            seen["help"] = type(app.screen).__name__
            await pilot.press("escape", "j")
            seen["after_help"] = (type(app.screen).__name__, _current(app)["seq"])
        return seen

    seen = asyncio.run(drive(_app(repo)))
    assert seen["narrow"]
    assert (seen["start"], seen["stepped"], seen["back"]) == (0, 3, 2)
    assert seen["decision"]["type"] == "decision" and seen["decision"]["data"]["decision"] == "patch app.py"
    assert seen["tool"]["type"] == "tool.call" and seen["tool"]["data"]["arguments"] == {"path": "src/app.py"}
    assert seen["change"]["type"] == "tool.result" and seen["change"]["step"] == 1
    assert "modified: src/app.py  +1 -1" in seen["diff"] and "+    return sum(xs) + 1" in seen["diff"]
    assert seen["error"]["type"] == "tool.result" and seen["error"]["data"]["ok"] is False
    assert seen["prev_decision"] == 5
    assert (seen["search"]["seq"], seen["search"]["type"]) == (8, "llm.request")  # its tools name write_file
    assert (seen["search_next"]["seq"], seen["search_next"]["type"]) == (9, "llm.response")
    assert seen["search_prev"]["seq"] == 8
    assert seen["step2"]["step"] == 2 and "added: notes.txt" in seen["step2_diff"]
    assert seen["event3"]["type"] == "llm.request"
    assert "system prompt: You are a careful billing agent." in seen["detail3"]
    assert "message 1 [user]: Fix the off-by-one in total()" in seen["detail3"]
    assert seen["bad_step"] == 3  # an unknown step leaves the selection alone
    assert seen["status"].startswith("#3/21")
    assert seen["help"] == "HelpScreen" and seen["after_help"] == ("Screen", 4)


def test_viewer_opens_at_an_event_toggles_panes_and_shows_state(repo: Path) -> None:
    assert run_python_agent(repo, MULTI_AGENT).returncode == 0

    async def drive(app: Any) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        async with app.run_test(size=(160, 45)) as pilot:
            seen["wide"] = app.query_one("#main").has_class("wide")
            seen["at"] = _current(app)["seq"]
            await pilot.press("s")
            await pilot.pause()
            seen["state_shown"] = app.query_one("#state").display
            seen["state"] = _static_text(app, "#state")
            await pilot.press("v", "i")
            seen["diff_shown"] = app.query_one("#diff").display
            seen["detail_shown"] = app.query_one("#detail").display
            await pilot.press("s")
            seen["panes_shown"] = app.query_one("#panes").display
            await pilot.press("l")
            seen["timeline_shown"] = app.query_one("#timeline").display
        return seen

    seen = asyncio.run(drive(_app(repo, at=12)))
    assert seen["wide"] and seen["at"] == 12
    assert seen["state_shown"]
    assert "  [user] Apply the plan" in seen["state"] and '"attempt": 2' in seen["state"]
    assert "  code (coder, since #7)" in seen["state"]
    assert not seen["diff_shown"] and not seen["detail_shown"]
    assert not seen["panes_shown"] and not seen["timeline_shown"]


def test_viewer_opens_the_step_worktree(repo: Path) -> None:
    assert run_python_agent(repo, MULTI_AGENT).returncode == 0

    async def drive(app: Any) -> Path:
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("f", "o")  # headless: no terminal to hand over, so it says where
            await pilot.pause()
            return app.opened_path

    path = asyncio.run(drive(_app(repo)))
    assert (path / "src" / "app.py").read_text() == "def total(xs):\n    return sum(xs) + 1\n"
    assert not (path / "notes.txt").exists()  # step 1, before the notes
    assert str(path).startswith(str(repo / ".git"))


def test_viewer_starts_in_a_real_terminal(repo: Path) -> None:
    """Through the installed command, in a pseudo-terminal of 80x24: it draws, and q quits."""
    import pty
    import select
    import time

    assert run_python_agent(repo, MULTI_AGENT).returncode == 0
    from helpers import AGITLOG

    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(repo)
        os.environ.update(TERM="xterm-256color", COLUMNS="80", LINES="24")
        os.execv(AGITLOG, [AGITLOG, "replay", "--at", "14"])
    import fcntl
    import struct
    import termios

    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    screen = b""
    deadline = time.monotonic() + 30
    while b"#14/21" not in screen and time.monotonic() < deadline:
        if select.select([fd], [], [], 0.5)[0]:
            try:
                screen += os.read(fd, 65536)
            except OSError:
                break
    os.write(fd, b"q")
    while time.monotonic() < deadline:
        if select.select([fd], [], [], 0.5)[0]:
            try:
                if not os.read(fd, 65536):
                    break
            except OSError:
                break
    _, status = os.waitpid(pid, 0)
    assert b"#14/21" in screen
    assert os.waitstatus_to_exitcode(status) == 0


def test_textual_is_not_imported_on_the_run_path(repo: Path) -> None:
    code = ("import sys, agitlog.cli, agitlog.cli.hotpath, agitlog.capture.runner, agitlog.cli.app, agitlog.cli.render_replay, "
            "agitlog.query.timeline, agitlog.query.diffs, agitlog.query.state, agitlog.query.checkout; "
            "print('textual' in sys.modules, 'unidiff' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_viewer_refuses_to_open_a_crafted_tree(repo: Path) -> None:
    from crafted import craft_session, make_blob, make_tree

    payload = make_blob(repo, b"pwned\n")
    craft_session(repo, make_tree(repo, [("100644", "blob", payload, "..")]))

    notes: list[str] = []

    async def drive(app: Any) -> bool:
        app.notify = lambda message, **_: notes.append(message)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("o")
            await pilot.pause()
            return app.is_running

    assert asyncio.run(drive(_app(repo)))
    assert any("refusing" in note for note in notes)
    checkouts = repo / ".git" / "agitlog" / "checkouts"
    assert not checkouts.exists() or not any(checkouts.rglob("*"))


def test_viewer_search_prompt_takes_letters_and_escape_cancels(repo: Path) -> None:
    assert run_python_agent(repo, MULTI_AGENT).returncode == 0

    async def drive(app: Any) -> tuple[int, bool, int, str]:
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("slash", "q", "e", "f", "escape")  # letters bound to actions go to the prompt
            closed = app.asking is None and not app.query_one("#prompt").has_class("open")
            index = app.index
            await pilot.press("slash", *"SHIP IT", "enter")  # case-insensitive
            return index, closed and app.is_running, app.index, app.query_text

    index, closed, found, text = asyncio.run(drive(_app(repo)))
    assert index == 0 and closed
    assert found == 19 and text == "SHIP IT"


def test_a_crafted_session_with_malformed_events_replays_safely(repo: Path) -> None:
    from crafted import craft_session, make_blob, make_tree

    tree = make_tree(repo, [("100644", "blob", make_blob(repo, b"x\n"), "x.txt")])
    hostile = "\x1b]52;c;cGF5bG9hZA==\x07 [blink]x[/blink] \x9b31m"
    craft_session(repo, tree, name=hostile, events=[
        ["not", "an", "object"],
        {"seq": "7\x1b[2J", "type": "llm.request", "data": "just a string"},
        {"seq": 3, "type": 42, "agent": hostile, "step": hostile, "ts": hostile, "data": {"messages": hostile}},
        {"seq": 4, "type": "decision\x1b[5m", "data": {"decision": hostile, "alternatives": hostile}},
    ])
    for args in (["replay", "--plain"], ["state"], ["diff"], ["replay", "--json"]):
        proc = agitlog(*args, cwd=repo)
        assert proc.returncode == 0, (args, proc.stderr)
        assert "\x1b" not in proc.stdout and "\x07" not in proc.stdout and "\x9b" not in proc.stdout, args
    plain = agitlog("replay", "--plain", cwd=repo).stdout
    assert "malformed stored event" in plain and "[blink]x[/blink]" in plain
    assert json.loads(agitlog("replay", "--json", cwd=repo).stdout)["session"]["name"] == hostile  # data intact

    async def drive(app: Any) -> str:
        async with app.run_test(size=(80, 24)) as pilot:
            for _ in range(4):
                await pilot.press("j")
            await pilot.press("s")
            await pilot.pause()
            return _static_text(app, "#status") + _static_text(app, "#detail") + _static_text(app, "#state")

    shown = asyncio.run(drive(_app(repo)))
    assert "\x1b" not in shown and "\x9b" not in shown and "[blink]x[/blink]" in shown


def test_span_tree_depths_and_jumps_on_synthetic_events() -> None:
    from agitlog.query.timeline import build_replay, jump, span_depths
    from agitlog.store.models import SessionMeta
    from agitlog.store.sessions import Session

    def event(seq: int, kind: str, span: str, parent: str | None, **data: Any) -> dict[str, Any]:
        return {"seq": seq, "type": kind, "agent": "a", "span": span, "parent_span": parent, "step": 0, "data": data}

    root, child, grandchild, loop_a, loop_b = "r" * 16, "c" * 16, "g" * 16, "1" * 16, "2" * 16
    events = [
        event(0, "session.start", root, None), event(1, "span.start", child, root, name="child"),
        event(2, "span.start", grandchild, child, name="grand"), event(3, "error", grandchild, child, error="x"),
        event(4, "tool.result", child, root, tool="t", ok=False), event(5, "log", loop_a, loop_b),
        event(6, "log", loop_b, loop_a), event(7, "decision", root, None, decision="d"),
    ]
    depths = span_depths(events)
    assert (depths[root], depths[child], depths[grandchild]) == (0, 1, 2)
    assert loop_a in depths and loop_b in depths  # a parent cycle ends, it does not hang
    replay = build_replay(Session(id="s", meta=SessionMeta(id="s", status="ok"), ref="r", commit=None), events, steps=[], changes={})
    assert [row.depth for row in replay.rows[:5]] == [0, 1, 2, 2, 1]
    assert replay.rows[3].span_name == "grand"
    assert jump(replay, start=0, target="error") == 3
    assert jump(replay, start=3, target="error") == 4  # a failed tool call counts as an error
    assert jump(replay, start=4, target="error") is None
    assert jump(replay, start=7, target="decision", forward=False) is None
    assert jump(replay, start=0, target="decision") == 7
