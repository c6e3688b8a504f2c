"""The format documents are contracts: their examples must read back through agitlog's own parsers."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

from agitlog.store.events import FIELDS, KNOWN_TYPES, check_draft, parse_ts
from agitlog.store.models import SessionMeta, parse_events

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _blocks(doc: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", (DOCS / doc).read_text(), flags=re.S)


def test_events_doc_example_parses_as_v1_events() -> None:
    [block] = _blocks("events.md", "jsonl")
    session_id = re.search(r'"session":"([^"]+)"', block).group(1)
    events = list(parse_events(block.encode(), session_id))
    assert len(events) >= 5
    for seq, event in enumerate(events):
        assert event["data"].get("error") != "malformed stored event", event["data"]
        assert tuple(event) == FIELDS
        assert event["v"] == 1 and event["seq"] == seq
        parse_ts(event["ts"])
        check_draft(event)
        assert event["type"] in KNOWN_TYPES


def test_events_doc_lists_every_known_type() -> None:
    text = (DOCS / "events.md").read_text()
    for kind in KNOWN_TYPES:
        assert f"`{kind}`" in text, kind


def test_format_doc_session_toml_example_parses() -> None:
    example = next(b for b in _blocks("format.md", "toml") if "format = 1" in b)
    meta = tomllib.loads(example)
    assert meta["format"] == 1
    for key in ("id", "command", "started_at", "status", "exit_code", "env_names", "git", "steps", "stats"):
        assert key in meta
    from agitlog.store.records import dump_meta

    assert tomllib.loads(dump_meta(meta)) == meta
    typed = SessionMeta.from_toml(example.encode(), meta["id"])
    assert typed.damage is None and typed.to_dict() == meta  # the documented shape is the model's shape


def test_format_doc_fork_table_example_parses() -> None:
    """A forked rerun's [fork] table, as documented, read back through the model."""
    base = next(b for b in _blocks("format.md", "toml") if "format = 1" in b)
    fork = next(b for b in _blocks("format.md", "toml") if b.lstrip().startswith("[fork]"))
    typed = SessionMeta.from_toml(f"{base}\n{fork}".encode(), "x")
    assert typed.damage is None and typed.fork is not None
    assert typed.to_dict()["fork"] == tomllib.loads(fork)["fork"] == {"at": 1, "how": "edit",
                                                                      "paths": ["$.messages[0].content"]}
    bad = SessionMeta.from_toml(f"{base}\n{fork.replace('edit', 'guess', 1)}".encode(), "x")
    assert bad.damage is not None and "fork.how" in bad.damage


def _documented_exit_codes() -> dict[int, set[str]]:
    """Every exit code a command page defines (its "## Exit codes" section or "Exit codes:" line)."""
    codes: dict[int, set[str]] = {}
    for page in sorted((DOCS / "commands").glob("*.md")):
        text = page.read_text()
        parts = re.findall(r"^## Exit codes\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
        parts += re.findall(r"^Exit codes?:(.*?)(?:\n\n|\Z)", text, flags=re.M | re.S)
        for part in parts:
            for number in re.findall(r"(?<![\w.+-])`?(\d{1,3})`?(?![\w.%])", part):
                codes.setdefault(int(number), set()).add(page.name)
    return codes


def test_readme_exit_codes_cover_every_code_the_command_docs_define() -> None:
    readme = (DOCS.parent / "README.md").read_text()
    section = readme[readme.index("## Exit codes"):]
    listed = {int(n) for n in re.findall(r"`(\d{1,3})`", section)}
    documented = _documented_exit_codes()
    assert {0, 1, 2, 126, 127} <= set(documented)  # the parser finds the pages' codes
    assert set(documented) <= listed, {code: pages for code, pages in documented.items() if code not in listed}
