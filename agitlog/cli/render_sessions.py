"""How command results look: rich tables on a terminal, plain aligned text in pipes, JSON on request."""
from __future__ import annotations

from agitlog.cli.output import console, echo, is_tty, plural, print_json, safe, write_text
from agitlog.datatypes import field_names
from agitlog.query.listing import LogRow, SessionView, StepChange
from agitlog.query.logcache import COLUMNS, LogTable, cost_cell, log_cells, plain_table
from agitlog.query.logcache import duration_text as _duration
from agitlog.constants import STATUS_RUNNING
from agitlog.store.models import SessionMeta, SessionStats

TYPE_CHECKING = False  # typing costs start-up; only checkers need it
if TYPE_CHECKING:
    from typing import Any, Sequence


def render_log(rows: Sequence[LogRow], *, json_out: bool, filters: str = "", remote: Any = None) -> None:
    """The log table; with no rows, what matched nothing, or where sessions could come from."""
    if json_out:
        names = [name for name in field_names(LogRow) if name not in ("meta", "damage")]
        print_json([{name: getattr(row, name) for name in names} | ({"damage": row.damage} if row.damage else {})
                    | {"meta": row.meta.to_dict()} for row in rows])
        return
    if not rows:
        console(stderr=True).print(_no_rows(filters, remote))
        return
    with_cost = any(r.cost is not None for r in rows)
    table = [log_cells(r) + ((cost_cell(r.cost),) if with_cost else ()) for r in rows]
    _print_table(COLUMNS + (("cost",) if with_cost else ()), table, status_column=4, fold_column=3, break_column=1)


def render_log_cells(table: LogTable, *, filters: str = "", remote: Any = None) -> None:
    """The full log table (query.logcache): its cells are escaped already."""
    if not table.count:
        console(stderr=True).print(_no_rows(filters, remote))
        return
    headers, rows = table.table()
    _print_table(headers, rows, status_column=4, fold_column=3, break_column=1)


def _no_rows(filters: str, remote: Any) -> str:
    if filters:
        return f"no sessions match {safe(filters)}"
    if remote is not None:
        return (f"no sessions here yet; {safe(remote.remote)} has {plural(remote.count, 'session')}: "
                f"`agitlog fetch {safe(remote.remote)}` brings them (`git clone` alone does not)")
    return "no sessions recorded yet - try `agitlog run -- <command>`"


def _print_table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, status_column: int | None = None,
                 fold_column: int | None = None, break_column: int | None = None) -> None:
    """Rows under headers. On a terminal only ``fold_column`` wraps (and ``break_column`` breaks at its
    space when the terminal is narrow): ids, numbers and statuses are never wrapped or cut, since the
    id is what every other command takes."""
    rows = [[safe(cell, keep_newlines=False) for cell in row] for row in rows]  # cells may come from a teammate
    if is_tty():
        from rich.table import Table
        from rich.text import Text

        out = console()
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
        gap, broken = _table_fit(widths, fold_column, break_column, out.width)
        table = Table(box=None, header_style="bold", pad_edge=False, padding=(0, gap, 0, 0))
        for i, header in enumerate(headers):
            if i == fold_column:
                table.add_column(header, overflow="fold", min_width=min(widths[i], 8))
            elif i == break_column and broken:
                table.add_column(header, width=max(len(w) for r in rows for w in r[i].split(" ")))
            else:
                table.add_column(header, no_wrap=True, min_width=widths[i])
        for row in rows:
            cells = [Text(cell) for cell in row]
            if status_column is not None:
                cells[status_column].stylize(_status_style(row[status_column]))
            table.add_row(*cells)
        out.print(table)
        return
    write_text(plain_table(headers, rows) + "\n")


def _table_fit(widths: Sequence[int], fold: int | None, brk: int | None, width: int) -> tuple[int, bool]:
    """(gap between columns, whether ``brk`` breaks) leaving the folding column at least 16 characters:
    two-space gaps and whole times when they fit, then times on two lines, then one-space gaps."""
    fixed = sum(w for i, w in enumerate(widths) if i != fold)
    room = lambda gap, saved: width - (fixed - saved) - gap * (len(widths) - 1)  # noqa: E731
    saved = widths[brk] - 10 if brk is not None and widths[brk] > 10 else 0
    for gap, broken in ((2, False), (2, True), (1, True)):
        if room(gap, saved if broken else 0) >= 16:
            return gap, broken
    return 1, True


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

        print_json({"session": view.session.meta.to_dict(), "cost": session_cost(view.session.meta, view.prices),
                    "prompt": view.prompt,
                    "events": view.events,
                    "steps": {str(seq): {"step": c.step, "commit": c.commit, "files": _files_json(c),
                                         "decision": c.decision}
                              for seq, c in view.step_changes.items()}})
        return
    out = console()
    for line in meta_lines(view.session.meta) + _prompt_lines(view.prompt) + model_lines(view.session.meta, view.prices):
        out.print(line)
    out.print("")
    for event in view.events:
        out.print(event_line(event))
        change = view.step_changes.get(event["seq"])
        if change:
            out.print(step_line(change, producer=event))


def _prompt_lines(prompt: str | None, width: int = 100) -> list[str]:
    if not prompt:
        return []
    flat = safe(" ".join(prompt.split()), keep_newlines=False)
    return [f"prompt    {flat if len(flat) <= width else flat[: width - 1] + '…'}"]


def model_lines(meta: SessionMeta, prices: dict[str, dict[str, float]]) -> list[str]:
    """Tokens per model, with cost where the config's [prices] table names the model."""
    from agitlog.query.listing import models_cost

    lines = []
    for model, usage in sorted(meta.stats.models.items()):
        cost = models_cost({model: usage}, prices)
        cost_text = f"  cost {cost:.4f}" if cost is not None else ""
        lines.append(f"model     {safe(model, keep_newlines=False)}: {plural(usage.calls, 'call')}, in "
                     f"{usage.input_tokens:,}, out {usage.output_tokens:,}{cost_text}")
    return lines


def _files_json(change: StepChange) -> list[dict[str, Any]]:
    return [{"path": path, "added": a, "deleted": d} for a, d, path in change.files]


def meta_lines(meta: SessionMeta) -> list[str]:
    if meta.damage is not None:
        return [f"session   {safe(meta.id, keep_newlines=False)}",
                f"status    {meta.status}: {safe(meta.damage, keep_newlines=False)}",
                f"          remove it with `agitlog rm {safe(meta.id, keep_newlines=False)}`"]
    steps, stats = meta.steps, meta.stats
    status = meta.status + (f" (exit {meta.exit_code})" if meta.exit_code is not None else "")
    lines = [
        f"session   {safe(meta.id, keep_newlines=False)}",
        f"name      {safe(meta.name or '-', keep_newlines=False)}",
        f"command   {safe(' '.join(meta.command), keep_newlines=False)}",
        f"agent     {safe(meta.agent, keep_newlines=False)}",
        f"status    {status}",
        f"started   {safe(meta.started_at or '-', keep_newlines=False)}   duration {_duration(meta.duration_s)}",
        f"repo      base {(meta.git.base_commit or '(unborn)')[:12]}  branch {safe(meta.git.branch or '(detached)')}  cwd {safe(meta.cwd)}",
        f"steps     {steps.count}  first {(steps.first or '-')[:12]}  last {(steps.last or '-')[:12]}",
    ]
    if meta.status != STATUS_RUNNING:  # the totals are written when the session finishes
        lines.append(f"events    {stats.events}  llm calls {stats.llm_calls}  tool calls "
                     f"{_tool_calls(stats)}  decisions {stats.decisions}  errors {stats.errors}")
        lines.append(f"tokens    in {stats.input_tokens:,}  out {stats.output_tokens:,}"
                     f"   files changed {stats.files_changed} (+{stats.insertions} -{stats.deletions})")
    if meta.parent_session:
        lines.append(f"parent    {meta.parent_session}")
    if meta.rerun_of:
        lines.append(f"rerun of  {meta.rerun_of}" + (f"   {fork_text(meta.fork)}" if meta.fork else ""))
    return lines


_FORK_HOW = {"live": "the real model from there on", "answer": "a given answer there, then the real model",
             "request": "a given request sent there, then the real model",
             "edit": "the agent's request edited there ({paths}), then the real model"}


def fork_text(fork: Any) -> str:
    """``forked at model call #N: <how>`` for a session's [fork] table."""
    how = _FORK_HOW.get(fork.how, fork.how).format(paths=", ".join(fork.paths))
    return safe(f"forked at model call #{fork.at}: {how}", keep_newlines=False)


def _tool_calls(stats: SessionStats) -> str:
    """Tool calls the agent recorded and those a model asked for: an agent that runs the model's tool
    calls without wrapping them records none, one that wraps them records each once more, so the
    count is the larger of the two, with both when the model asked for more than were recorded."""
    recorded, asked = stats.tool_calls, stats.model_tool_calls
    return f"{asked} ({asked} asked by a model, {recorded} recorded)" if asked > recorded else str(recorded)


def _field(value: Any) -> str:
    """One recorded value on one line: escaped, newlines included."""
    return safe(value, keep_newlines=False)


def event_line(event: dict[str, Any]) -> str:
    ts = _field(str(event.get("ts", ""))[11:23])
    agent = _field(event.get("agent", ""))
    step = _field(f"@{event.get('step')}") if event.get("step") is not None else ""
    kind = _field(event.get("type", "?"))
    return f"{_field(event.get('seq', '?')):>5}  {ts}  {step:<4} {agent:<10} {kind:<14} {summary(event)}"


def step_line(change: StepChange, *, producer: dict[str, Any] | None = None) -> str:
    added = sum(a or 0 for a, _, _ in change.files)
    deleted = sum(d or 0 for _, d, _ in change.files)
    names = ", ".join(safe(p, keep_newlines=False) for _, _, p in change.files[:4])
    more = f" +{len(change.files) - 4} more" if len(change.files) > 4 else ""
    decision = ""
    if change.decision is not None and change.decision != (producer or {}).get("seq"):  # not the event above
        decision = f"  (decision #{change.decision})"
    elif change.decision is None and (producer or {}).get("type") == "decision":  # a scope's opening snapshot
        decision = "  (made before this decision: no decision)"
    return (f"{'':>5}  -> step {_field(change.step)} {_field(change.commit[:12])}: {plural(len(change.files), 'file')} "
            f"+{added} -{deleted}  {names}{more}{decision}")


def summary(event: dict[str, Any], width: int = 100) -> str:
    """One line saying what the event is about (the replay timeline's summary, plus token counts,
    which `show` has no column for), escaped and cut to ``width``."""
    from agitlog.query.summaries import event_summary  # `log` needs none of it: start-up

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
        echo(f"recovered {session_id} (status crashed)")
    for problem in report.problems:
        console(stderr=True).print(f"agitlog: {safe(problem)}")
    if not report.recovered and not report.problems:
        echo("nothing to recover")


def render_demo(result: Any) -> None:
    out = console()
    for line in result.lines:
        out.print(line)


# --- rerun and compare ----------------------------------------------------------------------------

def render_rerun(result: Any, *, json_out: bool, patch: bool = False) -> None:
    comparison = result.comparison
    if json_out:
        print_json({
            "original": result.original, "rerun": result.rerun, "exit_code": result.exit_code,
            "status": result.status, "reproduced": result.reproduced, "recorded_calls": result.recorded_calls,
            "served_calls": result.served_calls, "upstream_calls": result.upstream_calls,
            "divergence": _divergence_json(result.divergence), "comparison": _comparison_json(comparison),
            "missing_env": result.missing_env, "workdir": str(result.workdir) if result.workdir else None,
            "isolation": result.isolation, "fork_at": result.fork.at if result.fork else None,
            "fork": result.fork.to_dict() if result.fork else None,
            "code": None if result.code is None else {"source": result.code.source,
                                                      "files": sorted(result.code.paths)},
        })
        return
    out = console()
    verdict = "reproduced exactly (same events, same final tree)" if result.reproduced else "did NOT reproduce"
    out.print(f"rerun {_field(result.rerun)} of {_field(result.original)}: {verdict}")
    out.print(f"model calls: {result.served_calls} of {result.recorded_calls} served from the recording, "
              f"{result.upstream_calls} sent upstream; exit {result.exit_code} ({result.status})")
    if result.code is not None:
        files = sorted(result.code.paths)
        out.print(f"code under test: {safe(result.code.source)} ({len(files)} file{'s' * (len(files) != 1)} "
                  f"from it: {safe(', '.join(files[:5]) or 'none', keep_newlines=False)}{' …' * (len(files) > 5)})")
    if result.missing_env:
        out.print(f"note: not set here but set in the original run: {', '.join(result.missing_env)}")
    if result.fork is not None:
        out.print(f"{fork_text(result.fork)}; recorded answers before it")
    if result.divergence is not None:
        out.print(safe(result.divergence.describe()))
    if result.fork is not None and not result.reproduced:
        for line in side_by_side_lines(comparison, width=out.width if is_tty() else 160):
            out.print(line)
    if not result.reproduced:
        for line in _comparison_lines(comparison, patch=patch):
            out.print(line)
    if result.workdir:
        out.print(f"worktree kept at {result.workdir}")


def render_compare(comparison: Any, *, json_out: bool, patch: bool = False, side_by_side: bool = False) -> None:
    if json_out:
        print_json(_comparison_json(comparison))
        return
    out = console()
    out.print(f"A {_field(comparison.a.id)}   B {_field(comparison.b.id)}")
    if comparison.fork is not None:
        forked = "B" if comparison.b.meta.fork is comparison.fork else "A"
        out.print(f"{forked} is a fork of {'A' if forked == 'B' else 'B'}, {fork_text(comparison.fork)}")
    if comparison.identical:
        out.print("identical: same events (ignoring times and ids) and the same final tree")
        return
    if side_by_side:
        for line in side_by_side_lines(comparison, width=out.width if is_tty() else 160):
            out.print(line)
    for line in _comparison_lines(comparison, patch=patch):
        out.print(line)


def side_by_side_lines(comparison: Any, *, width: int) -> list[str]:
    """The two runs' events from where they part, A on the left and B on the right."""
    column = max(30, (width - 3) // 2)
    rows = max(len(comparison.tail_a), len(comparison.tail_b))
    start = "the first difference" if comparison.fork is None else f"the fork (model call #{comparison.fork.at})"
    lines = [f"{'A from ' + start:<{column}} | B", "-" * column + "-+-" + "-" * column]
    for index in range(rows):
        left = _short_event(comparison.tail_a[index], column) if index < len(comparison.tail_a) else ""
        right = _short_event(comparison.tail_b[index], column) if index < len(comparison.tail_b) else ""
        lines.append(f"{left:<{column}} | {right}")
    return lines


def _short_event(event: dict[str, Any], width: int) -> str:
    kind = safe(event.get("type", "?"), keep_newlines=False)
    text = f"{event.get('seq', '?'):>4} {kind:<13} {summary(event, width)}"
    return text if len(text) <= width else text[: width - 1] + "…"


STAT_FILES = 10  # a stat longer than this lists the first files and a total, unless the full diff is asked for


def stat_lines(files: Sequence[tuple[int | None, int | None, str]], *, every: bool = False) -> list[str]:
    """Per-file counts, indented, git's --stat in short: past STAT_FILES files (unless ``every``) the
    rest as one line with their totals, so a step that wrote 500 files still fits a screen."""
    shown = files if every or len(files) <= STAT_FILES else files[: STAT_FILES - 1]
    lines = [f"  {safe(path, keep_newlines=False)}  {'binary' if added is None else f'+{added} -{deleted}'}"
             for added, deleted, path in shown]
    rest = files[len(shown):]
    if rest:
        added = sum(a or 0 for a, _, _ in rest)
        deleted = sum(d or 0 for _, d, _ in rest)
        lines.append(f"  … and {plural(len(rest), 'more file')}  +{added} -{deleted}")
    return lines


def _comparison_lines(comparison: Any, *, patch: bool) -> list[str]:
    lines = []
    diff = comparison.first_difference
    if diff is None:
        lines.append("events: the same")
    else:
        lines.append(f"first difference at event #{diff.index} ({', '.join(diff.fields)}):")
        lines.append(f"  A: {event_line(diff.a) if diff.a else '(no event)'}")
        lines.append(f"  B: {event_line(diff.b) if diff.b else '(no event)'}")
        from agitlog.jsondiff import describe_changes

        lines.extend(safe(line, keep_newlines=False) for line in describe_changes(diff.changes))
    if comparison.trees_equal:
        lines.append("final trees: the same")
    else:
        lines.append(f"final trees differ in {plural(len(comparison.tree_changes), 'file')}:")
        lines.extend(stat_lines(comparison.tree_changes, every=patch))
        if patch and comparison.patch:
            lines.append(safe(comparison.patch.rstrip("\n")))
        elif not patch:
            lines.append("  (the full diff: add --patch)")
    return lines


def _comparison_json(comparison: Any) -> dict[str, Any]:
    from agitlog.query.summaries import event_summary

    diff = comparison.first_difference
    return {
        "a": comparison.a.id, "b": comparison.b.id, "identical": comparison.identical,
        "first_difference": None if diff is None else {"index": diff.index, "fields": diff.fields, "a": diff.a,
                                                         "b": diff.b, "changes": _changes_json(diff.changes)},
        "trees_equal": comparison.trees_equal,
        "files": [{"path": p, "added": a, "deleted": d} for a, d, p in comparison.tree_changes],
        "patch": comparison.patch,
        "fork": None if comparison.fork is None else comparison.fork.to_dict(),
        "after_difference": {side: [{"seq": e.get("seq"), "type": e.get("type"), "summary": event_summary(e)}
                                    for e in events]
                             for side, events in (("a", comparison.tail_a), ("b", comparison.tail_b))},
    }


def _divergence_json(divergence: Any) -> dict[str, Any] | None:
    if divergence is None:
        return None
    return {"call_index": divergence.call_index, "expected": divergence.expected, "actual": divergence.actual,
            "changes": _changes_json(divergence.changes() if divergence.expected is not None else [])}


def _changes_json(changes: Sequence[Any]) -> list[dict[str, str]]:
    """Each differing field's JSON path and the changed part of each side, with context."""
    return [dict(zip(("path", "a", "b"), (change.path, *change.excerpts()))) for change in changes]


def render_agent_import(agent: str, results: list[Any], *, json_out: bool) -> None:
    """What `agitlog import AGENT` did, one line per transcript."""
    if json_out:
        print_json({"agent": agent, "sessions": [
            {"session_id": r.session_id, "agent_session_id": r.agent_session_id, "status": r.status,
             "events": r.events, "steps": r.steps, "partial": r.partial} for r in results]})
        return
    out = console()
    if not results:
        out.print(f"no {agent} transcripts of this repository found")
        return
    for r in results:
        if r.status == "empty":
            continue
        tail = f" ({r.events} events, {r.steps} steps{', partial: still being written' if r.partial else ''})" \
            if r.status in ("imported", "updated") else ""
        out.print(f"{r.status:9} {safe(r.session_id)} from {agent} session {safe(r.agent_session_id)}{tail}")
