"""`agitlog diff`: step diffs parsed into files and hunks, traced to events; binary files, renames,
deletions, non-UTF-8 and huge files."""
from __future__ import annotations

from pathlib import Path

import pytest

from helpers import agitlog, agitlog_json, git, run_python_agent

# Three steps: step 1 edits the top of a file, step 2 the bottom, step 3 adds notes. Each edit
# happens inside a tool call, so each step is produced by a tool.result event.
STEPPED = """
    import pathlib, agitlog
    lines = [f"line {i}" for i in range(1, 31)]
    pathlib.Path("big.txt").write_text("\\n".join(lines) + "\\n")
    agitlog.decision("seeded")
    with agitlog.tool("edit_top"):
        lines[0] = "TOP CHANGED"
        pathlib.Path("big.txt").write_text("\\n".join(lines) + "\\n")
    with agitlog.tool("edit_bottom"):
        lines[-1] = "BOTTOM CHANGED"
        pathlib.Path("big.txt").write_text("\\n".join(lines) + "\\n")
    with agitlog.tool("notes"):
        pathlib.Path("notes.txt").write_text("done\\n")
"""

AWKWARD = """
    import os, pathlib, agitlog
    pathlib.Path("keep.txt").write_text("".join(f"keep line {i}\\n" for i in range(40)))
    agitlog.decision("seeded")
    with agitlog.tool("mess"):
        os.rename("keep.txt", "moved.txt")                       # rename
        pathlib.Path("README.md").unlink()                        # deletion
        pathlib.Path("blob.bin").write_bytes(bytes(range(256)) * 4)  # binary
        pathlib.Path("latin1.txt").write_bytes(b"caf\\xe9 cr\\xe8me\\n")  # not UTF-8
        pathlib.Path("evil.txt").write_text("\\x1b[2J\\x1b]0;pwned\\x07 [bold]markup[/bold]\\n")
        pathlib.Path("huge.txt").write_text("".join(f"row {i}\\n" for i in range(60_000)))
"""


def test_step_diff_json_has_files_hunks_lines_and_events(repo: Path) -> None:
    assert run_python_agent(repo, STEPPED).returncode == 0
    shown = agitlog_json("show", cwd=repo)
    producer = {e["step"]: e for e in shown["events"] if e["type"] == "tool.result"}
    data = agitlog_json("diff", "--step", "3", cwd=repo)  # steps: 1 seeded, 2 top, 3 bottom, 4 notes
    assert (data["from_step"], data["to_step"]) == (2, 3)
    [f] = data["files"]
    assert f["path"] == "big.txt" and f["status"] == "modified" and (f["added"], f["removed"]) == (1, 1)
    [hunk] = f["hunks"]
    assert hunk["added"] == ["BOTTOM CHANGED"] and hunk["removed"] == ["line 30"]
    assert hunk["steps"] == [3] and hunk["events"] == [producer[3]["seq"]]
    assert producer[3]["data"]["tool"] == "edit_bottom"


def test_range_diff_traces_each_hunk_to_its_step(repo: Path) -> None:
    assert run_python_agent(repo, STEPPED).returncode == 0
    shown = agitlog_json("show", cwd=repo)
    by_tool = {e["data"]["tool"]: e for e in shown["events"] if e["type"] == "tool.result"}
    data = agitlog_json("diff", "--range", "1..4", cwd=repo)
    files = {f["path"]: f for f in data["files"]}
    top, bottom = files["big.txt"]["hunks"]
    assert top["added"] == ["TOP CHANGED"] and top["events"] == [by_tool["edit_top"]["seq"]]
    assert bottom["added"] == ["BOTTOM CHANGED"] and bottom["events"] == [by_tool["edit_bottom"]["seq"]]
    assert files["notes.txt"]["hunks"][0]["events"] == [by_tool["notes"]["seq"]]
    whole = agitlog_json("diff", cwd=repo)  # no flag: step 0 to the last step
    assert whole["from_step"] == 0 and {f["path"] for f in whole["files"]} == {"big.txt", "notes.txt"}


def test_plain_diff_and_stat_and_name_only(repo: Path) -> None:
    assert run_python_agent(repo, STEPPED).returncode == 0
    plain = agitlog("diff", "--step", "2", cwd=repo)
    assert plain.returncode == 0, plain.stderr
    lines = plain.stdout.splitlines()
    assert lines[0].startswith("session ") and "step 1 → step 2" in lines[0]
    assert "--- modified: big.txt  +1 -1" in lines
    assert any(line.startswith("@@ -1,4 +1,4 @@") and "by event #" in line for line in lines)
    assert "-line 1" in lines and "+TOP CHANGED" in lines
    assert "\x1b" not in plain.stdout  # piped: no colour
    stat = agitlog("diff", "--range", "1..4", "--stat", cwd=repo).stdout.splitlines()
    assert stat[-1].strip() == "2 files changed, 3 insertions(+), 2 deletions(-)"
    assert agitlog("diff", "--name-only", cwd=repo).stdout.splitlines() == ["big.txt", "notes.txt"]


def test_awkward_files(repo: Path) -> None:
    assert run_python_agent(repo, AWKWARD).returncode == 0
    data = agitlog_json("diff", "--step", "2", cwd=repo)
    files = {f["path"]: f for f in data["files"]}
    moved = files["moved.txt"]
    assert moved["status"] == "renamed" and moved["old_path"] == "keep.txt" and moved["hunks"] == []
    assert files["README.md"]["status"] == "deleted" and files["README.md"]["hunks"][0]["removed"] == ["# demo"]
    blob = files["blob.bin"]
    assert blob["binary"] and blob["added"] is None and blob["hunks"] == []
    assert files["latin1.txt"]["hunks"][0]["added"] == ["caf\\xe9 cr\\xe8me"]
    huge = files["huge.txt"]
    assert huge["truncated"] and huge["added"] == 60_000 and huge["hunks"] == []
    plain = agitlog("diff", "--step", "2", cwd=repo).stdout
    assert "--- renamed: keep.txt => moved.txt" in plain
    assert "binary file: contents not shown" in plain
    assert "diff too large to show (+60000 -0)" in plain
    assert "+caf\\xe9 cr\\xe8me" in plain


def test_diff_escapes_control_sequences_and_markup(repo: Path) -> None:
    assert run_python_agent(repo, AWKWARD).returncode == 0
    plain = agitlog("diff", "--step", "2", cwd=repo).stdout
    assert "\x1b" not in plain and "\x07" not in plain
    assert "+\\x1b[2J\\x1b]0;pwned\\x07 [bold]markup[/bold]" in plain


def test_rich_diff_is_highlighted_with_stats(repo: Path) -> None:
    from agitlog import git as agit
    from agitlog.cli.render_replay import file_diff_text
    from agitlog.query.diffs import session_diff

    assert run_python_agent(repo, AWKWARD.replace("evil.txt", "evil.py")).returncode == 0
    result = session_diff(agit.find_repo(repo), session=None, step=2)
    evil = next(f for f in result.files if f.path == "evil.py")
    text = file_diff_text(evil)
    assert "+1 -0" in text.plain.splitlines()[0]
    assert "\\x1b[2J" in text.plain and "[bold]markup[/bold]" in text.plain and "\x1b" not in text.plain
    styles = {str(span.style) for span in text.spans}
    assert any("green" in s for s in styles) and any("on #002800" in s for s in styles)


@pytest.mark.parametrize("args, message", [
    (["--step", "9"], "no step 9"),
    (["--range", "3..1"], "runs backwards"),
    (["--range", "a..b"], "cannot read range"),
    (["--step", "1", "--range", "1..2"], "not both"),
])
def test_diff_usage_errors(repo: Path, args: list[str], message: str) -> None:
    assert run_python_agent(repo, STEPPED).returncode == 0
    proc = agitlog("diff", *args, cwd=repo)
    assert proc.returncode == 2 and message in proc.stderr
    as_json = agitlog("diff", *args, "--json", cwd=repo)
    assert as_json.returncode == 2 and '"code": "usage"' in as_json.stdout


def test_step_zero_diff_is_what_was_uncommitted(repo: Path) -> None:
    (repo / "wip.txt").write_text("work in progress\n")
    assert run_python_agent(repo, STEPPED).returncode == 0
    data = agitlog_json("diff", "--step", "0", cwd=repo)
    assert data["from_step"] is None and data["from_commit"] == git(repo, "rev-parse", "HEAD").strip()
    assert [f["path"] for f in data["files"]] == ["wip.txt"]


def test_range_over_a_huge_file_stays_quick(repo: Path) -> None:
    agent = """
        import pathlib, agitlog
        for n in range(3):
            with agitlog.tool("grow"):
                pathlib.Path("huge.txt").write_text("".join(f"row {i} of {n}\\n" for i in range(50_000)))
                pathlib.Path("small.txt").write_text(f"version {n}\\n")
    """
    assert run_python_agent(repo, agent).returncode == 0
    data = agitlog_json("diff", "--range", "0..3", cwd=repo)
    files = {f["path"]: f for f in data["files"]}
    assert files["huge.txt"]["truncated"] and files["huge.txt"]["added"] == 50_000
    [hunk] = files["small.txt"]["hunks"]
    assert hunk["added"] == ["version 2"] and hunk["steps"] == [3]


def test_non_utf8_file_names_with_a_strict_terminal_encoding(repo: Path) -> None:
    import json

    agent = """
        import os, agitlog
        with agitlog.tool("write"):
            with open(os.fsdecode(b"caf\\xe9.txt"), "w") as handle:
                handle.write("bonjour\\n")
    """
    assert run_python_agent(repo, agent).returncode == 0
    strict = {"PYTHONIOENCODING": "utf-8:strict"}
    for args in (["diff"], ["diff", "--stat"], ["replay", "--plain"], ["state"]):
        proc = agitlog(*args, cwd=repo, env=strict)
        assert proc.returncode == 0, (args, proc.stderr)
        assert "caf\\xe9.txt" in proc.stdout, args
    for args in (["diff", "--json"], ["replay", "--json"], ["state", "--json"]):
        proc = agitlog(*args, cwd=repo, env=strict)
        assert proc.returncode == 0, (args, proc.stderr)
        json.loads(proc.stdout)
        assert "caf\\\\xe9.txt" in proc.stdout, args  # JSON text: the backslash itself is escaped
    [f] = agitlog_json("diff", cwd=repo)["files"]
    assert f["path"] == "caf\\xe9.txt" and f["hunks"][0]["added"] == ["bonjour"]
