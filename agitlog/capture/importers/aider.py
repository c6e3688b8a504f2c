"""aider's history files -> sessions (`agitlog import aider`).

aider keeps no per-session transcript; it appends to three files (as of aider 0.86.2), by default at
the repository root, elsewhere when ``--chat-history-file``, ``--input-history-file`` or
``--llm-history-file`` say so (on the command line, in ``AIDER_*`` variables or ``.env`` files, or in
``.aider.conf.yml``; ``history_files`` reads the last three). All times in them are local time.

    .aider.chat.history.md   one section per start of aider: ``# aider chat started at YYYY-MM-DD
                             HH:MM:SS``, then ``#### `` lines (what the user typed, one prompt per
                             run of such lines), ``> `` entries (aider's own output, each ending in
                             two spaces: ``Aider v0.86.2``, ``Applied edit to PATH``, ``Commit SHA
                             MESSAGE``, ...) and the model's answers (everything else)
    .aider.input.history     prompt_toolkit's history: ``# YYYY-MM-DD HH:MM:SS.ffffff`` then ``+``
                             lines; the only per-prompt times
    .aider.llm.history       only when asked for: ``TO LLM <iso time>`` (the messages sent, one
                             ``ROLE text`` line each, messages separated by ``-------``) and
                             ``LLM RESPONSE <iso time>`` (``ASSISTANT text`` lines)

Each chat section becomes a session: ``agent.session``, ``user.prompt`` (timed by the input
history), ``llm.request``/``llm.response`` (timed by the LLM history), ``tool.result`` for each applied
edit, ``git.commit`` for each of aider's commits (its ``Commit SHA`` lines, and any commit on HEAD
in the section's time that aider marked as its own: see ``_by_aider``), ``aider.output`` for the rest.
An event whose own time the files do not give takes the time of the event before it
(``data.ts_from`` says where each time came from).

Steps: aider's commits are real commits, so they are linked, not reconstructed; the step after a
commit holds exactly the files that commit changed, with that commit's contents. Edits aider made
without committing (``--no-auto-commits``) get no step: the history does not hold their content for
certain.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from collections.abc import Iterator, Mapping
from typing import Any

from agitlog import git
from agitlog.capture.importers import FileChange, Item, Transcript
from agitlog.errors import AgitlogError

AGENT = "aider"
TESTED_VERSIONS = ("0.86.2",)
DEFAULTS = {"chat-history-file": ".aider.chat.history.md", "input-history-file": ".aider.input.history",
            "llm-history-file": ".aider.llm.history"}
_START = re.compile(r"# aider chat started at (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\s*")
_INPUT_TIME = re.compile(r"# (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?)\s*")
_LLM_HEADER = re.compile(r"(TO LLM|LLM RESPONSE) (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)\s*")
_COMMIT = re.compile(r"Commit ([0-9a-f]{7,40}) (.*)", re.DOTALL)
_APPLIED = re.compile(r"Applied edit to (.+)")
_VERSION = re.compile(r"Aider v(\S+)")
_MODEL = re.compile(r"(?:Main model|Model): (\S+)")  # "Model: openai/gpt-4o with diff edit format, ..."
_ROLE = re.compile(r"([A-Z]+) ?(.*)")


@dataclass(frozen=True)
class HistoryFiles:
    chat: Path
    input: Path
    llm: Path


@dataclass(frozen=True)
class _Logged:
    """One entry of the input or LLM history: its time (UTC), kind, text and size in lines."""

    at: datetime
    kind: str  # "input", "TO LLM", "LLM RESPONSE"
    text: str
    lines: int


@dataclass
class _Section:
    start: datetime
    label: str  # the header's own text: the session's id in aider's terms
    lines: list[str]
    partial: bool = False


@dataclass
class _Cursor:
    """The time of the event before: what an event the files do not time inherits."""

    at: datetime
    logged: list[_Logged] = field(default_factory=list)  # the section's LLM history, oldest first


def history_files(root: Path, *, home: Path, env: Mapping[str, str]) -> HistoryFiles:
    """Where aider writes its history for this repository: defaults at the root, overridden (lowest
    first) by ``~/.aider.conf.yml``, ``<root>/.aider.conf.yml``, ``~/.env``, ``<root>/.env``, the
    environment. Relative paths are taken from the root (aider takes them from where it ran)."""
    settings: dict[str, str] = {}
    for conf in (home / ".aider.conf.yml", root / ".aider.conf.yml"):
        settings.update(_yaml_scalars(conf))
    for dotenv in (home / ".env", root / ".env"):
        settings.update(_dotenv(dotenv))
    settings.update({key: env[_env_name(key)] for key in DEFAULTS if env.get(_env_name(key))})
    where = {key: _path(settings.get(key) or default, root=root, home=home) for key, default in DEFAULTS.items()}
    return HistoryFiles(chat=where["chat-history-file"], input=where["input-history-file"],
                        llm=where["llm-history-file"])


def _path(value: str, *, root: Path, home: Path) -> Path:
    return home / value[2:] if value.startswith("~/") else root / value


def _env_name(key: str) -> str:
    return "AIDER_" + key.upper().replace("-", "_")


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _unquote(value: str) -> str:
    value = value.strip()
    if value[:1] in ("'", '"') and value[0] in value[1:]:
        return value[1:value.index(value[0], 1)]
    return value.split(" #", 1)[0].strip()


def _yaml_scalars(path: Path) -> dict[str, str]:
    """The history-file keys of an ``.aider.conf.yml`` (top-level ``key: value`` lines; the rest of
    the YAML is aider's business)."""
    found = {}
    for line in (_read_text(path) or "").splitlines():
        key, sep, value = line.partition(":")
        if sep and key in DEFAULTS and _unquote(value):
            found[key] = _unquote(value)
    return found


def _dotenv(path: Path) -> dict[str, str]:
    names = {_env_name(key): key for key in DEFAULTS}
    found = {}
    for line in (_read_text(path) or "").splitlines():
        name, sep, value = line.strip().removeprefix("export ").partition("=")
        if sep and name.strip() in names and _unquote(value):
            found[names[name.strip()]] = _unquote(value)
    return found


def read_transcripts(repo: git.Repo, *, since: datetime | None, home: Path) -> Iterator[Transcript]:
    """One transcript per chat started in this repository's history files (newer than ``since``)."""
    root = repo.root.resolve()
    files = history_files(root, home=home, env=os.environ)
    sections = read_chat_history(files.chat)
    if not sections:
        return
    inputs = _read_input_history(files.input)
    llm = _read_llm_history(files.llm)
    shared = not _inside(files.chat.resolve(), root)  # a history file of several repositories
    labels: dict[str, int] = {}
    for i, section in enumerate(sections):
        end = sections[i + 1].start if i + 1 < len(sections) else None
        labels[section.label] = labels.get(section.label, 0) + 1
        if since is not None and section.start < since:
            continue
        window = [entry for entry in inputs + llm if section.start <= entry.at and (end is None or entry.at < end)]
        label = section.label if labels[section.label] == 1 else f"{section.label} #{labels[section.label]}"
        transcript = _transcript(repo, section, label=label, files=files, window=window, end=end)
        if shared and not any(item.draft["data"].get("found_in") == "chat-history" for item in transcript.items):
            continue  # nothing ties a section of a shared file to this repository
        yield transcript


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _local(text: str, form: str) -> datetime:
    """A local time as aider writes it, in UTC."""
    return datetime.strptime(text, form).astimezone(timezone.utc)


def _ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def read_chat_history(path: Path) -> list[_Section]:
    """The chat history's sections, up to its last complete line; a file aider did not write (no
    section header where one must be) fails naming the aider version it mentions."""
    try:
        data = path.read_bytes()
    except OSError:
        return []
    cut = data.rfind(b"\n") + 1
    text = data[:cut].decode("utf-8", "replace")
    sections: list[_Section] = []
    for line in text.splitlines():
        header = _START.fullmatch(line)
        if header:
            try:
                start = _local(header.group(1), "%Y-%m-%d %H:%M:%S")
            except ValueError:
                _fail(path, text)
            sections.append(_Section(start, header.group(1), []))
        elif sections:
            sections[-1].lines.append(line)
        elif line.strip():
            _fail(path, text)
    if sections and data[cut:].strip():
        sections[-1].partial = True
    return sections


def _fail(path: Path, text: str) -> None:
    version = next((m.group(1) for line in text.splitlines() if (m := _VERSION.search(line))), "unknown")
    raise AgitlogError(f"cannot read {path}: not an aider chat history format this agitlog understands "
                       f"(aider {version}; tested: {', '.join(TESTED_VERSIONS)})",
                       hint="please report it with the aider version; nothing was imported")


def _read_input_history(path: Path) -> list[_Logged]:
    entries: list[_Logged] = []
    for line in (_read_text(path) or "").splitlines():
        stamp = _INPUT_TIME.fullmatch(line)
        if stamp:
            try:
                entries.append(_Logged(_local(stamp.group(1), "%Y-%m-%d %H:%M:%S.%f" if "." in stamp.group(1)
                                              else "%Y-%m-%d %H:%M:%S"), "input", "", 2))
            except ValueError:
                continue
        elif line.startswith("+") and entries:
            last = entries[-1]
            text = line[1:] if not last.text else f"{last.text}\n{line[1:]}"
            entries[-1] = _Logged(last.at, "input", text, last.lines + 1)
    return entries


def _read_llm_history(path: Path) -> list[_Logged]:
    """Entries up to the last complete line: the file is appended to while aider runs."""
    try:
        data = path.read_bytes()
    except OSError:
        return []
    entries: list[_Logged] = []
    body: list[str] = []
    for line in data[: data.rfind(b"\n") + 1].decode("utf-8", "replace").splitlines():
        header = _LLM_HEADER.fullmatch(line)
        at = _iso_local(header.group(2)) if header else None
        if at is not None:
            if entries:
                entries[-1] = _Logged(entries[-1].at, entries[-1].kind, "\n".join(body), len(body) + 1)
            entries.append(_Logged(at, header.group(1), "", 1))
            body = []
        elif entries:
            body.append(line)
    if entries:
        entries[-1] = _Logged(entries[-1].at, entries[-1].kind, "\n".join(body), len(body) + 1)
    return entries


def _iso_local(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text).astimezone(timezone.utc)
    except ValueError:
        return None  # not a header after all: a line of the entry before


def chat_entries(lines: list[str]) -> list[tuple[str, str]]:
    """A section's entries in order: ("prompt", text), ("output", text) or ("answer", text)."""
    entries: list[tuple[str, str]] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#### "):  # a prompt of several lines is several "#### " lines
            block = []
            while i < len(lines) and lines[i].startswith("#### "):
                block.append(lines[i][5:].rstrip())
                i += 1
            entries.append(("prompt", "\n".join(block)))
        elif line.startswith(">"):  # aider's output: one entry ends with the line ending in two spaces
            block = [line[1:].removeprefix(" ")]
            while not lines[i].endswith("  ") and i + 1 < len(lines) and not lines[i + 1].startswith(("#### ", ">")):
                i += 1
                block.append(lines[i])
            i += 1
            entries.append(("output", "\n".join(block).rstrip()))
        elif not line.strip():
            i += 1
        else:  # the model's answer: everything up to the next prompt or output
            block = []
            while i < len(lines) and not lines[i].startswith(("#### ", ">")):
                block.append(lines[i])
                i += 1
            entries.append(("answer", "\n".join(block).strip()))
    return entries


def _transcript(repo: git.Repo, section: _Section, *, label: str, files: HistoryFiles, window: list[_Logged],
                end: datetime | None) -> Transcript:
    inputs = [entry for entry in window if entry.kind == "input"]
    cursor = _Cursor(section.start, sorted((e for e in window if e.kind != "input"), key=lambda e: e.at))
    entries = chat_entries(section.lines)
    version = next((m.group(1) for kind, text in entries if kind == "output" and (m := _VERSION.match(text))), None)
    model = next((m.group(1) for kind, text in entries if kind == "output" and (m := _MODEL.match(text))), None)
    items = [Item(_ts(section.start), {"type": "agent.session", "data": {
        "agent": AGENT, "agent_session_id": label, "agent_version": version, "model": model,
        "chat_history": os.fspath(files.chat), "ts_from": "chat-history"}})]
    seen: set[str] = set()
    for kind, text in entries:
        if kind == "prompt":
            items.append(_prompt(text, inputs, cursor))
        elif kind == "answer":
            items += _answer(text, model, cursor)
        else:
            items.append(_output(repo, text, cursor, seen))
    items += [_llm_item(entry, model, cursor) for entry in cursor.logged]  # calls with no answer in the chat
    items += _aider_commits(repo, section.start, end, seen)
    sources = [files.chat] + [path for path, kinds in ((files.input, {"input"}), (files.llm, {"TO LLM", "LLM RESPONSE"}))
                              if any(entry.kind in kinds for entry in window)]
    excerpt = "\n".join([f"# aider chat started at {section.label}", *section.lines]).encode()
    logged = [f"{e.kind} {e.at.isoformat()}\n{e.text}".encode() for e in window]
    return Transcript(agent=AGENT, agent_session_id=label, agent_version=version, paths=sources,
                      lines=_size(section, window), items=items,
                      partial=section.partial, excerpts=[excerpt, *logged] if logged else [excerpt],
                      title=next((i.draft["data"]["prompt"][:72] for i in items if i.draft["type"] == "user.prompt"),
                                 None))


def _size(section: _Section, window: list[_Logged]) -> int:
    """What "unchanged" is judged by: the section's non-blank lines (the blank line aider writes
    before the next section's header does not change this one) and its history entries' lines."""
    return 1 + sum(1 for line in section.lines if line.strip()) + sum(entry.lines for entry in window)


def _at(cursor: _Cursor, own: datetime | None) -> str:
    """The event's time: its own when the files give one, never before the event before it."""
    if own is not None and own > cursor.at:
        cursor.at = own
    return _ts(cursor.at)


def _prompt(text: str, inputs: list[_Logged], cursor: _Cursor) -> Item:
    match = next((entry for entry in inputs if entry.text == text and entry.at >= cursor.at), None)
    if match is not None:
        inputs.remove(match)
    ts = _at(cursor, match.at if match else None)
    return Item(ts, {"type": "user.prompt", "data": {"prompt": text,
                                                      "ts_from": "input-history" if match else "preceding"}})


def _answer(text: str, model: str | None, cursor: _Cursor) -> list[Item]:
    """The model's answer; the LLM history (when kept) gives the request before it and its time."""
    items = []
    while cursor.logged:
        entry = cursor.logged.pop(0)
        if entry.kind == "LLM RESPONSE":
            ts = _at(cursor, entry.at)
            return items + [Item(ts, {"type": "llm.response", "data": {"text": text, "model": model,
                                                                        "ts_from": "llm-history"}})]
        items.append(_llm_item(entry, model, cursor))
    ts = _at(cursor, None)
    return items + [Item(ts, {"type": "llm.response", "data": {"text": text, "model": model, "ts_from": "preceding"}})]


def _llm_item(entry: _Logged, model: str | None, cursor: _Cursor) -> Item:
    ts = _at(cursor, entry.at)
    if entry.kind == "TO LLM":
        return Item(ts, {"type": "llm.request", "data": {"model": model, "messages": llm_messages(entry.text),
                                                         "ts_from": "llm-history"}})
    text = "\n".join(_ROLE.fullmatch(line).group(2) if _ROLE.fullmatch(line) else line for line in entry.text.splitlines())
    return Item(ts, {"type": "llm.response", "data": {"text": text, "model": model, "ts_from": "llm-history"}})


def llm_messages(text: str) -> list[dict[str, str]]:
    """The messages of a ``TO LLM`` entry: ``-------`` between messages, each line ``ROLE text``."""
    messages: list[dict[str, str]] = []
    for block in text.split("-------\n"):
        lines = block.rstrip("\n").split("\n")
        first = _ROLE.fullmatch(lines[0]) if lines[0] else None
        if first is None:
            continue
        role = first.group(1)
        content = [m.group(2) if (m := _ROLE.fullmatch(line)) and m.group(1) == role else line for line in lines]
        messages.append({"role": role.lower(), "content": "\n".join(content)})
    return messages


def _output(repo: git.Repo, text: str, cursor: _Cursor, seen: set[str]) -> Item:
    commit = _COMMIT.fullmatch(text)
    info = git.commit_info(repo, commit.group(1)) if commit else None
    if info is not None:
        seen.add(info.sha)
        return _commit_item(repo, info, cursor, found_in="chat-history")
    applied = _APPLIED.fullmatch(text)
    ts = _at(cursor, None)
    if applied:
        return Item(ts, {"type": "tool.result", "data": {"tool": "edit", "path": applied.group(1), "ok": True,
                                                         "result": text, "ts_from": "preceding"}})
    data: dict[str, Any] = {"text": text, "ts_from": "preceding"}
    if commit:
        data["commit_missing"] = commit.group(1)  # rewritten or undone since: nothing to link
    return Item(ts, {"type": "aider.output", "data": data})


def _commit_item(repo: git.Repo, info: git.CommitInfo, cursor: _Cursor | None, *, found_in: str) -> Item:
    """A commit of aider's, linked; its changes (read from the commit itself) make the next step."""
    moment = datetime.fromtimestamp(info.committed, timezone.utc)
    ts = _at(cursor, moment) if cursor is not None else _ts(moment)
    parent = info.parents[0] if info.parents else None
    written, deleted = git.changed_paths(repo, parent or git.EMPTY_TREE, info.sha)
    contents = git.cat_files(repo, [f"{info.sha}:{path}" for path in written])
    changes = [FileChange(path, content) for path, content in zip(written, contents) if content is not None]
    changes += [FileChange(path, None) for path in deleted]
    return Item(ts, {"type": "git.commit", "data": {
        "commit": info.sha, "parent": parent, "message": info.subject, "author": info.author,
        "committer": info.committer, "by_aider": _by_aider(info), "linked": False, "found_in": found_in,
        "ts_from": "commit"}}, changes=changes)


def _by_aider(info: git.CommitInfo) -> bool:
    """aider marks its commits with "Name (aider)" as author or committer, or (its default since 0.83)
    a ``Co-authored-by: aider (model) <aider@aider.chat>`` trailer."""
    return info.author.endswith("(aider)") or info.committer.endswith("(aider)") \
        or any(c.endswith("<aider@aider.chat>") for c in info.co_authors)


def _aider_commits(repo: git.Repo, start: datetime, end: datetime | None, seen: set[str]) -> list[Item]:
    """Commits on HEAD in the section's time by "Name (aider)" that the chat does not name."""
    entries, _ = git.read_head_reflog(repo)
    low, high = start.timestamp(), end.timestamp() if end else float("inf")
    items = []
    for entry in entries:
        if entry.is_commit and entry.new not in seen and low <= entry.epoch < high:
            info = git.commit_info(repo, entry.new)
            if info is not None and _by_aider(info):
                seen.add(info.sha)
                items.append(_commit_item(repo, info, None, found_in="reflog"))
    return items
