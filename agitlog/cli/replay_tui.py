"""The full-screen replay viewer (Textual). Imported only when `agitlog replay` opens on a terminal.

A timeline of events on one side (agent/span tree, type, summary, step marker, tokens, duration),
and on the other the selected event's detail, the diff of the step it produced, and the state the
agent had at that point. Side by side on a wide terminal, stacked on a narrow one (80x24 works).
Every recorded string reaches the screen as escaped ``Text``, never as markup.
"""
from __future__ import annotations

import os
import subprocess
from typing import Any

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.screen import ModalScreen
from textual.binding import Binding
from textual.containers import Container, VerticalScroll
from textual.widgets import DataTable, Footer, Input, Static

from agitlog import git
from agitlog.query.checkout import step_workdir
from agitlog.cli.output import safe
from agitlog.cli.render_replay import (
    diff_title, duration_text, event_block, file_diff_text, state_lines,
)
from agitlog.query.diffs import SessionDiff, step_diff
from agitlog.errors import AgitlogError
from agitlog.query.timeline import Replay, Row, index_of_seq, index_of_step, jump, search
from agitlog.query.state import FileChange, StateAt, files_changed, state_at

TYPE_CHECKING = False
if TYPE_CHECKING:
    from agitlog.query.timeline import Jump

WIDE = 140          # columns from which the panes sit side by side
FIXED_COLUMNS = 56  # what the timeline's columns other than the summary take, borders included

_TYPE_STYLES = {"llm.request": "cyan", "llm.response": "bright_cyan", "tool.call": "yellow",
                "tool.result": "yellow", "decision": "bold magenta", "error": "bold red", "state": "green",
                "span.start": "dim", "span.end": "dim", "session.start": "bold", "session.end": "bold"}

HELP = """\
j k  ↓ ↑   next / previous event     Home End  first / last event
d D        next / previous decision  t T       tool call
e E        error                     f F       file change
g          go to step                #         go to event
/          search                    n N       next / previous match
l i v s    show / hide the timeline, detail, diff, state panes
o          open a shell in the step's worktree (exit it to come back)
Tab        focus the panes, then arrows scroll them
q          quit                      ? Esc     close this help"""


class HelpScreen(ModalScreen[None]):
    """The keys, over the viewer; any of Esc, q, ? closes it."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    #help { width: auto; max-width: 98%; height: auto; border: round $accent; padding: 0 1; background: $panel; }
    """
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "close")]

    def compose(self) -> ComposeResult:
        yield Static(Text(HELP), id="help")


class ReplayApp(App[None]):
    """Walk one recorded session."""

    TITLE = "agitlog replay"
    CSS = """
    #main { layout: vertical; height: 1fr; }
    #main.wide { layout: horizontal; }
    #timeline { height: 50%; border: round $primary-darken-2; }
    #main.wide #timeline { height: 1fr; width: 55%; }
    #panes { height: 1fr; border: round $primary-darken-2; }
    #status { height: 1; background: $boost; padding: 0 1; }
    #prompt { display: none; dock: bottom; }
    #prompt.open { display: block; }
    .pane-title { text-style: bold; color: $accent; margin-top: 1; }
    """
    BINDINGS = [
        Binding("q", "quit", "quit"),
        Binding("j", "move(1)", "next", show=False),
        Binding("k", "move(-1)", "prev", show=False),
        Binding("home", "first", show=False),
        Binding("end", "last", show=False),
        Binding("d", "jump('decision', True)", "decision"),
        Binding("D", "jump('decision', False)", show=False),
        Binding("t", "jump('tool', True)", "tool"),
        Binding("T", "jump('tool', False)", show=False),
        Binding("e", "jump('error', True)", "error"),
        Binding("E", "jump('error', False)", show=False),
        Binding("f", "jump('change', True)", "change"),
        Binding("F", "jump('change', False)", show=False),
        Binding("g", "ask('step')", "step"),
        Binding("#", "ask('event')", show=False),
        Binding("slash", "ask('search')", "search"),
        Binding("n", "search_again(True)", show=False),
        Binding("N", "search_again(False)", show=False),
        Binding("l", "toggle('timeline')", show=False),
        Binding("i", "toggle('detail')", show=False),
        Binding("v", "toggle('diff')", "diff"),
        Binding("s", "toggle('state')", "state"),
        Binding("o", "open_worktree", "open"),
        Binding("question_mark", "help", "help"),
    ]

    def __init__(self, repo: git.Repo, replay: Replay) -> None:
        super().__init__()
        self.repo = repo
        self.replay = replay
        self.index = replay.start
        self.query_text = ""
        self.asking: str | None = None
        self.summary_width = 0
        self._diffs: dict[int, SessionDiff] = {}
        self._files: dict[str, list[FileChange]] = {}
        self._producers = {change.step: seq for seq, change in replay.changes.items()}

    # --- layout ---------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(self._title(), id="status")
        with Container(id="main"):
            yield DataTable(id="timeline", cursor_type="row", zebra_stripes=False)
            with VerticalScroll(id="panes"):
                yield Static(id="detail")
                yield Static(id="diff")
                yield Static(id="state")
        yield Input(id="prompt")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#state").display = False
        self._layout(self.size.width)
        self.query_one("#timeline", DataTable).focus()
        self.select(self.index)

    def on_resize(self, event: Any) -> None:
        self._layout(event.size.width)

    def _layout(self, width: int) -> None:
        """Side by side when wide, stacked when narrow; the summary column fills what is left."""
        wide = width >= WIDE
        self.query_one("#main").set_class(wide, "wide")
        summary_width = max(16, (int(width * 0.55) if wide else width) - FIXED_COLUMNS)
        if summary_width != self.summary_width:
            self.summary_width = summary_width
            self._fill_timeline()

    def _fill_timeline(self) -> None:
        table = self.query_one("#timeline", DataTable)
        table.clear(columns=True)
        for label in ("#", "agent", "type", "summary", "tokens", "time"):
            table.add_column(Text(label), key=label)
        table.add_rows([self._cells(row) for row in self.replay.rows])
        if self.replay.rows:
            table.move_cursor(row=self.index, animate=False)

    def _cells(self, row: Row) -> list[Text]:
        tree = "│ " * max(0, row.depth - 1) + ("├ " if row.depth else "")
        summary = safe(row.summary, keep_newlines=False)
        summary = summary if len(summary) <= self.summary_width else summary[: self.summary_width - 1] + "…"
        number = Text(safe(row.seq, keep_newlines=False), style="dim")
        if row.produced_step is not None:  # the step marker: this event produced step N
            number.append(f" ●{row.produced_step}", style="bold green")
        tokens = f"{row.tokens[0]}→{row.tokens[1]}" if row.tokens else ""
        return [number,
                Text(tree + safe(row.agent, keep_newlines=False)),
                Text(safe(row.type, keep_newlines=False), style=_TYPE_STYLES.get(row.type, "")), Text(summary),
                Text(tokens, style="dim"), Text(duration_text(row.duration_ms) if row.duration_ms is not None else "",
                                                style="dim")]

    def _title(self) -> Text:
        meta = self.replay.meta
        name = safe(meta.title, keep_newlines=False)
        where = f"#{self.replay.rows[self.index].seq}/{self.replay.rows[-1].seq}" if self.replay.rows else "no events"
        search_text = f"  /{safe(self.query_text, keep_newlines=False)}" if self.query_text else ""
        return Text(safe(f"{where}  {self.replay.session.id}  {meta.status}{search_text}  {name}  (? keys)",
                                   keep_newlines=False))

    # --- selection ------------------------------------------------------------------------------

    def select(self, index: int) -> None:
        """Make event ``index`` the selected one: move the cursor and refresh the panes."""
        if not self.replay.rows:
            return
        self.index = max(0, min(index, len(self.replay.rows) - 1))
        table = self.query_one("#timeline", DataTable)
        if table.cursor_row != self.index:
            table.move_cursor(row=self.index)
        self._refresh_panes()

    @on(DataTable.RowHighlighted, "#timeline")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.cursor_row != self.index:
            self.index = event.cursor_row
            self._refresh_panes()

    def _refresh_panes(self) -> None:
        row = self.replay.rows[self.index]
        self.query_one("#status", Static).update(self._title())
        self.query_one("#detail", Static).update(self.detail_text(row))
        diff_pane = self.query_one("#diff", Static)
        diff_pane.update(self.diff_text(row))
        if self.query_one("#state").display:
            self.query_one("#state", Static).update(self.state_text(row))
        self.query_one("#panes", VerticalScroll).scroll_home(animate=False)

    def detail_text(self, row: Row) -> Text:
        text = Text("event\n", style="bold")
        text.append(Text(safe("\n".join(event_block(self.replay, row, indent=False))) + "\n"))
        return text

    def diff_text(self, row: Row) -> Text:
        if row.produced_step is None:
            return Text("")
        diff = self.diff_for(row.produced_step)
        text = Text(f"diff: {safe(diff_title(diff), keep_newlines=False)}\n", style="bold")
        for file_diff in diff.files:
            text.append_text(file_diff_text(file_diff))
        return text

    def diff_for(self, step: int) -> SessionDiff:
        if step not in self._diffs:
            self._diffs[step] = step_diff(self.repo, session_id=self.replay.session.id, steps=self.replay.steps,
                                          step_events=self._producers, step=step)
        return self._diffs[step]

    def state_text(self, row: Row) -> Text:
        state: StateAt = state_at(self.replay, at=row.seq)
        if state.commit and self.replay.steps:
            if state.commit not in self._files:  # one git call per step, not per event
                self._files[state.commit] = files_changed(self.repo, base=self.replay.steps[0], commit=state.commit)
            state.files = self._files[state.commit]
        return Text("state\n", style="bold") + Text(safe("\n".join(state_lines(state))) + "\n")

    # --- actions --------------------------------------------------------------------------------

    def action_move(self, delta: int) -> None:
        self.select(self.index + delta)

    def action_first(self) -> None:
        self.select(0)

    def action_last(self) -> None:
        self.select(len(self.replay.rows) - 1)

    def action_jump(self, target: Jump, forward: bool) -> None:
        found = jump(self.replay, start=self.index, target=target, forward=forward)
        if found is None:
            self.notify(f"no {'next' if forward else 'previous'} {target}", timeout=2)
        else:
            self.select(found)

    def action_toggle(self, pane: str) -> None:
        widget = self.query_one(f"#{pane}")
        widget.display = not widget.display
        if pane == "state" and widget.display:
            self._refresh_panes()
        panes = self.query_one("#panes")
        panes.display = any(self.query_one(f"#{name}").display for name in ("detail", "diff", "state"))

    def action_ask(self, what: str) -> None:
        prompt = self.query_one("#prompt", Input)
        self.asking = what
        prompt.placeholder = {"step": "go to step number", "event": "go to event number",
                              "search": "search events (Enter: find, Esc: cancel)"}[what]
        prompt.value = ""
        prompt.add_class("open")
        prompt.focus()

    @on(Input.Submitted, "#prompt")
    def _prompt_submitted(self, event: Input.Submitted) -> None:
        what, value = self.asking, event.value.strip()
        self._close_prompt()
        if what == "search":
            self.query_text = value
            self.action_search_again(True)
        elif value:
            self._go_to(what or "", value)

    def _go_to(self, what: str, value: str) -> None:
        try:
            number = int(value)
            if what == "step":
                self.select(index_of_step(self.replay, number))
            else:
                self.select(index_of_seq(self.replay, number))
        except ValueError:
            self.notify(f"not a number: {safe(value, keep_newlines=False)}", severity="error", markup=False)
        except AgitlogError as error:
            self.notify(safe(error.message), severity="error", markup=False)

    def on_key(self, event: Any) -> None:
        if event.key == "escape" and self.asking is not None:
            self._close_prompt()
            event.stop()

    def _close_prompt(self) -> None:
        self.asking = None
        prompt = self.query_one("#prompt", Input)
        prompt.remove_class("open")
        self.query_one("#timeline", DataTable).focus()

    def action_search_again(self, forward: bool) -> None:
        """Find the next (or previous) event matching the search, wrapping around."""
        if not self.query_text:
            self.action_ask("search")
            return
        found = search(self.replay, query=self.query_text, start=self.index, forward=forward)
        if found is None:
            self.notify(f"no event matches {safe(self.query_text, keep_newlines=False)}", markup=False, timeout=3)
        else:
            self.select(found)

    def action_open_worktree(self) -> None:
        row = self.replay.rows[self.index] if self.replay.rows else None
        step = row.step if row is not None and row.step is not None else 0
        if not self.replay.steps:
            self.notify("this session has no step commits", severity="warning")
            return
        try:
            path = step_workdir(self.repo, session_id=self.replay.session.id, step=step,
                                commit=self.replay.steps[step])
        except AgitlogError as error:  # a crafted tree: refuse, and keep the viewer open
            self.notify(error.message, severity="error", markup=False, timeout=10)
            return
        self.opened_path = path
        shell = os.environ.get("SHELL") or "/bin/sh"
        try:
            with self.suspend():
                print(safe(f"step {step} of {self.replay.session.id} in {path} - exit the shell to go back to the replay"))
                subprocess.run([shell], cwd=path)
        except Exception:  # noqa: BLE001 - no terminal to hand over (headless, web): say where it is
            self.notify(f"step {step} worktree: {path}", markup=False, timeout=10)

    def action_help(self) -> None:
        self.push_screen(HelpScreen())


def run_viewer(repo: git.Repo, replay: Replay) -> int:
    """Open the viewer; returns its exit code when the user quits."""
    app = ReplayApp(repo, replay)
    app.run()
    return app.return_code or 0
