"""How command results look: rich tables on a terminal, plain aligned text in pipes, JSON on request."""
from __future__ import annotations

from dataclasses import asdict
from typing import Any, Sequence

from agitlog.cli.output import console, is_tty, print_json, safe
from agitlog.jsondiff import FieldChange, describe_changes
from agitlog.query.summaries import event_summary
from agitlog.query.listing import LogRow, SessionView, StepChange


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


def _cost(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def render_log(rows: Sequence[LogRow], *, json_out: bool) -> None:
    if json_out:
        print_json([{k: v for k, v in asdict(row).items() if k != "meta"} | {"meta": row.meta} for row in rows])
        return
    with_cost = any(r.cost is not None for r in rows)
    table = [(r.id, _when(r.started_at), _duration(r.duration_s), safe(r.title, keep_newlines=False), _status(r),
              str(r.steps), str(r.files_changed), _tokens(r)) + ((_cost(r.cost),) if with_cost else ())
             for r in rows]
    if not rows:
        console(stderr=True).print("no sessions recorded yet - try `agitlog run -- <command>`")
        return
    _print_table(LOG_COLUMNS + (("cost",) if with_cost else ()), table, status_column=4)


def _print_table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, status_column: int | None = None) -> None:
    rows = [[safe(cell, keep_newlines=False) for cell in row] for row in rows]  # cells may come from a teammate
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
        from agitlog.query.listing import session_cost

        print_json({"session": view.session.meta, "cost": session_cost(view.session.meta, view.prices),
                    "events": view.events,
                    "steps": {str(seq): {"step": c.step, "commit": c.commit, "files": _files_json(c)}
                              for seq, c in view.step_changes.items()}})
        return
    out = console()
    for line in meta_lines(view.session.meta) + model_lines(view.session.meta, view.prices):
        out.print(line)
    out.print("")
    for event in view.events:
        out.print(event_line(event))
        change = view.step_changes.get(event["seq"])
        if change:
            out.print(step_line(change))


def model_lines(meta: dict[str, Any], prices: dict[str, dict[str, float]]) -> list[str]:
    """Tokens per model, with cost where the config's [prices] table names the model."""
    from agitlog.query.listing import session_cost

    lines = []
    for model, usage in sorted(meta.get("stats", {}).get("models", {}).items()):
        cost = session_cost({"stats": {"models": {model: usage}}}, prices)
        cost_text = f"  cost {cost:.4f}" if cost is not None else ""
        lines.append(f"model     {safe(model, keep_newlines=False)}: {usage.get('calls', 0)} calls, in "
                     f"{usage.get('input_tokens', 0):,}, out {usage.get('output_tokens', 0):,}{cost_text}")
    return lines


def _files_json(change: StepChange) -> list[dict[str, Any]]:
    return [{"path": path, "added": a, "deleted": d} for a, d, path in change.files]


def meta_lines(meta: dict[str, Any]) -> list[str]:
    git_info = meta.get("git", {})
    stats = meta.get("stats", {})
    steps = meta.get("steps", {})
    status = safe(str(meta.get("status", "?")) + (f" (exit {meta['exit_code']})" if "exit_code" in meta else ""),
                  keep_newlines=False)
    lines = [
        f"session   {safe(meta.get('id'), keep_newlines=False)}",
        f"name      {safe(meta.get('name') or '-', keep_newlines=False)}",
        f"command   {safe(' '.join(meta.get('command', [])), keep_newlines=False)}",
        f"agent     {safe(meta.get('agent', '-'), keep_newlines=False)}",
        f"status    {status}",
        f"started   {safe(meta.get('started_at', '-'), keep_newlines=False)}   duration {_duration(meta.get('duration_s'))}",
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
    kind = safe(event.get("type", "?"), keep_newlines=False)
    return f"{event.get('seq', '?'):>5}  {safe(ts)}  {step:<4} {agent:<10} {kind:<14} {summary(event)}"


def step_line(change: StepChange) -> str:
    added = sum(a or 0 for a, _, _ in change.files)
    deleted = sum(d or 0 for _, d, _ in change.files)
    names = ", ".join(safe(p, keep_newlines=False) for _, _, p in change.files[:4])
    more = f" +{len(change.files) - 4} more" if len(change.files) > 4 else ""
    return (f"{'':>5}  -> step {change.step} {change.commit[:12]}: {len(change.files)} file(s) "
            f"+{added} -{deleted}  {names}{more}")


def summary(event: dict[str, Any], width: int = 100) -> str:
    """One line saying what the event is about (the replay timeline's summary, plus token counts,
    which `show` has no column for), escaped and cut to ``width``."""
    text = event_summary(event)
    usage = (event.get("data") or {}).get("usage") if event.get("type") == "llm.response" else None
    if isinstance(usage, dict):
        text += f" [{usage.get('input_tokens', 0)}→{usage.get('output_tokens', 0)} tok]"
    flat = safe(text, keep_newlines=False)
    return flat if len(flat) <= width else flat[: width - 1] + "…"


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


# --- rerun and compare ----------------------------------------------------------------------------

def render_rerun(result: Any, *, json_out: bool) -> None:
    comparison = result.comparison
    if json_out:
        print_json({
            "original": result.original, "rerun": result.rerun, "exit_code": result.exit_code,
            "status": result.status, "reproduced": result.reproduced, "recorded_calls": result.recorded_calls,
            "served_calls": result.served_calls, "upstream_calls": result.upstream_calls,
            "divergence": _divergence_json(result.divergence), "comparison": _comparison_json(comparison),
            "missing_env": result.missing_env, "workdir": str(result.workdir) if result.workdir else None,
            "isolation": result.isolation,
            "code": None if result.code is None else {"source": result.code.source,
                                                      "files": sorted(result.code.paths)},
        })
        return
    out = console()
    verdict = "reproduced exactly (same events, same final tree)" if result.reproduced else "did NOT reproduce"
    out.print(f"rerun {result.rerun} of {result.original}: {verdict}")
    out.print(f"model calls: {result.served_calls} of {result.recorded_calls} served from the recording, "
              f"{result.upstream_calls} sent upstream; exit {result.exit_code} ({result.status})")
    if result.code is not None:
        files = sorted(result.code.paths)
        out.print(f"code under test: {safe(result.code.source)} ({len(files)} file{'s' * (len(files) != 1)} "
                  f"from it: {safe(', '.join(files[:5]) or 'none', keep_newlines=False)}{' …' * (len(files) > 5)})")
    if result.missing_env:
        out.print(f"note: not set here but set in the original run: {', '.join(result.missing_env)}")
    if result.divergence is not None:
        out.print(safe(result.divergence.describe()))
    if not result.reproduced:
        for line in _comparison_lines(comparison):
            out.print(line)
    if result.workdir:
        out.print(f"worktree kept at {result.workdir}")


def render_compare(comparison: Any, *, json_out: bool) -> None:
    if json_out:
        print_json(_comparison_json(comparison))
        return
    out = console()
    out.print(f"A {comparison.a.id}   B {comparison.b.id}")
    if comparison.identical:
        out.print("identical: same events (ignoring times and ids) and the same final tree")
        return
    for line in _comparison_lines(comparison):
        out.print(line)


def _comparison_lines(comparison: Any) -> list[str]:
    lines = []
    diff = comparison.first_difference
    if diff is None:
        lines.append("events: the same")
    else:
        lines.append(f"first difference at event #{diff.index} ({', '.join(diff.fields)}):")
        lines.append(f"  A: {event_line(diff.a) if diff.a else '(no event)'}")
        lines.append(f"  B: {event_line(diff.b) if diff.b else '(no event)'}")
        lines.extend(safe(line, keep_newlines=False) for line in describe_changes(diff.changes))
    if comparison.trees_equal:
        lines.append("final trees: the same")
    else:
        lines.append(f"final trees differ in {len(comparison.tree_changes)} file(s):")
        for added, deleted, path in comparison.tree_changes:
            counts = "binary" if added is None else f"+{added} -{deleted}"
            lines.append(f"  {safe(path, keep_newlines=False)}  {counts}")
        if comparison.patch:
            lines.append(safe(comparison.patch.rstrip("\n")))
    return lines


def _comparison_json(comparison: Any) -> dict[str, Any]:
    diff = comparison.first_difference
    return {
        "a": comparison.a.id, "b": comparison.b.id, "identical": comparison.identical,
        "first_difference": None if diff is None else {"index": diff.index, "fields": diff.fields, "a": diff.a,
                                                         "b": diff.b, "changes": _changes_json(diff.changes)},
        "trees_equal": comparison.trees_equal,
        "files": [{"path": p, "added": a, "deleted": d} for a, d, p in comparison.tree_changes],
        "patch": comparison.patch,
    }


def _divergence_json(divergence: Any) -> dict[str, Any] | None:
    if divergence is None:
        return None
    return {"call_index": divergence.call_index, "expected": divergence.expected, "actual": divergence.actual,
            "changes": _changes_json(divergence.changes() if divergence.expected is not None else [])}


def _changes_json(changes: Sequence[FieldChange]) -> list[dict[str, str]]:
    """Each differing field's JSON path and the changed part of each side, with context."""
    return [dict(zip(("path", "a", "b"), (change.path, *change.excerpts()))) for change in changes]
