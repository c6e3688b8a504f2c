"""How the teamwork commands (push, fetch, remote, bundle, import, bisect, hooks, blame, search, rm,
gc) render their results. Everything recorded, and everything a teammate pushed, goes through
``safe()``: it is untrusted text."""
from __future__ import annotations

import json

from agitlog.cli.output import console, echo, plural, print_json, safe
from agitlog.cli.render_sessions import event_line, stat_lines
from agitlog.datatypes import asdict

TYPE_CHECKING = False  # typing costs start-up; only checkers need it
if TYPE_CHECKING:
    from typing import Any


def _line(text: Any) -> str:
    return safe(text, keep_newlines=False)


def _ids(ids: list[str], limit: int = 8) -> str:
    shown = ", ".join(_line(i) for i in ids[:limit])
    return shown + (f", … ({len(ids)} in all)" if len(ids) > limit else "")


# --- sharing --------------------------------------------------------------------------------------

def render_push(result: Any, *, json_out: bool) -> None:
    if json_out:
        print_json({**asdict(result), "rejected": [{"session": s, "reason": r} for s, r in result.rejected]})
        return
    out = console()
    where = _line(result.remote)
    if not (result.pushed or result.up_to_date or result.rejected):
        out.print(f"no sessions to push to {where}")
    if result.pushed:
        out.print(f"pushed {plural(len(result.pushed), 'session')} to {where}: {_ids(result.pushed)}")
    if result.up_to_date:
        out.print(f"{plural(len(result.up_to_date), 'session')} already up to date on {where}")
    for session, reason in result.rejected:
        console(stderr=True).print(f"rejected {_line(session)}: {_line(reason)}")


def render_scan(result: Any, *, json_out: bool) -> None:
    if json_out:
        print_json({**asdict(result), "clean": result.clean})
        return
    out = console()
    if result.clean:
        out.print(f"no secrets in what {len(result.sessions)} session(s) would publish "
                  f"({result.scanned_blobs} new file(s) read)")
        return
    for finding in result.findings:
        where = "record" if finding.step is None else f"step {finding.step}"
        out.print(f"{_line(finding.session)} {where}: {_line(finding.path)} ({_line(finding.kind)})")
    console(stderr=True).print(f"{len(result.findings)} secret(s) found; `agitlog push` refuses them unless "
                               "--allow-secrets")


def render_fetch(result: Any, *, json_out: bool) -> None:
    if json_out:
        print_json({**asdict(result), "conflicts": [{"session": s, "kept_as": k} for s, k in result.conflicts],
                    "skipped": [{"ref": r, "reason": why} for r, why in result.skipped]})
        return
    out = console()
    source = _line(result.source)
    if result.new:
        out.print(f"fetched {plural(len(result.new), 'new session')} from {source}: {_ids(result.new)}")
    if result.updated:
        out.print(f"updated {plural(len(result.updated), 'session')}: {_ids(result.updated)}")
    if not result.new and not result.updated:
        out.print(f"no new sessions from {source} ({result.unchanged} already here)")
    err = console(stderr=True)
    for session, kept in result.conflicts:
        err.print(f"conflict: {source} has a different session {_line(session)}; yours is unchanged, "
                  f"theirs is kept as {_line(kept)}")
    for ref, reason in result.skipped:
        err.print(f"skipped {_line(ref)}: {_line(reason)}")


def render_remote_setup(result: Any, *, json_out: bool) -> None:
    if json_out:
        print_json(asdict(result))
        return
    out = console()
    remote = _line(result.remote)
    verb = "removed" if result.removed else "added"
    for change in result.changed:
        out.print(f"{verb} {_line(change)}")
    if not result.changed:
        out.print(f"nothing to change: {remote} is {'not ' if result.removed else ''}set up for sessions")
    if result.removed:
        out.print(f"plain `git fetch {remote}` / `git push {remote}` no longer carry sessions")
    else:
        out.print(f"plain `git fetch {remote}` now brings sessions"
                  + (f"; `git push {remote}` sends them along (pre-push hook)" if result.hook_installed else ""))
    for warning in result.warnings:
        console(stderr=True).print(f"warning: {_line(warning)}")


def render_bundle(result: Any, *, json_out: bool) -> None:
    if json_out:
        print_json({"path": str(result.path), "sessions": result.sessions, "prerequisites": result.prerequisites})
        return
    out = console()
    out.print(f"wrote {_line(result.path)} with {plural(len(result.sessions), 'session')}: {_ids(result.sessions)}")
    if result.prerequisites:
        out.print(f"it builds on {plural(len(result.prerequisites), 'commit')} your remote already has; "
                  f"import it with `agitlog import {_line(result.path.name)}` in a clone")


# --- bisect ---------------------------------------------------------------------------------------

_OUTCOME_TEXT = {
    "good-at-end": "the command passes at the last step: no step of this session broke it",
    "bad-at-start": "the command already fails at step 0 (before the agent ran): the session did not break it",
    "untestable": "the command could not test the first or last step (exit 125 = skip)",
}


def render_bisect(result: Any, *, json_out: bool, patch: bool = False) -> None:
    if json_out:
        data = asdict(result)
        print_json(data)
        return
    out = console()
    if result.outcome in _OUTCOME_TEXT:
        out.print(f"session {_line(result.session)} ({plural(result.steps, 'step')}): {_OUTCOME_TEXT[result.outcome]}")
        if result.log:
            out.print(_line(result.log))
        return
    if result.outcome == "ambiguous":
        steps = ", ".join(str(step) for step in result.candidates)
        out.print(f"skipped steps hide the exact step: the first bad step is one of {steps}; "
                  f"showing step {result.first_bad_step}")
    out.print(f"first bad step: {result.first_bad_step} of {result.steps - 1}  commit {_line(result.first_bad_commit)}  "
              f"session {_line(result.session)}")
    for line in explanation_lines(result.events):
        out.print(line)
    if result.files:
        out.print("")
        out.print(f"step {result.first_bad_step} changed {plural(len(result.files), 'file')}:")
        for line in stat_lines(result.files, every=patch):
            out.print(line)
    if patch and result.diff:
        out.print("")
        out.print(safe(result.diff.rstrip("\n")))
    elif result.diff:
        out.print(f"  (the full diff: add --patch, or `agitlog diff --step {result.first_bad_step} {result.session}`)")
    if result.worktree:
        out.print(f"temporary worktree kept at {_line(result.worktree)} (remove it with `git worktree remove`)")


def explanation_lines(events: Any) -> list[str]:
    if events is None:
        return []
    lines = []
    produced = (events.produced_by or {}).get("seq")
    shown: set[Any] = set()  # the event that produced the step is usually one of the others: once only
    for label, event in (("prompt", events.prompt), ("response", events.response), ("decision", events.decision),
                         ("tool call", events.tool_call), ("tool result", events.tool_result),
                         ("produced by", events.produced_by)):
        if label == "decision" and event is None and events.produced_by:
            lines.append(f"  {'decision':<12} none: the change was made outside any decision")
        if event and event.get("seq") not in shown:
            shown.add(event.get("seq"))
            mark = "  (made this step)" if label != "produced by" and event.get("seq") == produced else ""
            lines.append(f"  {label:<12} {event_line(event).strip()}{mark}")
            if label == "decision" and (event.get("data") or {}).get("reasoning"):
                lines.append(f"  {'':<12} reasoning: {_line(event['data']['reasoning'])}")
            if label == "tool call" and (event.get("data") or {}).get("arguments"):
                args = json.dumps(event["data"]["arguments"], ensure_ascii=False, default=str)
                lines.append(f"  {'':<12} arguments: {_line(args[:300])}")
    for event in events.errors:
        lines.append(f"  {'error':<12} {event_line(event).strip()}")
    return lines


# --- hooks ----------------------------------------------------------------------------------------

def render_hooks(result: Any, *, json_out: bool) -> None:
    if json_out:
        print_json({**asdict(result), "directory": str(result.directory)})
        return
    out = console()
    where = _line(result.directory)
    for name in result.installed:
        kept = " (the existing hook is kept and runs first)" if name in result.kept else ""
        out.print(f"installed {name} in {where}{kept}")
    for name in result.removed:
        out.print(f"removed {name} from {where}" + (" and restored the previous hook" if name in result.restored else ""))
    for name in result.untouched:
        out.print(f"left {name} alone: it is not agitlog's")
    if not (result.installed or result.removed or result.untouched):
        out.print(f"no agitlog hooks in {where}")


def render_hooks_status(status: dict[str, str], *, json_out: bool) -> None:
    if json_out:
        print_json(status)
        return
    for name, state in status.items():
        echo(f"{name:<20} {state}")


# --- blame ----------------------------------------------------------------------------------------

def render_blame(result: Any, *, json_out: bool) -> None:
    if json_out:
        print_json({"path": result.path, "rev": result.rev, "lines": [asdict(line) for line in result.lines]})
        return
    out = console()
    width = len(str(len(result.lines)))
    for line in result.lines:
        out.print(f"{_line(line.commit[:8])} {_origin(line):<58} {line.number:>{width}}) {_line(line.text)}")


def _origin(line: Any) -> str:
    s = line.session
    if s is None:
        who = "Not Committed Yet" if set(line.commit) == {"0"} else _line(line.author)
        return who[:58]
    if not s.present:  # the id comes from a commit message: untrusted text
        return f"{_line(s.session)} (not fetched)"[:58]
    decision = f" {_line(s.decision)}" if s.decision else ""
    text = f"{_line(s.session)} @{s.step} {_line(s.agent or '-')}{decision}"
    return text if len(text) <= 58 else text[:57] + "…"


# --- search ---------------------------------------------------------------------------------------

def render_search(result: Any, *, json_out: bool) -> None:
    if json_out:
        print_json({"hits": [asdict(hit) for hit in result.hits], "truncated": result.truncated,
                    "indexed_sessions": result.indexed_sessions, "reindexed": result.reindexed})
        return
    out = console()
    for hit in result.hits:
        session = _line(hit.session)
        for ctx in (c for c in hit.context if c["seq"] < hit.seq):
            out.print(f"{session}-{_line(ctx['seq'])}  {_line(ctx['type']):<13} {_line(ctx['text'])}")
        out.print(f"{session}:{_line(hit.seq)}  {_line(str(hit.ts)[:19].replace('T', ' '))}  {_line(hit.type):<13} "
                  f"{_line(hit.agent):<8} {_line(hit.snippet)}")
        for ctx in (c for c in hit.context if c["seq"] > hit.seq):
            out.print(f"{session}-{_line(ctx['seq'])}  {_line(ctx['type']):<13} {_line(ctx['text'])}")
        if hit.context:
            out.print("--")
    if result.truncated:
        console(stderr=True).print(f"(showing the newest {len(result.hits)} matches; use --limit to see more)")
    if not result.hits:
        console(stderr=True).print(f"no matches in {plural(result.indexed_sessions, 'session')}")


# --- retention ------------------------------------------------------------------------------------

def render_rm(result: Any, *, json_out: bool) -> None:
    if json_out:
        print_json(asdict(result))
        return
    out = console()
    if result.removed:
        out.print(f"removed {plural(len(result.removed), 'session')}: {_ids(result.removed)}")
    if result.remote:
        out.print(f"removed {plural(len(result.remote_removed), 'session')} from {_line(result.remote)}"
                  + (f": {_ids(result.remote_removed)}" if result.remote_removed else ""))


def render_gc(result: Any, *, json_out: bool) -> None:
    if json_out:
        print_json({**asdict(result), "cutoff": result.cutoff.isoformat() if result.cutoff else None})
        return
    out = console()
    remove, keep = ("would remove", "would keep") if result.dry_run else ("removed", "kept")
    if result.cutoff is not None:
        out.print(f"{remove} {plural(len(result.removed), 'session')} started before "
                  f"{result.cutoff:%Y-%m-%d %H:%M} UTC" + (f": {_ids(result.removed)}" if result.removed else ""))
    if result.kept_adopted:
        out.print(f"{keep} {plural(len(result.kept_adopted), 'old session')} whose steps a branch or tag adopted: "
                  f"{_ids(result.kept_adopted)}")
    if result.kept_recording:
        out.print(f"{keep} {plural(len(result.kept_recording), 'session')} still recording")
    left = plural(result.remaining, "session")
    if result.dry_run:
        out.print(f"{left} would remain; dry run: nothing was removed and no refs were packed")
    else:
        out.print(f"{left} {'remains' if result.remaining == 1 else 'remain'}; session refs packed "
                  "(run `git gc` to reclaim the space of removed sessions)")

