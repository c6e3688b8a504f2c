"""Generate many sessions in agitlog's real storage format, fast, with `git fast-import`.

Each session is what `agitlog run` writes (agitlog.store.records): step 0 (the base tree), step 1 (one file
changed by a tool call), and a record commit holding session.toml and events.jsonl, under
refs/agent-sessions/<id>. Usable as a script or imported (the scale tests do).

    python bench/gen_sessions.py REPO --sessions 10000 --events 100
"""
from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

WORDS = ("invoice", "customer", "payment", "reminder", "refund", "ledger", "schema", "migration", "retry",
         "timeout", "billing", "report", "export", "import", "cache", "token", "queue", "worker")
TOOLS = ("read_file", "write_file", "run_tests", "search_code", "send_email")
MODELS = ("gpt-4o", "claude-sonnet", "llama-3")
AGENTS = ("main", "planner", "coder")


def _ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _meta(session_id: str, *, started: datetime, base: str, steps: tuple[str, str], events: int, agent: str,
          status: str, rng: random.Random) -> str:
    exit_code = 0 if status == "ok" else 1
    lines = [
        "format = 1", f'id = "{session_id}"', f'name = "generated {rng.choice(WORDS)} task"', f'agent = "{agent}"',
        'command = [\n    "python",\n    "agent.py",\n]', 'cwd = "."', f'started_at = "{_ts(started)}"',
        'host = "bench"', 'user = "bench"', "pid = 1", 'agitlog_version = "0.1.0"',
        f'trace_id = "{rng.getrandbits(128):032x}"', f'root_span = "{rng.getrandbits(64):016x}"',
        'env_names = [\n    "HOME",\n    "PATH",\n]', f'status = "{status}"', f"exit_code = {exit_code}",
        f'ended_at = "{_ts(started + timedelta(seconds=30))}"', "duration_s = 30.0", "",
        "[git]", f'base_commit = "{base}"', 'branch = "main"', 'worktree = "main"', "",
        "[steps]", "count = 2", 'first = "@STEP0@"', 'last = "@STEP1@"', "",
        "[stats]", f"events = {events}", "llm_calls = 1", "tool_calls = 1", "decisions = 1", "errors = 0",
        "input_tokens = 100", "output_tokens = 50", "files_changed = 1", "insertions = 1", "deletions = 0", "",
    ]
    return "\n".join(lines)


def _events(session_id: str, *, count: int, started: datetime, agent: str, model: str, needle: str | None,
            rng: random.Random) -> bytes:
    out = []
    kinds = ("llm.request", "llm.response", "tool.call", "tool.result", "decision", "state", "log")
    for seq in range(count):
        if seq == 0:
            kind, data = "session.start", {"command": ["python", "agent.py"]}
        elif seq == count - 1:
            kind, data = "session.end", {"status": "ok", "exit_code": 0}
        else:
            kind = kinds[seq % len(kinds)]
            words = " ".join(rng.choice(WORDS) for _ in range(8))
            if needle and seq == count // 2:
                words += f" {needle}"
            data = {"llm.request": {"model": model, "prompt": f"please handle {words}"},
                    "llm.response": {"model": model, "text": f"I will {words}", "usage": {"input_tokens": 10}},
                    "tool.call": {"tool": rng.choice(TOOLS), "arguments": {"query": words}},
                    "tool.result": {"tool": "write_file", "ok": True, "result": words},
                    "decision": {"decision": f"do {words[:20]}", "reasoning": words},
                    "state": {"state": {"note": words}},
                    "log": {"message": words, "level": "info"}}[kind]
        event = {"v": 1, "seq": seq, "ts": _ts(started + timedelta(milliseconds=seq)), "session": session_id,
                 "type": kind, "agent": agent, "pid": 1, "span": "0" * 16, "parent_span": None,
                 "step": 0 if seq < count // 2 else 1, "commit": None, "data": data}
        out.append(json.dumps(event, separators=(",", ":")))
    return ("\n".join(out) + "\n").encode()


def _data(payload: bytes) -> bytes:
    return b"data %d\n" % len(payload) + payload + b"\n"


def generate(repo: Path, *, sessions: int, events: int = 20, days: float = 120.0, needle_every: int = 100,
             seed: int = 1, until_days_ago: float = 0.0) -> list[str]:
    """Add ``sessions`` finished sessions on top of HEAD; returns their ids (oldest first). Two
    fast-import passes: the step commits, then the record commits whose session.toml names them."""
    rng = random.Random(seed)
    base = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True,
                          check=True).stdout.strip()
    marks = repo / ".git" / "agitlog-bench-marks" if (repo / ".git").is_dir() else repo / "agitlog-bench-marks"
    now = datetime.now(timezone.utc)
    plan = []
    for i in range(sessions):
        span = (days - until_days_ago) * 86400
        started = now - timedelta(days=days) + timedelta(seconds=span * i / max(sessions, 1))
        plan.append((i, started, started.strftime("%Y%m%d-%H%M%S-") + f"{i:06x}"))
    steps = b"".join(_step_commits(i, started, sid, base, events) for i, started, sid in plan)
    _fast_import(repo, steps, ["--export-marks=" + str(marks)])
    shas = dict(line.split() for line in marks.read_text().splitlines())
    records = []
    for i, started, sid in plan:
        agent, model = AGENTS[i % len(AGENTS)], MODELS[i % len(MODELS)]
        status = "failed" if i % 10 == 7 else "ok"
        needle = "overdue_invoices" if needle_every and i % needle_every == 0 else None
        meta = _meta(sid, started=started, base=base, steps=("", ""), events=events, agent=agent, status=status,
                     rng=rng).replace("@STEP0@", shas[f":{2 * i + 1}"]).replace("@STEP1@", shas[f":{2 * i + 2}"])
        record = (f"agitlog session {sid}: generated ({status})\n\nAgitlog-Session: {sid}\n"
                  f"Agitlog-Kind: record\nAgitlog-Format: 1\n").encode()
        who = b"committer agitlog <agitlog@localhost> %d +0000\n" % int(started.timestamp())
        records.append(f"commit refs/agent-sessions/{sid}\n".encode() + who + _data(record)
                       + f"from {shas[f':{2 * i + 2}']}\ndeleteall\n".encode()
                       + b"M 100644 inline session.toml\n" + _data(meta.encode())
                       + b"M 100644 inline events.jsonl\n"
                       + _data(_events(sid, count=events, started=started, agent=agent, model=model, needle=needle,
                                       rng=rng)))
    _fast_import(repo, b"".join(records), [])
    marks.unlink()
    return [sid for _, _, sid in plan]


def _step_commits(i: int, started: datetime, session_id: str, base: str, events: int) -> bytes:
    ref = f"refs/agent-sessions/{session_id}"
    who = b"committer agitlog <agitlog@localhost> %d +0000\n" % int(started.timestamp())
    out = b""
    for step, summary in ((0, "worktree before"), (1, "tool.result write_file")):
        msg = (f"agitlog step {step}: {summary}\n\nAgitlog-Session: {session_id}\nAgitlog-Kind: step\n"
               f"Agitlog-Step: {step}\nAgitlog-Event: {0 if step == 0 else events // 2}\n").encode()
        out += f"commit {ref}\nmark :{2 * i + step + 1}\n".encode() + who + _data(msg)
        if step == 0:
            out += f"from {base}\n".encode()
        else:
            content = f"# generated by session {session_id}\nVALUE = {i}\n".encode()
            out += b"M 100644 inline gen/session_%06d.py\n" % i + _data(content)
    return out


def _fast_import(repo: Path, stream: bytes, extra: list[str]) -> None:
    proc = subprocess.run(["git", "fast-import", "--quiet", "--done", *extra], cwd=repo, input=stream + b"done\n")
    if proc.returncode != 0:
        raise RuntimeError("git fast-import failed")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repo", type=Path)
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--events", type=int, default=20)
    args = parser.parse_args()
    start = time.perf_counter()
    generate(args.repo, sessions=args.sessions, events=args.events)
    print(f"generated {args.sessions} sessions x {args.events} events in {time.perf_counter() - start:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
