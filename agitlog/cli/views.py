"""How command results look: rich tables on a terminal, plain aligned text in pipes, JSON on request."""
from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any, Sequence

from agitlog.cli.output import console, is_tty, print_json, safe
from agitlog.query import LogRow, SessionView, StepChange


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def _tokens(row: LogRow) -> str:
    total = row.input_tokens + row.output_tokens
    return f"{total:,}" if total else "-"


def _status(row: LogRow) -> str:
    return row.status if row.exit_code is None else f"{row.status} ({row.exit_code})"


def _when(ts: str) -> str:
    return ts[:19].replace("T", " ") if ts else "-"


LOG_COLUMNS = ("id", "started (UTC)", "duration", "session", "status", "steps", "files", "tokens")


def render_log(rows: Sequence[LogRow], *, json_out: bool) -> None:
    if json_out:
        print_json([{k: v for k, v in asdict(row).items() if k != "meta"} | {"meta": row.meta} for row in rows])
        return
    table = [(r.id, _when(r.started_at), _duration(r.duration_s), safe(r.title, keep_newlines=False), _status(r),
              str(r.steps), str(r.files_changed), _tokens(r)) for r in rows]
    if not rows:
        console(stderr=True).print("no sessions recorded yet - try `agitlog run -- <command>`")
        return
    _print_table(LOG_COLUMNS, table, status_column=4)


def _print_table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, status_column: int | None = None) -> None:
    if is_tty():
        from rich.table import Table
        from rich.text import Text

        table = Table(box=None, header_style="bold", pad_edge=False)
        for header in headers:
            table.add_column(header, overflow="fold")
        for row in rows:
            cells = [Text(cell) for cell in row]
            if status_column is not None:
                cells[status_column].stylize(_status_style(row[status_column]))
            table.add_row(*cells)
        console().print(table)
        return
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip() for cells in [headers, *rows]]
    print("\n".join(lines))


def _status_style(status: str) -> str:
    if status.startswith("ok"):
        return "green"
    if status.startswith("running"):
        return "cyan"
    return "red" if status.startswith(("failed", "crashed", "killed")) else "yellow"


# --- show -----------------------------------------------------------------------------------------

def render_show(view: SessionView, *, json_out: bool) -> None:
    if json_out:
        print_json({"session": view.session.meta, "events": view.events,
                    "steps": {str(seq): {"step": c.step, "commit": c.commit, "files": _files_json(c)}
                              for seq, c in view.step_changes.items()}})
        return
    out = console()
    for line in meta_lines(view.session.meta):
        out.print(line)
    out.print("")
    for event in view.events:
        out.print(event_line(event))
        change = view.step_changes.get(event["seq"])
        if change:
            out.print(step_line(change))


def _files_json(change: StepChange) -> list[dict[str, Any]]:
    return [{"path": path, "added": a, "deleted": d} for a, d, path in change.files]


def meta_lines(meta: dict[str, Any]) -> list[str]:
    git_info = meta.get("git", {})
    stats = meta.get("stats", {})
    steps = meta.get("steps", {})
    status = meta.get("status", "?") + (f" (exit {meta['exit_code']})" if "exit_code" in meta else "")
    lines = [
        f"session   {meta.get('id')}",
        f"name      {safe(meta.get('name') or '-', keep_newlines=False)}",
        f"command   {safe(' '.join(meta.get('command', [])), keep_newlines=False)}",
        f"agent     {safe(meta.get('agent', '-'), keep_newlines=False)}",
        f"status    {status}",
        f"started   {meta.get('started_at', '-')}   duration {_duration(meta.get('duration_s'))}",
        f"repo      base {str(git_info.get('base_commit') or '(unborn)')[:12]}  branch {safe(git_info.get('branch') or '(detached)')}  cwd {safe(meta.get('cwd', '.'))}",
        f"steps     {steps.get('count', '-')}  first {str(steps.get('first', '-'))[:12]}  last {str(steps.get('last', '-'))[:12]}",
    ]
    if stats:
        lines.append(f"events    {stats.get('events', 0)}  llm calls {stats.get('llm_calls', 0)}  tool calls "
                     f"{stats.get('tool_calls', 0)}  decisions {stats.get('decisions', 0)}  errors {stats.get('errors', 0)}")
        lines.append(f"tokens    in {stats.get('input_tokens', 0):,}  out {stats.get('output_tokens', 0):,}"
                     f"   files changed {stats.get('files_changed', 0)} (+{stats.get('insertions', 0)} -{stats.get('deletions', 0)})")
    if meta.get("parent_session"):
        lines.append(f"parent    {meta['parent_session']}")
    return lines


def event_line(event: dict[str, Any]) -> str:
    ts = str(event.get("ts", ""))[11:23]
    agent = safe(event.get("agent", ""), keep_newlines=False)
    step = f"@{event.get('step')}" if event.get("step") is not None else ""
    return f"{event.get('seq', '?'):>5}  {ts}  {step:<4} {agent:<10} {event.get('type', '?'):<14} {summary(event)}"


def step_line(change: StepChange) -> str:
    added = sum(a or 0 for a, _, _ in change.files)
    deleted = sum(d or 0 for _, d, _ in change.files)
    names = ", ".join(safe(p, keep_newlines=False) for _, _, p in change.files[:4])
    more = f" +{len(change.files) - 4} more" if len(change.files) > 4 else ""
    return (f"{'':>5}  -> step {change.step} {change.commit[:12]}: {len(change.files)} file(s) "
            f"+{added} -{deleted}  {names}{more}")


_SUMMARY_KEYS = ("decision", "name", "tool", "message", "text", "error", "prompt", "path", "stream")


def summary(event: dict[str, Any], width: int = 100) -> str:
    """One line saying what the event is about."""
    data = event.get("data") or {}
    text = _summary_text(event.get("type", ""), data) or json.dumps(data, ensure_ascii=False, default=str)
    flat = safe(text, keep_newlines=False)
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _summary_text(kind: str, data: dict[str, Any]) -> str:
    if kind == "session.start":
        return " ".join(data.get("command") or [])
    if kind == "session.end":
        return f"{data.get('status')} exit {data.get('exit_code')}"
    if kind == "tool.call":
        return f"{data.get('tool')}({_compact(data.get('arguments'))})"
    if kind == "tool.result":
        outcome = _compact(data.get("result")) if data.get("ok", True) else f"{data.get('exception')}: {data.get('error')}"
        return f"{data.get('tool')} -> {outcome}"
    if kind == "decision" and data.get("reasoning"):
        return f"{data.get('decision')} — because {data.get('reasoning')}"
    if kind == "llm.response":
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        tokens = f" [{usage.get('input_tokens', 0)}→{usage.get('output_tokens', 0)} tok]" if usage else ""
        return f"{data.get('model') or ''} {_first(data, ('text', 'error')) or _compact(data.get('tool_calls'))}{tokens}"
    if kind == "state":
        return _compact(data.get("state"))
    return _first(data, _SUMMARY_KEYS)


def _compact(value: Any, limit: int = 80) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _first(data: dict[str, Any], keys: Sequence[str]) -> str:
    for key in keys:
        value = data.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def render_recovered(report: Any, *, json_out: bool) -> None:
    if json_out:
        print_json({"recovered": report.recovered, "problems": report.problems})
        return
    for session_id in report.recovered:
        print(f"recovered {session_id} (status crashed)")
    for problem in report.problems:
        console(stderr=True).print(f"agitlog: {safe(problem)}")
    if not report.recovered and not report.problems:
        print("nothing to recover")


def render_demo(result: Any) -> None:
    out = console()
    for line in result.lines:
        out.print(line)
