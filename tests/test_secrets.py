"""Issue 11: secrets never leave the machine. Metadata redaction, content codings, stream redaction,
private file modes, the push-time scan and the proxy's authentication (see tests/llm/ for the
proxy's own tests)."""
from __future__ import annotations

import gzip
import json
import os
import stat
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import agitlog, agitlog_json, git, run_python_agent, session_ids
from test_redact import TOKEN_CASES

from agitlog.capture.llm.encoding import decode_content, narrow_accept_encoding
from agitlog.capture.llm.streams import redact_event_stream
from agitlog.redact import DEFAULT_REDACTOR

STRIPE = next(secret for case, secret, _ in TOKEN_CASES if case == "stripe-secret")
GITHUB = next(secret for case, secret, _ in TOKEN_CASES if case == "github-ghp")
HUGGINGFACE = next(secret for case, secret, _ in TOKEN_CASES if case == "huggingface")


# --- spans and streams ------------------------------------------------------------------------------

@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.sampled_from([s for _, s, _ in TOKEN_CASES]), st.text(max_size=20)), max_size=6))
def test_redact_spans_say_exactly_what_was_replaced(parts: list[str]) -> None:
    text = " ".join(parts)
    redacted, spans = DEFAULT_REDACTOR.redact_spans(text)
    assert redacted == DEFAULT_REDACTOR.redact_text(text)
    rebuilt, last = [], 0
    for start, end, marker in spans:
        assert last <= start < end <= len(text)
        rebuilt += [text[last:start], marker]
        last = end
    assert "".join(rebuilt) + text[last:] == redacted


def _stream(pieces: list[str]) -> str:
    events = [f"data: {json.dumps({'choices': [{'delta': {'content': p}}]})}\n\n" for p in pieces]
    return "".join(events) + "data: [DONE]\n\n"


def test_a_secret_streamed_across_events_is_redacted_and_events_are_kept() -> None:
    pieces = ["Your keys: ", STRIPE[:6], STRIPE[6:20], STRIPE[20:], " and ", GITHUB[:9], GITHUB[9:], "."]
    out = redact_event_stream(_stream(pieces), DEFAULT_REDACTOR)
    for secret in (STRIPE, GITHUB):
        for piece in (secret[6:20], secret[20:], secret[9:]):
            assert piece not in out
    events = [e for e in out.split("\n\n") if e]
    assert len(events) == len(pieces) + 1  # one event per event sent, so a rerun streams the same way
    text = "".join(json.loads(e[6:])["choices"][0]["delta"]["content"] for e in events[:-1])
    assert text == "Your keys: [REDACTED:stripe] and [REDACTED:github]."


def test_stream_fields_other_than_deltas_are_redacted_as_text() -> None:
    body = f'event: x\ndata: {{"id": "{HUGGINGFACE}", "delta": {{"text": "hi"}}}}\n\n'
    out = redact_event_stream(body, DEFAULT_REDACTOR)
    assert HUGGINGFACE not in out and "[REDACTED:huggingface]" in out and '"text": "hi"' in out


# --- content codings ---------------------------------------------------------------------------------

def test_content_codings_are_undone_in_reverse_order() -> None:
    body = b'{"a": 1}'
    assert decode_content(gzip.compress(body), "gzip") == body
    assert decode_content(zlib.compress(body), "deflate") == body
    raw = zlib.compressobj(wbits=-15)
    assert decode_content(raw.compress(body) + raw.flush(), "deflate") == body
    assert decode_content(gzip.compress(zlib.compress(body)), "deflate, gzip") == body
    assert decode_content(body, None) == body and decode_content(body, "identity") == body
    assert decode_content(b"not gzip", "gzip") is None
    assert decode_content(body, "compress") is None


def test_accept_encoding_is_narrowed_to_what_can_be_decoded() -> None:
    narrowed = narrow_accept_encoding("gzip, deflate, br;q=0.9, zstd, compress")
    assert narrowed.startswith("gzip, deflate") and "compress" not in narrowed
    assert narrow_accept_encoding("compress") == "identity"


# --- metadata -----------------------------------------------------------------------------------------

def test_argv_name_cwd_and_env_names_are_redacted_everywhere(repo: Path) -> None:
    workdir = repo / f"build-{STRIPE[:20]}"  # a directory name can hold a key too
    workdir.mkdir()
    env = {f"KEY_{HUGGINGFACE}": "1"}
    proc = agitlog("run", "--name", f"deploy with {GITHUB}", "--", sys.executable, "-c", "pass",
                   f"--api-key={STRIPE}", HUGGINGFACE, cwd=workdir, env=env)
    assert proc.returncode == 0, proc.stderr
    agitlog("log", cwd=repo)  # fills the listing cache
    agitlog("log", "--json", cwd=repo)  # and the metadata cache
    (session,) = session_ids(repo)
    ref = f"refs/agent-sessions/{session}"
    meta = git(repo, "show", f"{ref}:session.toml")
    subjects = git(repo, "log", "--format=%B", ref)
    caches = sorted((repo / ".git" / "agitlog" / "cache").iterdir())
    assert {"log.marshal", "sessions.marshal"} <= {path.name for path in caches}
    cache = b"".join(path.read_bytes() for path in caches)
    for secret in (STRIPE, GITHUB, HUGGINGFACE, STRIPE[:20]):
        for where, text in (("session.toml", meta), ("commit messages", subjects), ("cache", cache.decode("latin-1"))):
            assert secret not in text, f"{secret[:8]}... in {where}"
    assert "[REDACTED:github]" in subjects and "--api-key=[REDACTED:stripe]" in meta


# --- private files ------------------------------------------------------------------------------------

AGENT_WITH_MODEL_CALL = """
import gzip, json, os, urllib.request
body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).encode()
req = urllib.request.Request(os.environ["OPENAI_BASE_URL"] + "/chat/completions", data=body,
                             headers={"Content-Type": "application/json"})
try:
    urllib.request.urlopen(req, timeout=5).read()
except Exception:
    pass  # no upstream: the proxy answers 502, and records the call all the same
import agitlog
agitlog.log("done")
"""


def test_everything_under_the_state_dir_is_private_whatever_the_umask(repo: Path) -> None:
    old = os.umask(0o002)
    try:
        (repo / "new.txt").write_text("x\n")
        proc = run_python_agent(repo, AGENT_WITH_MODEL_CALL, env={"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})
        assert proc.returncode == 0, proc.stderr
        for command in (("log",), ("log", "--json"), ("search", "done"), ("show",)):
            assert agitlog(*command, cwd=repo).returncode == 0
        state = repo / ".git" / "agitlog"
        seen = []
        for path in [state, *state.rglob("*")]:
            if path.is_symlink():
                continue  # the agitlog command for the child (capture/shim.py); a link's mode means nothing
            mode = stat.S_IMODE(path.lstat().st_mode)
            seen.append(path.name)
            if path.is_dir():
                assert mode == 0o700, f"{path} is {oct(mode)}"
            else:
                assert mode & 0o077 == 0, f"{path} is {oct(mode)}"
        assert {"log.marshal", "sessions.marshal", "search.sqlite"} <= set(seen)
    finally:
        os.umask(old)


def test_a_live_journal_is_private(repo: Path) -> None:
    code = """
import os, pathlib, stat, sys
journal = pathlib.Path(os.environ["AGITLOG_REPO"]) / ".git" / "agitlog" / "journal" / os.environ["AGITLOG_SESSION"]
import agitlog
agitlog.log("one")
agitlog.flush() if hasattr(agitlog, "flush") else None
modes = {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in [journal.parent.parent, journal.parent, journal, *journal.iterdir()]}
print(modes)
"""
    old = os.umask(0o000)
    try:
        proc = run_python_agent(repo, code)
    finally:
        os.umask(old)
    assert proc.returncode == 0, proc.stderr
    modes = eval(proc.stdout.strip().splitlines()[-1])  # noqa: S307 - our own child's repr of a dict of str
    for name, mode in modes.items():
        assert mode in ("0o700", "0o600"), (name, mode)
    assert modes["start.json"] == "0o600" and modes["events.jsonl"] == "0o600" and modes["index"] == "0o600"


# --- the push-time scan -------------------------------------------------------------------------------

WRITE_SETTINGS = """
import pathlib, sys
pathlib.Path("settings.py").write_text("STRIPE_KEY = '" + sys.argv[1] + "'\\n")
"""


@pytest.fixture
def published(repo: Path, tmp_path: Path) -> Path:
    """``repo`` with a bare ``origin`` that has its main branch."""
    remote = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "push", "-q", "origin", "main")
    return remote


def test_a_secret_in_a_file_the_agent_wrote_blocks_push_until_allowed(repo: Path, published: Path) -> None:
    proc = run_python_agent(repo, WRITE_SETTINGS, script_args=(STRIPE,))
    assert proc.returncode == 0, proc.stderr
    (session,) = session_ids(repo)

    refused = agitlog("push", cwd=repo)
    assert refused.returncode == 1
    assert session in refused.stderr and "settings.py" in refused.stderr and "stripe" in refused.stderr
    assert "step 1" in refused.stderr and "--allow-secrets" in refused.stderr
    assert STRIPE not in refused.stderr + refused.stdout
    assert git(published, "for-each-ref", "refs/agent-sessions/") == ""

    scan = agitlog("scan", "--json", cwd=repo)
    assert scan.returncode == 1
    findings = json.loads(scan.stdout)["findings"]
    assert [(f["session"], f["step"], f["path"], f["kind"]) for f in findings] == [(session, 1, "settings.py", "stripe")]
    assert STRIPE not in scan.stdout

    bundle = agitlog("bundle", "-o", str(repo.parent / "s.bundle"), cwd=repo)
    assert bundle.returncode == 1 and "settings.py" in bundle.stderr
    assert not (repo.parent / "s.bundle").exists()

    allowed = agitlog("push", "--allow-secrets", cwd=repo)
    assert allowed.returncode == 0, allowed.stderr
    assert session in git(published, "for-each-ref", "refs/agent-sessions/")


def test_clean_sessions_push_and_what_was_published_is_not_read_again(repo: Path, published: Path) -> None:
    (repo / "notes.md").write_text("the tokenizer splits text into tokens\n")
    assert run_python_agent(repo, "print('hi')").returncode == 0
    first = agitlog_json("scan", cwd=repo)
    assert first["clean"] and first["scanned_blobs"] >= 2  # notes.md, the record's files
    assert agitlog("push", cwd=repo).returncode == 0
    again = agitlog_json("scan", cwd=repo)
    assert again["clean"] and again["scanned_blobs"] == 0


def test_the_pre_push_hook_keeps_secret_sessions_home_but_never_blocks_git_push(repo: Path, published: Path) -> None:
    assert agitlog("remote", "setup", cwd=repo).returncode == 0
    assert run_python_agent(repo, WRITE_SETTINGS, script_args=(STRIPE,)).returncode == 0
    (repo / "README.md").write_text("# demo, changed\n")
    git(repo, "commit", "-qam", "docs")
    push = subprocess.run(["git", "push", "origin", "main"], cwd=repo, capture_output=True, text=True)
    assert push.returncode == 0, push.stderr
    assert "settings.py" in push.stderr and STRIPE not in push.stderr
    assert git(published, "rev-parse", "main").strip() == git(repo, "rev-parse", "main").strip()
    assert git(published, "for-each-ref", "refs/agent-sessions/") == ""


def test_untracked_credential_files_stay_out_of_snapshots_and_the_list_is_configurable(repo: Path) -> None:
    (repo / ".agitlog.toml").write_text('[snapshot]\nsecret_files = [".env", "creds.json"]\n')
    git(repo, "add", ".agitlog.toml")
    git(repo, "commit", "-qm", "config")
    code = """
import pathlib, sys
pathlib.Path(".env").write_text("TOKEN=" + sys.argv[1] + "\\n")
pathlib.Path("creds.json").write_text('{"k": "' + sys.argv[1] + '"}')
"""
    assert run_python_agent(repo, code, script_args=(STRIPE,)).returncode == 0
    objects = subprocess.run(["git", "cat-file", "--batch-all-objects", "--batch"], cwd=repo,
                             capture_output=True, check=True).stdout
    assert STRIPE.encode() not in objects
    skips = [e["data"] for e in agitlog_json("show", cwd=repo)["events"] if e["type"] == "snapshot.skip"]
    assert {(s["path"], s["reason"]) for s in skips} == {(".env", "secret"), ("creds.json", "secret")}
