"""`agitlog hook AGENT`: the command an agent's hooks run during `agitlog run`.

It reads the hook's JSON payload on stdin, turns it into events with the adapter's ``hook_drafts``
and sends them over the wire protocol (an event that asks for a snapshot waits for its step commit,
so the agent's next action starts after it). It prints nothing (some agents read a hook's stdout as
instructions) and always exits 0: a recording problem must never block the agent.
"""
from __future__ import annotations

import json
import os
import sys

TYPE_CHECKING = False  # not typing: this runs once per agent hook
if TYPE_CHECKING:
    from typing import BinaryIO


def run_hook(args: list[str], stdin: BinaryIO | None = None) -> int:
    """Handle one hook invocation; ``args`` is ``[AGENT, ...]`` (``[..., PAYLOAD_JSON]`` for Codex)."""
    from agitlog.capture.connection import CLIENT

    if not args or not CLIENT.enabled:
        return 0
    # The agent that ran this hook. Codex does not wait for its notify program: once it has exited we
    # are reparented (to init), and the recorder attributes the events to the agent's model caller.
    parent = os.getppid()
    caller = {"pid": parent} if parent != 1 else {ORPHANED: True}
    try:
        from agitlog.capture.adapters import load

        adapter = load(args[0])
        # Claude Code and Gemini CLI write the payload on stdin; Codex's notify passes it as the last argument
        inline = len(args) > 1 and args[-1].lstrip().startswith("{")
        payload = json.loads(args[-1] if inline else ((stdin or sys.stdin.buffer).read() or b"{}"))
        if not isinstance(payload, dict):
            payload = {"payload": payload}
        for item in adapter.hook_drafts(payload, os.environ):
            CLIENT.send({**item.draft, **caller, **({"snapshot": True} if item.snapshot else {})})
    except Exception as exc:  # noqa: BLE001 - a hook never stops the agent
        CLIENT.send({"type": "error", "data": {"error": f"agitlog hook {' '.join(args)}: {type(exc).__name__}: {exc}"}})
    return 0


ORPHANED = "orphaned"  # a hook event whose agent had exited when it ran (see Recorder._attribute)


def main(argv: list[str]) -> None:
    """Entry point of the hook command `agitlog run` gives agents (see runner.hook_command)."""
    sys.exit(run_hook(argv))
