"""Issue 11, done when: credentials of every format, planted in every place a session can carry text,
are found nowhere afterwards: not in any git object (reachable or not, gzip inside one decompressed),
not in the journal, the search index, the caches or the reflogs.

Places (19): argv, --name, the working directory's name, an environment variable's name, a prompt, a
model answer, tool arguments, a tool result, state, a decision, log fields, `agitlog emit --data`,
the raw wire protocol, a proxied request body (with a credential header), a gzip proxied response,
a streamed proxied response (each secret split across events), stdout and stderr (--capture-output),
and an untracked credential file (.env) in the worktree.
"""
from __future__ import annotations

import gzip
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import AGITLOG, agitlog, git, run_python_agent, session_ids
from localhttp import QuietHandler, serving, url
from test_redact import TOKEN_CASES

SECRETS = [secret for _, secret, _ in TOKEN_CASES]
KINDS = {kind for _, _, kind in TOKEN_CASES}


class _Upstream(QuietHandler):
    """A model that answers with every secret: gzip-encoded JSON, or a stream that cuts each secret
    into three events."""

    protocol_version = "HTTP/1.0"

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if request.get("stream"):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for secret in SECRETS:
                third = max(len(secret) // 3, 1)
                for piece in (secret[:third], secret[third:2 * third], secret[2 * third:], " "):
                    delta = {"choices": [{"index": 0, "delta": {"content": piece}}]}
                    self.wfile.write(f"data: {json.dumps(delta)}\n\n".encode())
                    self.wfile.flush()
            self.wfile.write(b"data: [DONE]\n\n")
            return
        answer = {"id": "c1", "object": "chat.completion", "model": "m",
                  "choices": [{"index": 0, "message": {"role": "assistant", "content": " ".join(SECRETS)},
                               "finish_reason": "stop"}], "usage": {"prompt_tokens": 1, "completion_tokens": 1}}
        body = gzip.compress(json.dumps(answer).encode())
        self.reply(body, Content_Encoding="gzip")


@pytest.fixture
def upstream() -> Iterator[str]:
    with serving(_Upstream) as server:
        yield url(server, "/v1")


AGENT = r"""
import gzip, json, os, pathlib, shutil, socket, subprocess, sys, urllib.request
secrets = json.loads(pathlib.Path(sys.argv[1]).read_text())
copy_to, agitlog_cmd = pathlib.Path(sys.argv[2]), sys.argv[3]
text = "\n".join(f"credential {i}: {s}" for i, s in enumerate(secrets))
base = os.environ["OPENAI_BASE_URL"]

def call(stream):
    body = json.dumps({"model": "m", "stream": stream, "messages": [{"role": "user", "content": text}]}).encode()
    req = urllib.request.Request(base + "/chat/completions", data=body, headers={
        "Content-Type": "application/json", "Accept-Encoding": "gzip, br, zstd",
        "Authorization": "Bearer " + secrets[0]})
    with urllib.request.urlopen(req, timeout=30) as resp:
        raw = resp.read()
        return gzip.decompress(raw) if resp.headers.get("Content-Encoding") == "gzip" else raw

answer = json.loads(call(False))["choices"][0]["message"]["content"]
assert secrets[5] in answer  # the child gets the real answer: redaction is only what is stored
streamed = call(True).decode()
assert secrets[5][:5] in streamed

import agitlog
agitlog.prompt(text, model="m", messages=[{"role": "user", "content": text}])
agitlog.response(text, model="m")
with agitlog.tool("deploy", config=text, keys=secrets) as t:
    t.result = {"log": text, "keys": secrets}
agitlog.state({"creds": secrets, "notes": text})
agitlog.decision("rotate", reasoning=text)
agitlog.log("done", detail=text, keys=secrets)

subprocess.run([agitlog_cmd, "emit", "note", "--data", json.dumps({"text": text, "keys": secrets})], check=True)

host, port = os.environ["AGITLOG_ADDR"].rsplit(":", 1)
with socket.create_connection((host, int(port))) as sock:
    sock.sendall(os.environ["AGITLOG_TOKEN"].encode() + b"\n")
    sock.sendall(json.dumps({"type": "log", "data": {"message": text}, "ack": True}).encode() + b"\n")
    sock.makefile("rb").readline()

pathlib.Path(".env").write_text("\n".join(f"KEY_{i}={s}" for i, s in enumerate(secrets)) + "\n")
print(text, flush=True)
print(text, file=sys.stderr, flush=True)

journal = pathlib.Path(os.environ["AGITLOG_REPO"]) / ".git" / "agitlog" / "journal" / os.environ["AGITLOG_SESSION"]
shutil.copytree(journal, copy_to)
"""


def _everything_stored(repo: Path, journal_copy: Path) -> bytes:
    objects = subprocess.run(["git", "cat-file", "--batch-all-objects", "--batch"], cwd=repo,
                             capture_output=True, check=True).stdout
    parts = [objects]
    start = 0
    while (start := objects.find(b"\x1f\x8b", start)) >= 0:  # gzip streams inside objects
        try:
            parts.append(gzip.decompress(objects[start:]))
        except (OSError, EOFError):
            pass
        start += 2
    for root in (repo / ".git", journal_copy):
        for path in root.rglob("*"):
            if path.is_file() and "objects" not in path.relative_to(root).parts[:1]:
                parts.append(path.read_bytes())
    return b"\n".join(parts)


def _fragments(secret: str) -> Iterator[str]:
    """The secret and every 8-character window of what follows its first 8 characters (a format's
    fixed prefix is no secret): a leaked piece of 10 characters or more contains one."""
    yield secret
    body = secret[8:]
    for i in range(0, max(len(body) - 7, 1), 2):
        window = body[i:i + 8]
        if len(window) == 8 and window.strip("-=+/_.\n ") == window:
            yield window


def test_no_planted_secret_is_stored_anywhere(repo: Path, upstream: str, tmp_path: Path) -> None:
    assert len(KINDS) >= 25 and len(SECRETS) >= 60
    secrets_file = tmp_path / "secrets.json"
    secrets_file.write_text(json.dumps(SECRETS))
    stripe = next(s for case, s, _ in TOKEN_CASES if case == "stripe-secret")
    workdir = repo / f"work-{stripe}"
    workdir.mkdir()
    journal_copy = tmp_path / "journal-copy"
    huggingface = next(s for case, s, _ in TOKEN_CASES if case == "huggingface")
    env = {"OPENAI_BASE_URL": upstream, f"CFG_{huggingface}": "1"}  # a name may hold a key: no "-" in names
    argv = [f"--api-key={SECRETS[2]}", *SECRETS]
    proc = run_python_agent(repo, AGENT, "--capture-output", "--name", " ".join(SECRETS[:20]), cwd=workdir,
                            env=env, script_args=(str(secrets_file), str(journal_copy), AGITLOG, *argv))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert SECRETS[5] in proc.stdout  # the terminal shows the child's output unredacted

    for command in (("log",), ("show",), ("search", "credential"), ("show", "--json")):
        assert agitlog(*command, cwd=repo).returncode == 0
    (session,) = session_ids(repo)
    events = [json.loads(line) for line in git(repo, "show", f"refs/agent-sessions/{session}:events.jsonl").splitlines()]
    types = {e["type"] for e in events}
    assert {"llm.request", "llm.response", "tool.call", "tool.result", "state", "decision", "log", "note",
            "output"} <= types, types
    responses = [e["data"] for e in events if e["type"] == "llm.response" and "body_ref" in e["data"]]
    assert len(responses) == 2 and all(r["body_ref"] for r in responses)

    stored = _everything_stored(repo, journal_copy)
    text = stored.decode("utf-8", "replace")
    leaks = [(case, fragment) for (case, secret, _) in TOKEN_CASES for fragment in _fragments(secret)
             if fragment in text]
    assert not leaks, f"{len(leaks)} leaked, e.g. {leaks[:5]}"
    found = {kind for kind in KINDS if f"[REDACTED:{kind}]" in text}
    assert found == KINDS  # every format was seen (and replaced), not merely lost


def test_a_rerun_serves_the_redacted_gzip_and_stream_bodies_to_the_client(repo: Path, upstream: str,
                                                                       tmp_path: Path) -> None:
    code = r"""
import gzip, json, os, urllib.request
def call(stream):
    body = json.dumps({"model": "m", "stream": stream, "messages": []}).encode()
    req = urllib.request.Request(os.environ["OPENAI_BASE_URL"] + "/chat/completions", data=body,
                                 headers={"Content-Type": "application/json", "Accept-Encoding": "gzip"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        raw = resp.read()
        return gzip.decompress(raw) if resp.headers.get("Content-Encoding") == "gzip" else raw
print(json.dumps({"plain": json.loads(call(False))["choices"][0]["message"]["content"],
                  "stream": call(True).decode()}))
"""
    recorded = run_python_agent(repo, code, env={"OPENAI_BASE_URL": upstream})
    assert recorded.returncode == 0, recorded.stderr
    (session,) = session_ids(repo)
    rerun = agitlog("rerun", session, cwd=repo, env={"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})
    assert rerun.returncode in (0, 1), rerun.stderr  # 1: the answers differ from the recording (redacted)
    served = json.loads(next(line for line in rerun.stdout.splitlines() if line.startswith('{"plain"')))
    assert served["plain"].startswith("[REDACTED:") and SECRETS[0] not in served["plain"]
    events = [line for line in served["stream"].split("\n\n") if line.startswith("data: {")]
    assert len(events) == 4 * len(SECRETS)  # the recorded events, one per chunk as they were sent
    leaked = [f for secret in SECRETS for f in _fragments(secret) if f in served["plain"] + served["stream"]]
    assert not leaked, leaked[:5]
    assert served["stream"].count("[REDACTED:") == len(SECRETS)
