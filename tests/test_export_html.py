"""`agitlog export --html`: one self-contained file, loaded offline in headless Chromium and driven
with real key presses; a session full of script payloads executes nothing."""
from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from typing import Any

from browser import Browser, require_chromium
from helpers import agitlog, agitlog_json, run_python_agent
from replay_agents import MULTI_AGENT

from agitlog import git as agit
from agitlog.query.state import merged_state
from agitlog.sharing.export.html import export_html

HOSTILE = r'''
import pathlib
import agitlog

PAYLOAD = "</script><script>window.__pwned = 1</script><!--"
IMG = '<img src=x onerror="window.__pwned = 2">'
agitlog.log(PAYLOAD)
agitlog.state({"html": IMG, "</script>": "javascript:window.__pwned = 3"})
with agitlog.span('<svg onload="window.__pwned = 4">', agent='<iframe src="javascript:window.__pwned = 5">'):
    agitlog.prompt(model="<b>m</b>", messages=[{"role": "user", "content": IMG + PAYLOAD}])
    agitlog.response('<a href="javascript:window.__pwned = 6">click</a>', model="m", input_tokens=1, output_tokens=2)
    with agitlog.tool('<img src=y onerror=window.__pwned=7>', arg="\u2028\u2029 ]]> &lt; &amp;") as call:
        pathlib.Path('x<img src=z onerror=window.__pwned=8>.txt').write_text(PAYLOAD + "\n" + IMG + "\n")
        call.result = {"<script>": PAYLOAD}
    agitlog.decision(IMG, reasoning=PAYLOAD, alternatives=["javascript:window.__pwned = 9"])
'''

# every payload above, as the page must show it: text
PAYLOAD_TEXTS = ["</script><script>window.__pwned = 1</script><!--", '<img src=x onerror="window.__pwned = 2">',
                 '<svg onload="window.__pwned = 4">', '<a href="javascript:window.__pwned = 6">click</a>',
                 "<img src=y onerror=window.__pwned=7>", "x<img src=z onerror=window.__pwned=8>.txt"]


def _export(repo: Path, out: Path, *args: str) -> dict[str, Any]:
    proc = agitlog("export", *args, "--html", str(out), "--json", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _data_block(page: str) -> dict[str, Any]:
    match = re.search(r'<script type="application/json" id="agitlog-data">(.*?)</script>', page, re.S)
    assert match, "no data block"
    return json.loads(match.group(1))


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


def test_page_is_self_contained_with_inert_data_and_a_csp_that_allows_only_its_own_code(
        repo: Path, tmp_path: Path) -> None:
    assert run_python_agent(repo, HOSTILE).returncode == 0
    out = tmp_path / "hostile.html"
    result = _export(repo, out)
    page = out.read_text()
    assert result["bytes"] == len(page.encode())

    # exactly two script elements: the inert data and the page's code; the payloads never close them
    assert page.count("<script") == 2 and page.count("</script>") == 2
    document = _data_block(page)
    events = agitlog_json("show", cwd=repo)["events"]
    assert [e["seq"] for e in document["events"]] == [e["seq"] for e in events]
    assert document["format"] == "agitlog-html/1"
    block = page[page.index('id="agitlog-data">'):page.index("</script>")]
    assert "<" not in block.removeprefix('id="agitlog-data">') and "\u2028" not in block

    # the CSP names the exact inline style and script by hash and allows nothing else to load
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page).group(1)
    style = re.search(r"<style>(.*?)</style>", page, re.S).group(1)
    script = re.search(r"<script>(.*?)</script>", page, re.S).group(1)
    assert csp.startswith("default-src 'none';")
    assert f"script-src '{_sha256(script)}'" in csp and f"style-src '{_sha256(style)}'" in csp
    assert "img-src data:" in csp and "unsafe" not in csp
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:|//)", page), "no external asset may be referenced"
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script and "document.write" not in script


def test_export_of_a_multi_agent_session_loads_offline_and_navigates_like_the_viewer(
        repo: Path, tmp_path: Path) -> None:
    require_chromium()
    assert run_python_agent(repo, MULTI_AGENT).returncode == 0
    out = tmp_path / "session.html"
    result = _export(repo, out)
    events = agitlog_json("show", cwd=repo)["events"]
    assert result["events"] == len(events) and result["steps"] == 3

    browser = Browser(tmp_path / "profile")
    try:
        browser.open(out.as_uri())
        assert browser.evaluate("document.body.dataset.ready") == "1"
        seqs = browser.evaluate("[...document.querySelectorAll('.row')].map(r => Number(r.dataset.seq))")
        assert seqs == [e["seq"] for e in events]
        texts = browser.evaluate("[...document.querySelectorAll('.row .summary')].map(r => r.textContent)")
        assert "Plan: patch src/app.py, then add notes." in texts and "ship it — because good enough" in texts
        tree = browser.evaluate("[...document.querySelectorAll('.span-item')].map(r => r.textContent)")
        assert tree == ["session (main)", "plan  [planner]", "code  [coder]"]

        def current() -> int:
            return int(browser.evaluate("document.body.dataset.current"))

        def pane(name: str) -> str:
            return browser.evaluate(f"document.getElementById('{name}').textContent")

        by_type = [e["type"] for e in events]
        assert current() == 0
        browser.press("j")
        browser.press("j")
        assert current() == 2
        browser.press("k")
        assert current() == 1
        browser.press("d")
        assert by_type[current()] == "decision" and "the bug is in total()" in pane("detail")
        browser.press("t")
        assert by_type[current()] == "tool.call"
        browser.press("f")  # the event that produced step 1: its diff is rendered
        produced = current()
        assert events[produced]["type"] == "tool.result"
        assert "-    return sum(xs)" in pane("diff") and "+    return sum(xs) + 1" in pane("diff")
        browser.press("e")
        assert events[current()]["type"] == "tool.result" and "RuntimeError" in pane("detail")
        browser.press("D", shift=True)
        assert by_type[current()] == "decision" and current() < produced
        browser.press("End")
        assert current() == len(events) - 1
        state = json.loads(browser.evaluate("document.querySelector('#state pre').textContent"))
        assert state == merged_state(events) == {"goal": "fix totals", "attempt": 2, "files": ["src/app.py"]}

        browser.press("Home")
        browser.press("/", code="Slash")
        browser.type_text("WRITE_file")
        browser.press("Enter", code="Enter", key_code=13)
        hits = [e["seq"] for e in events if "write_file" in json.dumps(e["data"])]
        assert len(hits) >= 3
        assert current() == hits[0] and pane("status") == f"match 1/{len(hits)}"
        browser.press("n")
        assert current() == hits[1]
        browser.press("N", shift=True)
        assert current() == hits[0]
        browser.evaluate("document.querySelectorAll('.span-item')[2].click()")
        assert events[current()]["type"] == "span.start" and events[current()]["agent"] == "coder"

        browser.screenshot(tmp_path / "session.png")
        assert (tmp_path / "session.png").stat().st_size > 10_000
        assert browser.console_messages() == []
        assert browser.requested_urls() == [out.as_uri()], "the page must load nothing but itself"
    finally:
        browser.close()


def test_a_hostile_session_executes_nothing_and_shows_every_payload_as_text(repo: Path, tmp_path: Path) -> None:
    require_chromium()
    assert run_python_agent(repo, HOSTILE).returncode == 0
    out = tmp_path / "hostile.html"
    _export(repo, out)
    events = agitlog_json("show", cwd=repo)["events"]

    browser = Browser(tmp_path / "profile")
    try:
        browser.open(out.as_uri())
        # walk every event so every pane renders every payload (detail, diff, state)
        for _ in events:
            browser.press("j")
        browser.press("Home")
        browser.press("f")
        assert browser.evaluate("typeof window.__pwned") == "undefined"
        assert browser.console_messages() == []
        assert browser.evaluate("[...document.querySelectorAll('*')].filter(e => [...e.attributes]"
                                ".some(a => a.name.startsWith('on'))).length") == 0
        assert browser.evaluate("document.querySelectorAll('img, svg, iframe, a, b, object, embed').length") == 0
        assert browser.evaluate("document.querySelectorAll('script').length") == 2
        body = browser.evaluate("document.body.textContent")
        for text in PAYLOAD_TEXTS:
            assert text in body, text
        assert "x<img src=z onerror=window.__pwned=8>.txt" in browser.evaluate(
            "document.getElementById('diff').textContent")
        assert browser.evaluate("document.querySelectorAll('.row').length") == len(events)
        browser.screenshot(tmp_path / "hostile.png")
        assert browser.requested_urls() == [out.as_uri()]
    finally:
        browser.close()


BIG = r'''
import pathlib
import agitlog

for step in range(50):
    agitlog.prompt(model="gpt-4o", system="You are a careful billing agent. " * 4,
                   messages=[{"role": "user", "content": f"Step {step}: fix the invoice totals. " * 8}])
    agitlog.response(f"I will edit module_{step % 5}.py: " + "the totals are off by one. " * 6, model="gpt-4o",
                     input_tokens=900 + step, output_tokens=120)
    with agitlog.tool("write_file", path=f"module_{step % 5}.py") as call:
        lines = [f"def total_{i}(xs):\n    return sum(xs) + {step}\n" for i in range(10)]
        pathlib.Path(f"module_{step % 5}.py").write_text("".join(lines))
        call.result = {"written": len(lines)}
    agitlog.state({"step": step, "files": [f"module_{step % 5}.py"]})
    agitlog.decision(f"continue after step {step}", reasoning="the tests still fail " * 3)
    for n in range(14):
        agitlog.log(f"checked invoice {step}-{n}: amount due recomputed and compared with the ledger entry")
'''


def test_a_thousand_events_and_fifty_steps_fit_in_two_megabytes(repo: Path, tmp_path: Path) -> None:
    assert run_python_agent(repo, BIG).returncode == 0
    where = agit.find_repo(repo)
    result = export_html(where, session=None, output=tmp_path / "big.html")
    assert result.events >= 1000 and result.steps >= 51
    assert result.size <= 2 * 1024 * 1024, result.size
    document = _data_block((tmp_path / "big.html").read_text())
    changed = [s for s in document["steps"] if s["files"]]
    assert len(changed) >= 50 and all(f["hunks"] for s in changed[1:] for f in s["files"])


def test_export_needs_a_target_and_a_known_session(repo: Path, tmp_path: Path) -> None:
    assert run_python_agent(repo, "import agitlog\nagitlog.log('x')\n").returncode == 0
    proc = agitlog("export", cwd=repo)
    assert proc.returncode == 2 and "--html" in proc.stderr
    proc = agitlog("export", "nosuchsession", "--html", str(tmp_path / "x.html"), cwd=repo)
    assert proc.returncode != 0 and not (tmp_path / "x.html").exists()
