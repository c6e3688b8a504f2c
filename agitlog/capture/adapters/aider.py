"""aider under `agitlog run`: its own history files, attached and read after the run.

aider has no hooks. Its model calls go through the recording proxy like any Python agent's (it
reads ``OPENAI_BASE_URL`` / ``ANTHROPIC_BASE_URL`` through litellm), and its auto-commits are
recorded as ``git.commit`` events like any commit made during a run. The adapter adds, for this run
only, ``--llm-history-file`` (a private file, unless the user passed their own) and afterwards:

- attaches the LLM history and the part of the chat history (``.aider.chat.history.md`` at the
  repository root, or ``--chat-history-file``) written during the run (``agent.transcript``);
- records each prompt the chat history shows (``#### `` lines) as ``user.prompt``, with
  ``from_history: true`` (the time is when the run ended: the file has no per-prompt times).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

from agitlog.capture.adapters import Prepared, attach_file

if TYPE_CHECKING:
    from agitlog.capture.lifecycle import LiveSession

NAME = "aider"
CHAT_HISTORY = ".aider.chat.history.md"


class AiderAdapter:
    name = NAME

    def __init__(self) -> None:
        self.llm_history: Path | None = None
        self.owned = False
        self.chat_history: Path | None = None
        self.chat_offset = 0

    def prepare(self, command: Sequence[str], *, hook_command: str, env: Mapping[str, str]) -> Prepared:
        args = list(command[1:])
        root = Path(env.get("AGITLOG_REPO") or os.getcwd())
        chat = _option(args, "--chat-history-file")
        self.chat_history = (root / chat) if chat else root / CHAT_HISTORY
        self.chat_offset = self.chat_history.stat().st_size if self.chat_history.exists() else 0
        theirs = _option(args, "--llm-history-file")
        if theirs:
            self.llm_history, self.owned = root / theirs, False
            return Prepared(command=list(command))
        fd, path = tempfile.mkstemp(prefix="agitlog-aider-", suffix=".llm-history.txt")
        os.close(fd)
        self.llm_history, self.owned = Path(path), True
        return Prepared(command=[command[0], "--llm-history-file", path, *args])

    def after_run(self, live: LiveSession) -> None:
        if self.llm_history is not None and self.llm_history.exists():
            attach_file(live, self.llm_history, agent=NAME)
            if self.owned:
                self.llm_history.unlink(missing_ok=True)
        if self.chat_history is None or not self.chat_history.exists():
            return
        with open(self.chat_history, "rb") as handle:
            handle.seek(self.chat_offset)
            written = handle.read()
        for prompt in chat_prompts(written.decode("utf-8", "replace")):
            live.recorder.record({"type": "user.prompt", "data": {"prompt": prompt, "from_history": True}})
        attach_file(live, _Written(self.chat_history, written), agent=NAME)


ADAPTER = AiderAdapter()


def chat_prompts(markdown: str) -> list[str]:
    """The user's prompts in aider's chat history: consecutive ``#### `` lines form one prompt."""
    from agitlog.capture.importers.aider import chat_entries

    return [text for kind, text in chat_entries(markdown.splitlines()) if kind == "prompt"]


def _option(args: list[str], name: str) -> str | None:
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(name + "="):
            return arg.partition("=")[2]
    return None


class _Written:
    """The part of a file written during the run, attached under the file's own path."""

    def __init__(self, path: Path, data: bytes) -> None:
        self.path = path
        self.data = data

    def read_bytes(self) -> bytes:
        return self.data

    def __fspath__(self) -> str:
        return os.fspath(self.path)
