"""How replay, diff, checkout and state look: a linear text document for pipes, rich on a terminal,
JSON on request. Every recorded string goes through ``safe`` and into rich as ``Text``, never as
markup, so escape sequences show escaped and ``[bold]`` shows as typed."""
from __future__ import annotations

import json

from agitlog.cli.output import console, is_tty, plural, print_json, safe, write_lines
from agitlog.cli.render_sessions import meta_lines
from agitlog.datatypes import asdict
from agitlog.query.summaries import event_sections

TYPE_CHECKING = False  # typing costs start-up; only checkers need it
if TYPE_CHECKING:  # each command imports only the query modules it runs (start-up)
    from typing import Any, Iterable, Sequence
    from agitlog.query.checkout import CheckoutResult
    from agitlog.query.diffs import DiffHunk, FileDiff, SessionDiff
    from agitlog.query.prompts import Prompt
    from agitlog.query.state import StateAt
    from agitlog.query.summaries import Section
    from agitlog.query.timeline import Replay, Row


# --- replay --plain / --json ----------------------------------------------------------------------

def replay_document(replay: Replay, *, start: int = 0, diffs: dict[int, SessionDiff] | None = None) -> Iterable[str]:
    """The whole walk as a text document: the session's metadata, then every event with its detail."""
    yield f"agitlog replay {replay.session.id}"
    yield from (safe(line, keep_newlines=False) for line in meta_lines(replay.meta))
    yield ""
    for row in replay.rows[start:]:
        yield from event_block(replay, row)
        if diffs and row.produced_step in diffs:
            yield from (_indent(row.depth) + "    " + line for line in diff_lines(diffs[row.produced_step]))
        yield ""


def event_block(replay: Replay, row: Row, *, indent: bool = True) -> Iterable[str]:
    """One event: a header line, its detail sections, and the step it produced (indented by its
    depth in the span tree unless told not to)."""
    event = replay.events[row.index]
    pad = _indent(row.depth) if indent else ""
    yield pad + row_header(row, ts=str(event.get("ts", "")))
    for section in event_sections(event):
        yield from (pad + "  " + line for line in section_lines(section))
    change = replay.changes.get(row.seq)
    if change:
        files = ", ".join(f"{safe(path, keep_newlines=False)} {_counts(a, d)}" for a, d, path in change.files)
        yield f"{pad}  => step {change.step} ({change.commit[:12]}): {files or 'no file changes'}"


def row_header(row: Row, *, ts: str = "") -> str:
    who = safe(row.agent, keep_newlines=False)
    if row.span_name and row.type not in ("span.start", "span.end"):
        who += f" in {safe(row.span_name, keep_newlines=False)}"
    parts = [f"#{row.seq}", str(row.type), who]
    if ts:
        parts.append(ts[11:23])
    parts.append(f"step {row.step}" if row.step is not None else "no step")
    if row.tokens:
        parts.append(f"{row.tokens[0]}→{row.tokens[1]} tok")
    if row.duration_ms is not None:
        parts.append(duration_text(row.duration_ms))
    return safe("  ".join(parts), keep_newlines=False)


def section_lines(section: Section) -> list[str]:
    body = safe(section.body).splitlines() or [""]
    if len(body) == 1 and section.kind == "text" and len(body[0]) < 80 and "\n" not in section.body:
        return [f"{section.title}: {body[0]}"]
    return [f"{section.title}:"] + [f"  | {line}" for line in body]


def _indent(depth: int) -> str:
    return "  " * depth


def duration_text(ms: float) -> str:
    return f"{ms:.0f}ms" if ms < 1000 else f"{ms / 1000:.1f}s"


def _counts(added: int | None, deleted: int | None) -> str:
    return "(binary)" if added is None else f"+{added} -{deleted}"


def render_replay_json(replay: Replay, *, start: int = 0) -> None:
    events = []
    for row in replay.rows[start:]:
        event = dict(replay.events[row.index])
        change = replay.changes.get(row.seq)
        if change:
            event["produced"] = {"step": change.step, "commit": change.commit,
                                 "files": [{"path": p, "added": a, "deleted": d} for a, d, p in change.files]}
        events.append(event)
    print_json({"session": replay.meta.to_dict(), "steps": replay.steps, "events": events})


# --- diff -----------------------------------------------------------------------------------------

def render_diff(result: SessionDiff, *, stat: bool, name_only: bool, json_out: bool) -> None:
    if json_out:
        from agitlog.query.diffs import diff_json

        print_json(diff_json(result))
    elif name_only:
        write_lines(safe(f.path, keep_newlines=False) for f in result.files)
    elif stat:
        write_lines(stat_lines(result))
    elif is_tty():
        _print_rich_diff(result)
    else:
        write_lines(diff_lines(result))


def diff_title(result: SessionDiff) -> str:
    start = "base" if result.from_step is None else f"step {result.from_step}"
    return (f"session {result.session_id}: {start} → step {result.to_step}  "
            f"({result.from_commit[:12]}..{result.to_commit[:12]})")


def stat_lines(result: SessionDiff) -> list[str]:
    width = max((len(safe(f.path, keep_newlines=False)) for f in result.files), default=0)
    lines = [f" {_file_label(f).ljust(width)} | {_file_stat(f)}" for f in result.files]
    lines.append(f" {plural(len(result.files), 'file')} changed, {plural(result.added, 'insertion')}(+), "
                 f"{plural(result.removed, 'deletion')}(-)")  # as git diff --stat says it
    return lines


def _file_label(f: FileDiff) -> str:
    path = safe(f.path, keep_newlines=False)
    return f"{safe(f.old_path, keep_newlines=False)} => {path}" if f.status == "renamed" else path


def _file_stat(f: FileDiff) -> str:
    if f.binary:
        return "binary"
    return f"+{f.added} -{f.removed}" + (" (too large to show)" if f.truncated else "")


def diff_lines(result: SessionDiff) -> Iterable[str]:
    """The diff as plain text: per-file header with stats, hunks with the events that produced them."""
    yield diff_title(result)
    for f in result.files:
        yield from file_diff_lines(f)


def file_diff_lines(f: FileDiff) -> Iterable[str]:
    yield f"--- {f.status}: {_file_label(f)}  {_file_stat(f)}"
    if f.old_mode != f.new_mode and f.status not in ("added", "deleted"):
        yield f"    mode {f.old_mode} → {f.new_mode}"
    if f.binary:
        yield "    binary file: contents not shown"
    elif f.truncated:
        yield f"    diff too large to show (+{f.added} -{f.removed}); see `git diff` between the step commits"
    for hunk in f.hunks:
        yield hunk_header(hunk)
        yield from (f"{line.origin}{safe(line.text)}" for line in hunk.lines)  # tabs kept


def hunk_header(hunk: DiffHunk) -> str:
    section = f" {safe(hunk.section, keep_newlines=False)}" if hunk.section else ""
    return f"{hunk.header}{section}{trace_text(hunk)}"


def trace_text(hunk: DiffHunk) -> str:
    """"   [step 2 by event #14 (decision #12)]": where the hunk came from (query.attribution)."""
    if not hunk.steps:
        return ""
    decisions = hunk.decisions or [None] * len(hunk.steps)
    return "   [" + ", ".join(f"step {s}" + (f" by event #{e}" if e is not None else "")
                             + (f" (decision #{d})" if d is not None and d != e else "")
                             for s, e, d in zip(hunk.steps, hunk.events, decisions)) + "]"


def _print_rich_diff(result: SessionDiff) -> None:
    out = console()
    from rich.text import Text

    out.print(Text(diff_title(result), style="bold"))
    for f in result.files:
        out.print(file_diff_text(f))


def file_diff_text(f: FileDiff, *, theme: str = "ansi_dark"):  # -> rich.text.Text
    """One file's diff as rich Text: header with stats, hunks syntax-highlighted, +/- coloured."""
    from rich.text import Text

    text = Text()
    text.append(f"{f.status}: {_file_label(f)}", style="bold cyan")
    text.append(f"  {_file_stat(f)}\n", style="green" if not f.binary else "yellow")
    if f.binary:
        text.append("  binary file: contents not shown\n", style="dim")
    elif f.truncated:
        text.append(f"  diff too large to show (+{f.added} -{f.removed})\n", style="dim")
    for hunk in f.hunks:
        text.append(hunk_header(hunk) + "\n", style="magenta")
        for line, highlighted in zip(hunk.lines, _highlight(f.path, hunk, theme)):
            style = {"+": "green", "-": "red"}.get(line.origin, "")
            text.append(line.origin, style=style or "dim")
            highlighted.stylize({"+": "on #002800", "-": "on #3f0001"}.get(line.origin, ""))
            text.append_text(highlighted)
            text.append("\n")
    return text


def _highlight(path: str, hunk: DiffHunk, theme: str) -> list:
    """Each line of the hunk highlighted in the language the file name suggests."""
    from rich.syntax import Syntax
    from rich.text import Text

    code = "\n".join(safe(line.text).replace("\n", "\\n") for line in hunk.lines)
    try:
        lexer = Syntax.guess_lexer(path, code=code)
        highlighted = Syntax(code, lexer, theme=theme).highlight(code)
        lines = highlighted.split("\n", allow_blank=True)
    except Exception:  # noqa: BLE001 - highlighting is a nicety; plain text is always right
        lines = [Text(safe(line.text).replace("\n", "\\n")) for line in hunk.lines]
    lines = list(lines)[: len(hunk.lines)]
    return lines + [Text("")] * (len(hunk.lines) - len(lines))


# --- checkout -------------------------------------------------------------------------------------

def render_checkout(result: CheckoutResult, *, json_out: bool) -> None:
    if json_out:
        print_json({**asdict(result), "path": str(result.path)})
        return
    where = {"worktree": "a git worktree (detached HEAD) at", "export": "a plain copy at",
             "here": "your worktree (detached HEAD) at"}[result.mode]
    lines = [f"step {result.step} of session {result.session_id} ({result.commit[:12]}): "
             f"{plural(result.files, 'file')} in {where} {safe(result.path)}"]
    if result.skipped:
        lines.append(f"skipped {plural(len(result.skipped), 'submodule')}: " + ", ".join(map(safe, result.skipped)))
    if result.mode == "worktree":
        lines.append(f"remove it with `git worktree remove {safe(result.path)}`")
    elif result.mode == "here":
        lines.append("go back with `git switch -`")
    write_lines(lines)


# --- state ----------------------------------------------------------------------------------------

def state_json(state: StateAt) -> dict[str, Any]:
    data = asdict(state)
    data["files"] = [asdict(f) for f in state.files]
    return data


def render_state(state: StateAt, *, json_out: bool) -> None:
    if json_out:
        print_json(state_json(state))
    else:
        write_lines(state_lines(state))


def state_lines(state: StateAt) -> list[str]:
    """What the agent knew at the event, as plain lines (the viewer's state pane shows the same)."""
    commit = f" {state.commit[:12]}" if state.commit else ""
    lines = [f"state at event #{state.seq} of session {state.session_id} "
             f"(agent {safe(state.agent, keep_newlines=False)}, step {state.step}{commit})", ""]
    lines += _conversation_lines(state)
    lines += ["", "state" + ("" if state.state else ": (none recorded)")]
    if state.state:
        lines += ["  " + line for line in safe(json.dumps(state.state, ensure_ascii=False, indent=2, default=str)).splitlines()]
    lines += [""] + _decision_lines(state)
    lines += ["", "open spans" + ("" if state.open_spans else ": none")]
    lines += [f"  {safe(s.name, keep_newlines=False)} ({safe(s.agent, keep_newlines=False)}, since #{s.started_seq})"
              for s in state.open_spans]
    lines += ["", "files changed since step 0" + ("" if state.files else ": none")]
    lines += [f"  {safe(f.path, keep_newlines=False)}  {_counts(f.added, f.deleted)}" for f in state.files]
    return lines


def _conversation_lines(state: StateAt) -> list[str]:
    if state.prompt is None:
        return ["conversation: no prompt sent yet"]
    lines = [f"conversation (as sent in #{state.prompt_seq}{_model(state.prompt)})"]
    lines += prompt_lines(state.prompt)
    if state.response is not None:
        text = state.response.get("text")
        calls = state.response.get("tool_calls")
        answer = text if isinstance(text, str) and text else json.dumps(calls, ensure_ascii=False, default=str)
        lines += _tagged(f"assistant, #{state.response_seq}", answer)
    else:
        lines.append("  (no response yet)")
    return lines


def _model(prompt: Prompt) -> str:
    return f", model {safe(prompt.model, keep_newlines=False)}" if prompt.model else ""


def prompt_lines(prompt: Prompt) -> list[str]:
    lines = []
    if prompt.system:
        lines += _tagged("system", prompt.system)
    for message in prompt.messages:
        lines += _tagged(message.role, message.text)
    if prompt.tools:
        names = [str(t.get("name") or (t.get("function") or {}).get("name") or "?") if isinstance(t, dict) else str(t)
                 for t in prompt.tools]
        lines.append("  tools: " + ", ".join(safe(n, keep_newlines=False) for n in names))
    return lines


def _tagged(tag: str, text: str) -> list[str]:
    body = safe(text).splitlines() or [""]
    return [f"  [{safe(tag, keep_newlines=False)}] {body[0]}"] + [f"    {line}" for line in body[1:]]


def _decision_lines(state: StateAt) -> list[str]:
    if state.decision is None:
        return ["last decision: none yet"]
    lines = [f"last decision (#{state.decision_seq}): {safe(state.decision.get('decision', ''), keep_newlines=False)}"]
    if state.decision.get("reasoning"):
        lines += ["  reasoning: " + line for line in safe(state.decision["reasoning"]).splitlines()[:1]]
        lines += ["    " + line for line in safe(state.decision["reasoning"]).splitlines()[1:]]
    alternatives: Sequence[Any] = state.decision.get("alternatives") or []
    if alternatives:
        lines.append("  alternatives: " + "; ".join(safe(str(a), keep_newlines=False) for a in alternatives))
    return lines
