"""The README's examples work as printed, on the demo's repository after a rerun (two sessions and
more: no example may depend on there being only one), and so do the `$ agitlog ...` examples of
docs/, with their illustrative session ids, files and remotes standing for the demo's."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import AGITLOG, agitlog, agitlog_json, path_without_agitlog

pytestmark = pytest.mark.xdist_group("test_readme")  # one demo for both tests, README first

README = Path(__file__).resolve().parent.parent / "README.md"
DOCS = README.parent / "docs"
NEEDS_YOUR_PROJECT = ("agitlog run -- python agent.py", "compare ID_A", "bisect -- pytest", "blame app/",
                      "push", "fetch origin", "remote setup", "git log --oneline refs/agent-sessions/<id>",
                      "run -- claude", "run -- codex", "run -- gemini", "run -- aider")


def _readme_commands() -> list[str]:
    """Every `agitlog ...` line of the README's bash blocks, without its comment, except the ones
    that need the reader's own project, agent or remote."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.S):
        for line in block.splitlines():
            command = re.sub(r"\s+#.*$", "", line).strip()
            if command.startswith("agitlog ") and not any(skip in command for skip in NEEDS_YOUR_PROJECT):
                commands.append(command)
    return commands


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's repository with two sessions, the latest a rerun."""
    demo = tmp_path_factory.mktemp("readme") / "demo"
    assert agitlog("demo", str(demo), cwd=demo.parent).returncode == 0
    assert agitlog("rerun", cwd=demo).returncode == 0
    return demo


def _as_typed(home: Path) -> dict[str, str]:
    """The environment of a user who types `agitlog`: this installation's bin directory first on PATH."""
    return dict(os.environ, HOME=str(home), PATH=f"{Path(AGITLOG).parent}{os.pathsep}{path_without_agitlog()}")


def test_readme_examples_work_verbatim_with_several_sessions(demo: Path) -> None:
    commands = _readme_commands()
    assert any("replay --at" in c for c in commands) and any("state --at" in c for c in commands)
    env = _as_typed(Path.home())
    for command in commands:
        proc = subprocess.run(command, shell=True, cwd=demo, env=env, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=120)
        # rerun says 1 when it did not reproduce; the recording's order of an SDK event against a proxied
        # model call can differ between runs (a rerun matter, not the README's), so that answer is allowed
        ran = proc.returncode == 1 and " rerun " in f" {command} " and "did NOT reproduce" in proc.stdout
        assert proc.returncode == 0 or ran, (command, proc.stderr)


# What the docs' examples name that a demo does not have, and what stands for it here.
NEEDS_AN_AGENT_OR_SERVICE = ("run -- python agent.py", "bisect -- pytest", "--otlp http://localhost")  # a model, tests, a collector
FILES = {"app/billing.py": "agent.py"}
ORIGINAL_IDS = ("20261126-0344", "20261120-1015", "2026ab", "3f9a1c", "235363", "3f9a")


def _docs_examples() -> list[tuple[str, str]]:
    """(doc, command) for every `$ agitlog ...` line of docs/, in order, removals last (they delete
    the sessions the others name)."""
    examples = []
    for doc in sorted(DOCS.rglob("*.md"), key=lambda p: (p.name == "rm-gc.md", str(p))):
        for line in doc.read_text().splitlines():
            command = re.sub(r"\s+#.*$", "", line.removeprefix("$ ")).strip()
            if line.startswith("$ agitlog ") and not any(need in command for need in NEEDS_AN_AGENT_OR_SERVICE):
                examples.append((doc.name, command))
    return examples


def _as_in_demo(command: str, *, original: str, rerun: str, shared: Path) -> str:
    for name, stand_in in FILES.items():
        command = command.replace(name, stand_in)
    command = command.replace("/mnt/share/project.git", str(shared)).replace("/tmp/step0", str(shared.parent / "step0"))
    if command.startswith("agitlog rm ") and "--remote" not in command:
        return re.sub("|".join(ORIGINAL_IDS), rerun, command)  # the rerun goes first, the original with origin's copy
    return re.sub("|".join(ORIGINAL_IDS), original, command)


def _commit_everything(repo: Path) -> None:
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", "-c", "user.name=u", "-c", "user.email=u@example.com", "commit", "-qm", "work"],
                   cwd=repo, check=True)


def test_docs_examples_work_in_a_repository_with_several_sessions(demo: Path, tmp_path: Path) -> None:
    examples = _docs_examples()
    assert len(examples) >= 30 and any(doc == "rm-gc.md" for doc, _ in examples)
    if shutil.which("jq") is None:
        examples = [(doc, command) for doc, command in examples if "| jq" not in command]
    for remote in ("origin", "upstream", "shared"):
        subprocess.run(["git", "init", "-q", "--bare", str(tmp_path / f"{remote}.git")], check=True)
    for remote in ("origin", "upstream"):
        subprocess.run(["git", "remote", "add", remote, str(tmp_path / f"{remote}.git")], cwd=demo, check=True)
    ids = sorted(s["id"] for s in agitlog_json("log", cwd=demo))
    original, rerun = ids[0], ids[-1]  # the demo's run and the latest rerun of it
    shutil.rmtree(demo.parent / "at-step-1", ignore_errors=True)  # the README's checkout made it; so does a doc's
    env = _as_typed(tmp_path)
    for doc, example in examples:
        command = _as_in_demo(example, original=original, rerun=rerun, shared=tmp_path / "shared.git")
        if "--here" in command:  # as its doc says: commit your work first (the examples wrote files)
            _commit_everything(demo)
        proc = subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=demo, env=env, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=120)  # pipefail: agitlog's code, not jq's
        nothing_found = proc.returncode == 1 and command.startswith("agitlog search ")  # search's documented 1
        assert proc.returncode == 0 or nothing_found, (doc, example, command, proc.stdout[-1000:], proc.stderr[-2000:])
