"""No secret reaches git objects or the journal: secrets planted in every kind of event are redacted
before anything is written."""
from __future__ import annotations

import json
import random
import string
import subprocess
from pathlib import Path

from helpers import agitlog_json, run_python_agent


def _rand(alphabet: str, n: int, seed: int) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice(alphabet) for _ in range(n))


ALNUM = string.ascii_letters + string.digits


def planted_secrets() -> dict[str, str]:
    """Realistic-looking fake credentials, built at run time so none is stored in the repository."""
    header = "eyJhbGciOiJIUzI1NiJ9"
    return {
        "openai": "sk-proj-" + _rand(ALNUM, 48, 1),
        "anthropic": "sk-ant-api03-" + _rand(ALNUM + "-_", 93, 2),
        "github": "ghp_" + _rand(ALNUM, 36, 3),
        "github_pat": "github_pat_" + _rand(ALNUM + "_", 82, 4),
        "aws_id": "AKIA" + _rand(string.ascii_uppercase + string.digits, 16, 5),
        "aws_secret": _rand(ALNUM + "/+", 40, 6),
        "slack": "xoxb-" + _rand(string.digits, 12, 7) + "-" + _rand(ALNUM, 24, 8),
        "google": "AIza" + _rand(ALNUM + "-_", 35, 9),
        "jwt": header + ".eyJzdWIiOiIxMjM0NTY3ODkwIn0." + _rand(ALNUM + "-_", 43, 10),
        "pem_body": _rand(ALNUM + "+/", 64, 11),
        "url_password": "pw" + _rand(ALNUM, 18, 12),
        "assignment": _rand(ALNUM, 32, 13),
        "bearer": _rand(ALNUM, 40, 14),
        "custom": "acct-" + _rand(string.digits, 8, 15),
    }


AGENT = """
import agitlog, json, os, pathlib, shutil, sys
s = json.loads(pathlib.Path(sys.argv[1]).read_text())
pem = "-----BEGIN RSA PRIVATE KEY-----\\n" + s["pem_body"] + "\\n-----END RSA PRIVATE KEY-----"
agitlog.prompt(f"use key {s['openai']} and {s['anthropic']} to call the API", model="gpt-4o",
               messages=[{"role": "user", "content": "token " + s["github"]}])
agitlog.response(f"here is the JWT {s['jwt']}", model="gpt-4o")
with agitlog.tool("deploy", aws_access_key_id=s["aws_id"], aws_secret_access_key=s["aws_secret"],
                  url=f"postgres://admin:{s['url_password']}@db.internal:5432/app") as call:
    call.result = {"log": f"config: api_key={s['assignment']}", "headers": {"Authorization": "Bearer " + s["bearer"]}}
agitlog.state({"slack": s["slack"], "google": s["google"], "key": pem, "nested": [{"pat": s["github_pat"]}]})
agitlog.decision("rotate", reasoning=f"account {s['custom']} leaked")
agitlog.log("done", password="hunter2-" + s["assignment"])
journal = pathlib.Path(os.environ["AGITLOG_REPO"]) / ".git" / "agitlog" / "journal" / os.environ["AGITLOG_SESSION"]
shutil.copy(journal / "events.jsonl", sys.argv[2])
"""


def test_no_planted_secret_reaches_git_or_the_journal(repo: Path) -> None:
    secrets = planted_secrets()
    (repo / ".agitlog.toml").write_text('[redact]\npatterns = ["acct-[0-9]{8}"]\n')
    secrets_file = repo.parent / "secrets.json"
    secrets_file.write_text(json.dumps(secrets))
    journal_copy = repo.parent / "journal-copy.jsonl"
    proc = run_python_agent(repo, AGENT, script_args=(str(secrets_file), str(journal_copy)))
    assert proc.returncode == 0, proc.stderr

    objects = subprocess.run(["git", "rev-list", "--objects", "--all"], cwd=repo, capture_output=True,
                             text=True, check=True).stdout.split()
    shas = [token for token in objects if len(token) == 40]
    blobs = subprocess.run(["git", "cat-file", "--batch"], cwd=repo, input="\n".join(shas).encode(),
                           capture_output=True, check=True).stdout
    journal = journal_copy.read_bytes()
    for name, value in secrets.items():
        assert value.encode() not in blobs, f"{name} reached a git object"
        assert value.encode() not in journal, f"{name} reached the journal"
    events = agitlog_json("show", cwd=repo)["events"]
    text = json.dumps(events)
    for kind in ("openai", "anthropic", "github", "aws", "jwt", "slack", "google", "private_key", "url_password",
                 "custom"):
        assert f"[REDACTED:{kind}]" in text, kind
    deploy = next(e for e in events if e["type"] == "tool.call")["data"]["arguments"]
    assert deploy["url"].startswith("postgres://admin:") and deploy["url"].endswith("@db.internal:5432/app")

