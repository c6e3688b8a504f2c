"""compare's partial order (query/compare.py): a coding agent's turn reads the same whichever way
agitlog learnt of it — its hook in time, or its transcript afterwards (Codex's notify)."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from agitlog.query.compare import first_difference
from agitlog.store import events

STREAM = "main\0codex exec make notes"


def _event(seq: int, kind: str, pid: int, **data: Any) -> dict[str, Any]:
    return {"seq": seq, "type": kind, "pid": pid, "agent": "main", "data": data}


def _session(codex: int, agitlog: int, *, from_rollout: bool) -> list[dict[str, Any]]:
    turn = {"from_rollout": True} if from_rollout else {}
    return [
        _event(0, "session.start", agitlog),
        _event(1, "llm.request", codex, body={"input": "make notes"}, caller={"argv": [], "stream": STREAM}),
        _event(2, "llm.response", codex, text="done"),
        _event(3, "user.prompt", codex, prompt="make notes", turn_id=f"t{codex}", **turn),
        _event(4, "agent.stop", codex, last_assistant_message="done", turn_id=f"t{codex}", **turn),
        _event(5, "session.end", agitlog, status="ok"),
    ]


def test_a_turn_from_the_rollout_reads_as_one_from_the_hook() -> None:
    live = _session(codex=101, agitlog=100, from_rollout=False)
    late = _session(codex=201, agitlog=200, from_rollout=True)
    assert first_difference(live, late) is None


def test_a_turn_attributed_to_another_process_is_a_difference() -> None:
    """What happened before: a notify that ran after Codex exited was recorded with pid 1, a lane of
    its own, and the rerun did not reproduce."""
    live = _session(codex=101, agitlog=100, from_rollout=False)
    orphaned = _session(codex=201, agitlog=200, from_rollout=False)
    orphaned[4] = {**orphaned[4], "pid": 1}
    assert first_difference(live, orphaned) is not None


def test_agitlogs_own_interpreter_and_package_read_the_same_in_old_and_new_recordings() -> None:
    """An adapter's hook command names agitlog's interpreter, which is `.../python` when started as
    `python -m agitlog` and `.../python3` as `agitlog`; a recording marks each of its names, and an
    older recording that holds one in full reads the same (the front of a longer name is left alone)."""
    package = str(Path(events.__file__).resolve().parents[1])
    hook = f'codex\0-c\0notify=["{sys.executable}", "-S", "-c", "...", "{package}", "codex"]'
    marked = events.marked_caller_stream(hook)
    assert marked == 'codex\0-c\0notify=["<agitlog-python>", "-S", "-c", "...", "<agitlog-package>", "codex"]'
    assert events.marked_caller_stream(marked) == marked
    assert events.marked_caller_stream(f"{sys.executable}-tool agent.py") == f"{sys.executable}-tool agent.py"
    same = [p for p in Path(sys.executable).parent.glob("python*") if p.resolve() == Path(sys.executable).resolve()]
    assert {events.marked_caller_stream(f"{p} agent.py") for p in same} == {"<agitlog-python> agent.py"}

    def session(stream: str, pid: int) -> list[dict[str, Any]]:
        return [_event(0, "llm.request", pid, body={}, caller={"argv": [], "stream": stream}),
                _event(1, "llm.response", pid, text="done")]

    assert first_difference(session(hook, 101), session(marked, 201)) is None
