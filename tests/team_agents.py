"""Agents and repositories shared by the teamwork tests (share, bisect, hooks, blame, search)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from helpers import git, init_repo, run_python_agent

# Four steps, each a prompt, a response, and a decision scoping a tool call that rewrites app/calc.py.
# Step 3 breaks check.py; with FLAKY=2 (or 4), checking step 2 (or 4) exits 125 (cannot test).
STEP_AGENT = """
    import agitlog, pathlib, sys

    VERSIONS = [
        "def total(xs):\\n    # tidy\\n    return sum(xs)\\n",
        "def total(xs):\\n    # tidy\\n    # flaky\\n    return sum(xs)\\n",
        "def total(xs):\\n    # tidy\\n    # flaky\\n    return sum(xs) + 1  # off by one\\n",
        "def total(xs):\\n    # tidy\\n    # flaky\\n    return sum(xs) + 1  # off by one\\n\\nTAX = 0.2\\n",
    ]
    for n, text in enumerate(VERSIONS, 1):
        agitlog.prompt(f"step {n}: improve overdue_invoices totals", model="gpt-test")
        agitlog.response(f"I will rewrite calc.py for step {n}", model="gpt-test", input_tokens=10, output_tokens=5)
        with agitlog.decision(f"rewrite calc {n}", reasoning=f"because step {n} needs it"):
            with agitlog.tool("write_file", path="app/calc.py", step=n) as call:
                pathlib.Path("app/calc.py").write_text(text)
                call.result = f"wrote {len(text)} bytes"
    agitlog.state({"done": True, "note": "all four steps applied"})
    agitlog.error("a harmless warning about ledger_sync")
"""

CHECK = """
import os, sys
sys.path.insert(0, os.getcwd())
src = open("app/calc.py").read()
flaky = os.environ.get("FLAKY")  # "2": step 2 cannot be tested; "4": step 4 cannot
if (flaky == "2" and "# flaky" in src and "off by one" not in src) or (flaky == "4" and "TAX" in src):
    sys.exit(125)
from app.calc import total
sys.exit(0 if total([1, 2]) == 3 else 1)
"""


def calc_repo(path: Path) -> Path:
    """A repository with app/calc.py (correct) and check.py (exit 0 when total([1, 2]) == 3)."""
    repo = init_repo(path)
    (repo / "app").mkdir()
    (repo / "app" / "__init__.py").write_text("")
    (repo / "app" / "calc.py").write_text("def total(xs):\n    return sum(xs)\n")
    (repo / "check.py").write_text(CHECK)
    (repo / ".gitignore").write_text("__pycache__/\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "calc")
    return repo


def record_step_agent(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    proc = run_python_agent(repo, STEP_AGENT, *args)
    assert proc.returncode == 0, proc.stderr
    return proc


def check_command() -> list[str]:
    return [sys.executable, "check.py"]
