"""Tests for agitlog.redact: every recorded event passes through it before reaching disk or git.

Fake credentials are generated at runtime from a seeded RNG and assembled by concatenation, so no
credential-shaped literal lives in the repository (and push protection has nothing to flag).
"""
from __future__ import annotations

from collections.abc import Iterator

import base64
import copy
import hashlib
import json
import random
import re
import signal
import string
import uuid
from types import MappingProxyType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agitlog.errors import AgitlogError, ConfigError
from agitlog.redact import DEFAULT_REDACTOR, KINDS, Redactor, is_secret_name

_RNG = random.Random(20240405)
ALNUM = string.ascii_letters + string.digits
URLSAFE = ALNUM + "_-"
UPPER_DIGITS = string.ascii_uppercase + string.digits


def _rand(n: int, alphabet: str = ALNUM) -> str:
    """Random characters that always include an upper-case letter, a lower-case one and a digit."""
    body = "".join(_RNG.choice(alphabet) for _ in range(n - 3))
    return body[: n // 2] + _RNG.choice(string.ascii_uppercase) + _RNG.choice(string.digits) \
        + _RNG.choice(string.ascii_lowercase) + body[n // 2:]


def _b64url(obj: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def _pem(label: str, extra_headers: str = "") -> str:
    body = base64.b64encode(_RNG.randbytes(600)).decode()
    lines = "\n".join(body[i:i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN {label}-----\n{extra_headers}{lines}\n-----END {label}-----"


def _hex(n: int) -> str:
    return "".join(_RNG.choice("0123456789abcdef") for _ in range(n))


def _sha() -> str:
    return hashlib.sha1(_RNG.randbytes(16)).hexdigest()


# (case id, the credential as it appears in text, kind). All of it must disappear from the text.
TOKEN_CASES: list[tuple[str, str, str]] = [
    ("openai-legacy", "sk-" + _rand(48), "openai"),
    ("openai-project", "sk-" + "proj-" + _rand(120, URLSAFE), "openai"),
    ("openai-svcacct", "sk-" + "svcacct-" + _rand(100, URLSAFE), "openai"),
    ("anthropic", "sk-" + "ant-" + "api03-" + _rand(93, URLSAFE) + "AA", "anthropic"),
    ("anthropic-short", "sk-" + "ant-" + _rand(40, URLSAFE), "anthropic"),
    *[(f"github-gh{p}", "gh" + p + "_" + _rand(36), "github") for p in "pousr"],
    ("github-pat", "github_" + "pat_" + _rand(22) + "_" + _rand(59), "github"),
    ("aws-akia", "AK" + "IA" + _rand(16, UPPER_DIGITS).upper(), "aws"),
    ("aws-asia", "AS" + "IA" + _rand(16, UPPER_DIGITS).upper(), "aws"),
    ("google", "AI" + "za" + _rand(35, URLSAFE), "google"),
    *[(f"slack-xox{p}", "xox" + p + "-" + "".join(_RNG.choice(string.digits) for _ in range(12))
       + "-" + _rand(24), "slack") for p in "bpars"],
    ("jwt", _b64url({"alg": "HS256", "typ": "JWT"}) + "."
     + _b64url({"sub": "1234567890", "name": "agent", "iat": 1712345678}) + "." + _rand(43, URLSAFE),
     "jwt"),
    ("pem-rsa", _pem("RSA PRIVATE KEY"), "private_key"),
    ("pem-ec", _pem("EC PRIVATE KEY"), "private_key"),
    ("pem-openssh", _pem("OPENSSH PRIVATE KEY"), "private_key"),
    ("pem-pkcs8", _pem("PRIVATE KEY"), "private_key"),
    ("pem-encrypted", _pem("ENCRYPTED PRIVATE KEY"), "private_key"),
    ("pem-dsa", _pem("DSA PRIVATE KEY"), "private_key"),
    ("pem-pgp", _pem("PGP PRIVATE KEY BLOCK"), "private_key"),
    ("openai-project-letters-only", "sk-" + "proj-" + "".join(_RNG.choice(string.ascii_letters) for _ in range(64)),
     "openai"),
    ("stripe-secret", "sk_" + "live_" + _rand(99), "stripe"),
    ("stripe-restricted", "rk_" + "live_" + _rand(99), "stripe"),
    ("stripe-test", "sk_" + "test_" + _rand(24), "stripe"),
    ("stripe-webhook", "wh" + "sec_" + _rand(32), "stripe"),
    ("huggingface", "hf" + "_" + _rand(34), "huggingface"),
    ("npm", "npm" + "_" + _rand(36), "npm"),
    ("gitlab-pat", "gl" + "pat-" + _rand(20, URLSAFE), "gitlab"),
    ("gitlab-deploy", "gl" + "dt-" + _rand(24, URLSAFE), "gitlab"),
    ("pypi", "py" + "pi-" + "AgEIcHlwaS5vcmc" + _rand(70, URLSAFE), "pypi"),
    ("sendgrid", "SG" + "." + _rand(22, URLSAFE) + "." + _rand(43, URLSAFE), "sendgrid"),
    ("twilio-api-key", "SK" + _hex(32), "twilio"),
    ("twilio-account", "AC" + _hex(32), "twilio"),
    ("discord-bot", "M" + _rand(25, URLSAFE) + "." + _rand(6, URLSAFE) + "." + _rand(38, URLSAFE), "discord"),
    ("telegram-bot", "".join(_RNG.choice(string.digits) for _ in range(10)) + ":AA" + _rand(33, URLSAFE),
     "telegram"),
    ("digitalocean", "do" + "p_v1_" + _hex(64),
     "digitalocean"),
    ("databricks", "da" + "pi" + _hex(32), "databricks"),
    ("shopify-access", "shp" + "at_" + _hex(32), "shopify"),
    ("shopify-secret", "shp" + "ss_" + _hex(32), "shopify"),
    ("aws-secret-bare", "".join(_RNG.choice(string.ascii_letters) for _ in range(30)) + "/"
     + "".join(_RNG.choice(string.digits) for _ in range(2)) + "+" + _rand(6), "aws"),
    ("google-oauth-secret", "GOCSPX" + "-" + _rand(28, URLSAFE), "google"),
    ("vault", "hv" + "s." + _rand(90, URLSAFE), "vault"),
    ("grafana", "gl" + "sa_" + _rand(32) + "_" + _hex(8), "grafana"),
    ("groq", "gs" + "k_" + _rand(52), "groq"),
    ("xai", "xa" + "i-" + _rand(80), "xai"),
    ("replicate", "r8" + "_" + _rand(37), "replicate"),
    ("linear", "lin" + "_api_" + _rand(40), "linear"),
    ("postman", "PM" + "AK-" + _hex(24) + "-" + _hex(34),
     "postman"),
    ("mailchimp", _hex(32) + "-us" + "12", "mailchimp"),
    ("square", "sq0" + "atp-" + _rand(22, URLSAFE), "square"),
    ("atlassian", "ATA" + "TT3" + _rand(180, URLSAFE), "atlassian"),
    ("sentry", "sntr" + "ys_" + _rand(60), "sentry"),
    ("age", "AGE-SECRET" + "-KEY-1" + "".join(_RNG.choice(string.ascii_uppercase + string.digits) for _ in range(58)),
     "age"),
    ("pem-legacy-encrypted",
     _pem("RSA PRIVATE KEY", "Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,"
          + _rand(32, "0123456789ABCDEF") + "\n\n"), "private_key"),
]

# (case id, text, the secret part of it, kind): only the secret part is replaced.
VALUE_CASES: list[tuple[str, str, str, str]] = []


def _value_case(case_id: str, template: str, secret: str, kind: str) -> None:
    VALUE_CASES.append((case_id, template.format(secret), secret, kind))


_value_case("url-postgres", "postgres://admin:{}@db.internal:5432/app", _rand(20) + "!", "url_password")
_value_case("url-redis-no-user", "redis://:{}@cache:6379/0", _rand(24), "url_password")
_value_case("url-at-in-password", "https://bot:{}@git.example.com/org/repo.git",
            "p@ss" + _rand(12), "url_password")
_value_case("url-https-token", "https://x-access-token:{}@github.com/org/repo", _rand(30), "url_password")
_value_case("bearer-text", "curl -H 'Authorization: Bearer {}' https://api.example.com",
            _rand(40, URLSAFE), "bearer")
_value_case("bearer-bare", "send Bearer {} with the request", _rand(32, URLSAFE + "."), "bearer")
_value_case("bearer-json", '{{"Authorization": "Bearer {}"}}', _rand(32), "bearer")
_value_case("slack-hook", "https://hooks.slack.com/services/{}", "T" + _rand(8, UPPER_DIGITS).upper()
            + "/B" + _rand(8, UPPER_DIGITS).upper() + "/" + _rand(24), "slack")
_value_case("aws-secret-ini", "aws_secret_access_key = {}", _rand(40, ALNUM + "/+"), "aws")
_value_case("aws-secret-env", "AWS_SECRET_ACCESS_KEY={}", _rand(40, ALNUM + "/+"), "aws")
_value_case("aws-secret-json", '{{"SecretAccessKey": "{}"}}', _rand(40, ALNUM + "/+"), "aws")
_value_case("api-key-eq", "api_key={}&model=gpt", _rand(32), "assignment")
_value_case("api-key-env", "export OPENAI_API_KEY={}", _rand(32), "assignment")
_value_case("token-colon", "token: {}", _rand(40, string.hexdigits.lower()), "assignment")
_value_case("password-json", '{{"password": "{}"}}', "hunter2", "assignment")
_value_case("password-python", "connect(user='bob', password='{}')", "Tr0ub4dor&3", "assignment")
_value_case("secret-eq", "secret={} ", _rand(24), "assignment")
_value_case("client-secret-yaml", "  client_secret: {}\n  client_id: abc", _rand(28, URLSAFE), "assignment")
_value_case("cli-flag-space", "agent run --api-key {} --verbose", _rand(24), "assignment")
_value_case("cli-flag-eq", "mytool --password={} --user bob", "s3cr3t-" + _rand(8), "assignment")
_value_case("authorization-basic", "Authorization: Basic {}",
            base64.b64encode(b"bob:" + _rand(12).encode()).decode(), "assignment")
_value_case("camel-access-token", '{{accessToken: "{}"}}', _rand(30), "assignment")
_value_case("x-api-key-header-text", "X-Api-Key: {}", _rand(30), "assignment")
_value_case("db-password-upper", "DB_PASSWORD='{}'", "CorrectHorse9Battery", "assignment")
_value_case("mixed-case-letters", "password = {}", "xKqPwLmZtRvB", "assignment")
_value_case("sentence-end", "Your new password: {}. Keep it safe.", "hunter2x", "assignment")
_value_case("azure-hex-after-key", "Azure key {} for the speech service",
            _hex(32), "high_entropy")
_value_case("token-space-value", "use token {} to log in", _hex(40), "high_entropy")
_value_case("password-is-value", "the admin password is {} today", "Xk9" + _rand(17), "high_entropy")
_value_case("azure-sas", "https://acct.blob.core.windows.net/c/f?sv=2022-11-02&sp=r&sig={}",
            _rand(43, ALNUM + "%") + "%3D", "azure")
_value_case("discord-webhook", "https://discord.com/api/webhooks/{}",
            "".join(_RNG.choice(string.digits) for _ in range(18)) + "/" + _rand(68, URLSAFE), "discord")
_value_case("long-lowercase-passphrase", "passphrase=\"{}\"", "correcthorsebatterystaple", "assignment")

PLAIN_TEXTS: list[str] = [
    "The tokenizer splits text into tokens; the API key is read from the environment.",
    "Reset your password: click the link below. Tokens expire after an hour.",
    "max_tokens: 4096\ntemperature: 0.2\ntoken_type: bearer\nprompt_tokens: 1234",
    "password=please_change",
    "token: none",
    "secret=abc",
    "api_key: YOUR_API_KEY",
    "password: ********",
    "token: <your-token>",
    "password: ${DB_PASSWORD}",
    "GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}",
    "client = OpenAI(api_key=os.environ['OPENAI_API_KEY'])",
    'headers = {"Authorization": f"Bearer {token}"}',
    "def get_token(self) -> str:\n    if token is None:\n        return self.token\n",
    "token: Optional[str] = None\npassword: str = ''",
    "api_key = settings.openai.api_key",
    "Use the sk-learn-compatible-estimator-interface here.",
    "task-runner-for-the-background-jobs-queue is the name of the service",
    "PWD=/home/agent/work2\nOLDPWD=/home/agent\nSHELL=/bin/bash",
    "sort_key=name2024&cache_key=v2abc123",
    "See https://example.com:8443/path/to/page?q=1&x=y#frag for details.",
    "git clone ssh://git@github.com/org/repo.git or git@github.com:org/repo.git",
    "Contact me at someone@example.com about the password reset flow.",
    "Timestamps like 2024-04-05T10:11:12Z and 10:11:12 stay as they are.",
    "---\ntitle: notes\n---\n\n----- section -----\n",
    "The bearer of bad news and the bearer authentication scheme.",
    "Authorization: Bearer $TOKEN",
    "The author: Jane Doe, keyboard: qwerty, monkey: george12345",
    "monkey business1234567890 and turnkey solution2024abcdefgh",
    "src/agitlog/capture/llm/proxy/Relay2.py and /usr/lib/python3.11/site-packages/Foo/Bar",
    "ThisIsAVeryLongCamelCaseIdentifierName12 is a 40-character name",
    "the key insight is that sessions are refs; the token budget is 4096",
    "sk_learn_pipeline and hf_hub_download(repo_id) and npm_config_cache are names",
]


def assert_gone(secret: str, out: str) -> None:
    """No 12-character piece of the secret may survive (catches partial redaction too)."""
    pieces = {secret[i:i + 12] for i in range(0, max(1, len(secret) - 11))}
    leaked = [p for p in pieces if p in out]
    assert not leaked, f"secret leaked: {leaked[:3]} in {out[:200]!r}"


def marker(kind: str) -> str:
    return f"[REDACTED:{kind}]"


# --- credential formats in free text ----------------------------------------------------------

@pytest.mark.parametrize(("case_id", "secret", "kind"), TOKEN_CASES, ids=[c[0] for c in TOKEN_CASES])
def test_token_in_free_text_is_replaced_and_context_survives(case_id: str, secret: str, kind: str) -> None:
    text = f"Please deploy with {secret} tonight, thanks."
    out = DEFAULT_REDACTOR.redact_text(text)
    assert out == f"Please deploy with {marker(kind)} tonight, thanks."


@pytest.mark.parametrize(("case_id", "secret", "kind"), TOKEN_CASES, ids=[c[0] for c in TOKEN_CASES])
def test_token_at_string_edges_and_in_quotes(case_id: str, secret: str, kind: str) -> None:
    assert DEFAULT_REDACTOR.redact_text(secret) == marker(kind)
    assert DEFAULT_REDACTOR.redact_text(f'"{secret}"') == f'"{marker(kind)}"'
    assert DEFAULT_REDACTOR.redact_text(f"key={secret}\nnext line") == f"key={marker(kind)}\nnext line"


@pytest.mark.parametrize(("case_id", "text", "secret", "kind"), VALUE_CASES, ids=[c[0] for c in VALUE_CASES])
def test_only_the_secret_part_is_replaced(case_id: str, text: str, secret: str, kind: str) -> None:
    out = DEFAULT_REDACTOR.redact_text(text)
    assert out == text.replace(secret, marker(kind))
    assert_gone(secret, out)


def test_anthropic_wins_over_openai() -> None:
    key = "sk-" + "ant-" + "api03-" + _rand(93, URLSAFE) + "AA"
    out = DEFAULT_REDACTOR.redact_text(f"ANTHROPIC_API_KEY={key}")
    assert out == "ANTHROPIC_API_KEY=[REDACTED:anthropic]"
    assert "openai" not in out


def test_url_password_keeps_scheme_user_and_host() -> None:
    password = _rand(16)
    out = DEFAULT_REDACTOR.redact_text(f"DATABASE_URL=postgresql://app_user:{password}@10.0.0.5:5432/prod")
    assert out == "DATABASE_URL=postgresql://app_user:[REDACTED:url_password]@10.0.0.5:5432/prod"


def test_truncated_private_key_is_still_redacted() -> None:
    """A prompt cut off mid-key (no END line) must not leak the key body."""
    pem = _pem("RSA PRIVATE KEY")
    truncated = pem[: len(pem) // 2]
    out = DEFAULT_REDACTOR.redact_text(f"key file:\n{truncated}")
    assert out.startswith("key file:\n[REDACTED:private_key]")
    body = truncated.split("\n", 2)[1]
    assert_gone(body, out)


def test_public_material_is_not_a_private_key() -> None:
    text = "-----BEGIN CERTIFICATE-----\nMIIB" + "A" * 60 + "\n-----END CERTIFICATE-----"
    assert DEFAULT_REDACTOR.redact_text(text) == text


def test_several_secrets_in_one_text() -> None:
    gh, aws_id, pw = "ghp_" + _rand(36), "AK" + "IA" + _rand(16, UPPER_DIGITS).upper(), _rand(14)
    text = f"gh={gh}\naws={aws_id}\nurl=mysql://root:{pw}@db/x\nplain line"
    out = DEFAULT_REDACTOR.redact_text(text)
    assert out == ("gh=[REDACTED:github]\naws=[REDACTED:aws]\n"
                   "url=mysql://root:[REDACTED:url_password]@db/x\nplain line")


def test_tokens_glued_to_other_secrets_are_all_redacted() -> None:
    """A replacement can give its neighbour a clean boundary; that neighbour must go too."""
    google, openai, pem = "AI" + "za" + _rand(35, URLSAFE), "sk-" + _rand(48), _pem("RSA PRIVATE KEY")
    assert DEFAULT_REDACTOR.redact_text(google + pem) == "[REDACTED:google][REDACTED:private_key]"
    assert DEFAULT_REDACTOR.redact_text(openai + pem) == "[REDACTED:openai][REDACTED:private_key]"
    glued = Redactor([r"acct-\d+"]).redact_text("acct-12345678" + openai)
    assert glued == "[REDACTED:custom][REDACTED:openai]"


def test_cookie_header_line_is_redacted_to_end_of_line() -> None:
    a, b = _rand(24), _rand(24)
    out = DEFAULT_REDACTOR.redact_text(f"GET / HTTP/1.1\nCookie: session={a}; csrftoken={b}\nAccept: */*")
    assert out == "GET / HTTP/1.1\nCookie: [REDACTED:assignment]\nAccept: */*"


def test_secret_inside_json_text_and_json_inside_json() -> None:
    value = _rand(30)
    once = json.dumps({"config": {"api_key": value, "model": "gpt-4o"}})
    twice = json.dumps({"stdout": once})
    for text in (once, twice):
        out = DEFAULT_REDACTOR.redact_text(text)
        assert value not in out
        assert "[REDACTED:assignment]" in out and "gpt-4o" in out


def test_non_ascii_text_that_changes_length_when_lowercased() -> None:
    value = _rand(20)
    text = f"İstanbul ofisi: password={value} (İzmir)"
    assert len(text.lower()) != len(text)  # exercises the case-insensitive fallback
    assert DEFAULT_REDACTOR.redact_text(text) == "İstanbul ofisi: password=[REDACTED:assignment] (İzmir)"


def test_every_builtin_kind_is_exercised() -> None:
    seen = {kind for _, _, kind in TOKEN_CASES} | {kind for _, _, _, kind in VALUE_CASES}
    assert seen | {"custom", "header"} == set(KINDS)


# --- things that must survive -----------------------------------------------------------------

@pytest.mark.parametrize("text", PLAIN_TEXTS)
def test_ordinary_text_and_code_are_untouched(text: str) -> None:
    assert DEFAULT_REDACTOR.redact_text(text) == text


def test_git_shas_survive_everywhere() -> None:
    sha, parent, tree = _sha(), _sha(), _sha()
    texts = [
        f"commit {sha}\nAuthor: Agent <agent@example.com>",
        f"HEAD is now at {sha[:7]} fix tests",
        f"refs/agent-sessions/main {sha}",
        f"sha={sha} parent={parent}",
        f"https://github.com/org/repo/commit/{sha}",
        f"cache key: {sha}",
        f"idempotency_key={sha}",
    ]
    for text in texts:
        assert DEFAULT_REDACTOR.redact_text(text) == text
    event = {"commit": sha, "parents": [parent], "tree": tree, "key": sha, "sha": sha}
    assert DEFAULT_REDACTOR.redact_value(event) == event


def test_uuids_and_base64_of_ordinary_content_survive() -> None:
    ids = [str(uuid.UUID(bytes=_RNG.randbytes(16), version=4)) for _ in range(3)]
    b64_prose = base64.b64encode(b"Hello world, this is a perfectly ordinary paragraph of text.").decode()
    b64_json = base64.b64encode(json.dumps({"role": "user", "content": "list the files"}).encode()).decode()
    texts = [
        f"session {ids[0]} started; run_id={ids[1]}; session_id: {ids[2]}",
        f"The attachment is base64 {b64_prose} and decodes to a greeting.",
        f"Encoded request body: {b64_json} (sent as-is).",
        f'{{"request_id": "{ids[0]}", "trace": "{ids[1]}"}}',
    ]
    for text in texts:
        assert DEFAULT_REDACTOR.redact_text(text) == text


def test_a_secret_name_makes_even_a_hex_value_redacted() -> None:
    """Commit ids survive on their own, but after token= a hex string is a credential value."""
    sha = _sha()
    assert DEFAULT_REDACTOR.redact_text(f"token={sha}") == "token=[REDACTED:assignment]"


# --- is_secret_name ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", [
    "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GITHUB_TOKEN", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "DB_PASSWORD", "SLACK_BOT_TOKEN", "NEXTAUTH_SECRET", "MY_APP_SECRETS", "HF_TOKEN", "OPENAI_KEY",
    "STRIPE_SECRET_KEY", "password", "Passwd", "passphrase", "secret", "token", "api_key", "apikey",
    "apiKey", "APIKey", "access_key", "accessToken", "refresh_token", "private_key", "privateKey",
    "authorization", "Proxy-Authorization", "x-api-key", "X-Goog-Api-Key", "cookie", "Set-Cookie",
    "client_secret", "credentials", "auth", "DB_PWD", "jwt", "SECRET_KEY_BASE", "bearer",
])
def test_secret_names(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize("name", [
    "KEYBOARD", "MONKEY", "SORT_KEY", "PRIMARY_KEY", "PUBLIC_KEY", "CACHE_KEY", "key", "HOME", "PATH",
    "USER", "PWD", "OLDPWD", "LANG", "TERM", "EDITOR", "max_tokens", "prompt_tokens", "total_tokens",
    "TOKENIZERS_PARALLELISM", "tokenizer", "token_type", "token_count", "token_expires_in",
    "DB_PASSWORD_FILE", "secret_name", "SSH_AUTH_SOCK", "AWS_ACCESS_KEY_ID", "auth_method",
    "credential_helper", "author", "secretary", "passenger", "GIT_ASKPASS", "oauth", "role", "content",
])
def test_non_secret_names(name: str) -> None:
    assert not is_secret_name(name)


# --- redact_value -----------------------------------------------------------------------------

def test_secret_keys_are_replaced_wholesale_by_normalized_name() -> None:
    value = {
        "password": "please_change", "DB_PASSWORD": "x", "apiKey": "abc", "X-Api-Key": "k",
        "client_secret": "s", "Authorization": "Bearer abc", "set-cookie": "a=b", "credentials": "c",
    }
    assert DEFAULT_REDACTOR.redact_value(value) == {
        "password": "[REDACTED:password]", "DB_PASSWORD": "[REDACTED:db_password]",
        "apiKey": "[REDACTED:api_key]", "X-Api-Key": "[REDACTED:x_api_key]",
        "client_secret": "[REDACTED:client_secret]", "Authorization": "[REDACTED:authorization]",
        "set-cookie": "[REDACTED:set_cookie]", "credentials": "[REDACTED:credentials]",
    }


def test_secret_keys_keep_empty_strings_and_non_string_scalars() -> None:
    value = {"password": "", "token": None, "api_key": 12345, "secret": 1.5, "cookie": True}
    assert DEFAULT_REDACTOR.redact_value(value) == value


def test_secret_key_covers_lists_but_not_nested_dicts() -> None:
    value = {"api_keys": ["one", "two"], "credentials": {"username": "bob", "password": "pw1"},
             "secrets": ("a", "")}
    assert DEFAULT_REDACTOR.redact_value(value) == {
        "api_keys": ["[REDACTED:api_keys]", "[REDACTED:api_keys]"],
        "credentials": {"username": "bob", "password": "[REDACTED:password]"},
        "secrets": ("[REDACTED:secrets]", ""),
    }


def test_non_secret_keys_and_scalars_pass_through() -> None:
    value = {"token_type": "bearer", "max_tokens": 10, "sort_key": "name", "keyboard": "qwerty",
             "temperature": 0.2, "stream": False, "stop": None, "n": [1, 2.5, True, None]}
    assert DEFAULT_REDACTOR.redact_value(value) == value


@pytest.mark.parametrize(("case_id", "secret", "kind"), TOKEN_CASES, ids=[c[0] for c in TOKEN_CASES])
def test_secrets_planted_in_a_nested_event(case_id: str, secret: str, kind: str) -> None:
    event = {
        "type": "llm_request",
        "prompt": [{"role": "system", "content": "You are careful."},
                   {"role": "user", "content": f"Here is my key: {secret}. Use it."}],
        "tool_call": {"name": "bash",
                      "arguments": {"command": f"deploy --key-file x {secret}", "timeout": 30}},
        "tool_result": {"stdout": f"loaded\n{secret}\n", "exit_code": 0},
        "state": {"scratch": [("note", secret)], "step": 3},
    }
    original = copy.deepcopy(event)
    out = DEFAULT_REDACTOR.redact_value(event)
    assert event == original  # never mutates its input
    dumped = json.dumps(out)
    assert_gone(secret, dumped)
    assert dumped.count(marker(kind)) == 4
    assert out["prompt"][0] == {"role": "system", "content": "You are careful."}
    assert out["prompt"][1]["content"] == f"Here is my key: {marker(kind)}. Use it."
    assert out["tool_call"]["arguments"]["timeout"] == 30
    assert out["state"]["scratch"] == [("note", marker(kind))]  # tuples stay tuples
    assert out["state"]["step"] == 3


def test_redact_value_returns_new_containers() -> None:
    inner = ["a"]
    value = {"l": inner, "d": {"x": "y"}, "t": ("z",)}
    out = DEFAULT_REDACTOR.redact_value(value)
    assert out == value
    assert out is not value and out["l"] is not inner and out["d"] is not value["d"]


def test_a_secret_used_as_a_dict_key_is_redacted() -> None:
    gh = "ghp_" + _rand(36)
    out = DEFAULT_REDACTOR.redact_value({gh: "owner-bot", 7: "seven"})
    assert out == {"[REDACTED:github]": "owner-bot", 7: "seven"}


def test_scalars_and_plain_strings_at_top_level() -> None:
    for scalar in (None, 0, 1.5, True, "plain", ""):
        assert DEFAULT_REDACTOR.redact_value(scalar) == scalar
    secret = "xox" + "b-" + "123456789012-" + _rand(24)
    assert DEFAULT_REDACTOR.redact_value(secret) == "[REDACTED:slack]"
    assert DEFAULT_REDACTOR.redact_value(frozenset({secret, "x"})) == frozenset({"[REDACTED:slack]", "x"})


# --- redact_headers ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", [
    "Authorization", "authorization", "Proxy-Authorization", "x-api-key", "X-API-Key", "api-key",
    "Cookie", "Set-Cookie", "x-goog-api-key", "X-Service-Token", "X-Client-Secret",
])
def test_secret_headers_are_replaced(name: str) -> None:
    assert DEFAULT_REDACTOR.redact_headers({name: "anything at all"}) == {name: "[REDACTED:header]"}


def test_other_headers_go_through_text_redaction() -> None:
    password, request_id = _rand(16), str(uuid.UUID(bytes=_RNG.randbytes(16), version=4))
    headers = {
        "Content-Type": "application/json", "User-Agent": "agitlog/0.1 python-httpx/0.27",
        "X-Request-Id": request_id, "Referer": f"https://u:{password}@example.com/page",
        "Authorization": "",
    }
    frozen = MappingProxyType(dict(headers))
    out = DEFAULT_REDACTOR.redact_headers(frozen)
    assert out == {**headers, "Referer": "https://u:[REDACTED:url_password]@example.com/page"}
    assert isinstance(out, dict) and dict(frozen) == headers


def test_rate_limit_and_version_headers_are_not_secrets() -> None:
    headers = {"x-ratelimit-remaining-tokens": "39000", "anthropic-ratelimit-tokens-limit": "80000",
               "anthropic-version": "2023-06-01", "openai-organization": "org-abc", "Content-Length": "42"}
    assert DEFAULT_REDACTOR.redact_headers(headers) == headers


# --- custom patterns --------------------------------------------------------------------------

def test_custom_pattern_without_group_replaces_the_match() -> None:
    redactor = Redactor(["acct-[0-9]{8}"])
    assert redactor.redact_text("billing acct-12345678 ok") == "billing [REDACTED:custom] ok"
    assert DEFAULT_REDACTOR.redact_text("billing acct-12345678 ok") == "billing acct-12345678 ok"


def test_custom_pattern_with_group_replaces_only_the_group() -> None:
    numbered = Redactor([r"employee id: (\d{6})"])
    named = Redactor([r"ssn=(?P<ssn>\d{3}-\d{2}-\d{4})\b"])
    assert numbered.redact_text("employee id: 123456.") == "employee id: [REDACTED:custom]."
    assert named.redact_text("x ssn=123-45-6789 y") == "x ssn=[REDACTED:custom] y"


def test_custom_patterns_apply_with_builtins_in_values_and_headers() -> None:
    redactor = Redactor(["acct-[0-9]{8}", r"internal-(\w+)-ticket"])
    gh = "ghp_" + _rand(36)
    out = redactor.redact_value({"note": f"acct-00000001 {gh}", "t": ["internal-zeus-ticket"]})
    assert out == {"note": "[REDACTED:custom] [REDACTED:github]", "t": ["internal-[REDACTED:custom]-ticket"]}
    assert redactor.redact_headers({"X-Acct": "acct-99999999"}) == {"X-Acct": "[REDACTED:custom]"}


@pytest.mark.parametrize("patterns", [["acct-[0-9"], ["(unclosed"], ["x*"], [""], [42]])
def test_invalid_custom_pattern_raises_config_error(patterns: list[object]) -> None:
    with pytest.raises(ConfigError) as info:
        Redactor(patterns)  # type: ignore[arg-type]
    assert isinstance(info.value, AgitlogError)
    assert info.value.exit_code == 1
    assert "[redact]" in (info.value.hint or "")
    assert repr(patterns[0]) in info.value.message


def test_a_single_string_instead_of_a_list_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="list"):
        Redactor("acct-[0-9]{8}")


def test_greedy_custom_patterns_do_not_eat_markers() -> None:
    redactor = Redactor([r"[A-Z]{4,}", r"\w+ed\b"])
    once = redactor.redact_text("ERROR in sk-" + _rand(48) + " was logged")
    assert "[REDACTED:openai]" in once
    assert redactor.redact_text(once) == once


# --- properties -------------------------------------------------------------------------------

FRAGMENTS = [c[1] for c in TOKEN_CASES] + [c[1] for c in VALUE_CASES] + PLAIN_TEXTS + [
    "password=", "token: ", '"api_key": "', "Bearer ", "--token ", "://", "user:", "@host", "sk-", "eyJ",
    "-----BEGIN RSA PRIVATE KEY-----", "-----END RSA PRIVATE KEY-----", "[REDACTED:openai]", "[REDACTED:",
    "\\\"", "'", '"', "\n", " ", "=", ":", ";", "İ", "ß", "Cookie: ", "AKIA", "ghp_", "xoxb-",
    "hooks.slack.com/services/",
]
mixed_text = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=12)), max_size=12).map("".join)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | mixed_text | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.one_of(st.text(max_size=12), st.sampled_from(["password", "apiKey", "token_type",
                                                                         "Authorization", "note"])),
                      children, max_size=4),
    max_leaves=20,
)
_PROPERTY = settings(max_examples=300, deadline=None, database=None,
                     suppress_health_check=[HealthCheck.too_slow])


@_PROPERTY
@given(st.text())
def test_never_raises_on_arbitrary_text(text: str) -> None:
    assert isinstance(DEFAULT_REDACTOR.redact_text(text), str)


@_PROPERTY
@given(st.text(st.characters(categories=["Cs", "L", "N", "P", "S", "Z", "Cc"])))
def test_never_raises_on_lone_surrogates(text: str) -> None:
    """Response bodies are decoded with surrogateescape, so lone surrogates do reach us."""
    once = DEFAULT_REDACTOR.redact_text(text)
    assert DEFAULT_REDACTOR.redact_text(once) == once


def test_undecodable_body_bytes_survive_around_a_secret() -> None:
    key = "sk-" + _rand(48)
    text = (b"\xff\xfe{\"api_key\": \"" + key.encode() + b"\"}").decode("utf-8", "surrogateescape")
    out = DEFAULT_REDACTOR.redact_text(text)
    assert out.encode("utf-8", "surrogateescape") == b'\xff\xfe{"api_key": "[REDACTED:openai]"}'


@_PROPERTY
@given(mixed_text)
def test_text_redaction_is_idempotent(text: str) -> None:
    once = DEFAULT_REDACTOR.redact_text(text)
    assert DEFAULT_REDACTOR.redact_text(once) == once


@_PROPERTY
@given(json_values)
def test_value_redaction_never_raises_and_is_idempotent(value: object) -> None:
    original = copy.deepcopy(value)
    once = DEFAULT_REDACTOR.redact_value(value)
    assert value == original
    assert DEFAULT_REDACTOR.redact_value(once) == once


@_PROPERTY
@given(st.text(), st.text(), st.sampled_from(TOKEN_CASES))
def test_a_token_between_arbitrary_texts_never_leaks(before: str, after: str,
                                                    case: tuple[str, str, str]) -> None:
    _, secret, _ = case
    out = DEFAULT_REDACTOR.redact_text(f"{before} {secret} {after}")
    assert secret not in out


@_PROPERTY
@given(mixed_text)
def test_custom_redaction_is_idempotent(text: str) -> None:
    redactor = Redactor([r"acct-\d+", r"(?i)host", r"[A-Z]{3,}"])
    once = redactor.redact_text(text)
    assert redactor.redact_text(once) == once


def test_markers_are_stable() -> None:
    for kind in KINDS:
        assert DEFAULT_REDACTOR.redact_text(f"x {marker(kind)} y") == f"x {marker(kind)} y"
    assert re.fullmatch(r"\[REDACTED:[a-z_]+\]", marker("url_password"))


# --- cost (measured in bench/bench_redact.py; only a hang is a failure here) ------------------------

@pytest.fixture
def hang_guard() -> Iterator[None]:
    """Fails a test that runs for a minute: catastrophic backtracking, not slowness, which
    bench/bench_redact.py measures."""
    def _hung(signum: int, frame: object) -> None:
        raise AssertionError("redaction did not finish in 60 s: catastrophic backtracking?")

    previous = signal.signal(signal.SIGALRM, _hung)
    signal.alarm(60)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("text", [
    "-" * 100_000,
    "-----BEGIN RSA PRIVATE KEY-----\n" * 2_000,
    "key:" * 5_000,
    "api_key=" * 10_000,
    'token: "' + "a\\" * 10_000,
    "://u:" + "a@" * 10_000,
    "--token " * 5_000,
    "a" * 100_000 + "token=x",
    "A" * 100_000,
    "sk_" + "live_" * 20_000,
    "hf_" * 30_000,
    "1234567890:AA" * 5_000,
    "key " * 20_000 + "x" * 16,
    ("a" * 19 + " ") * 5_000,
])
def test_pathological_inputs_do_not_backtrack(text: str, hang_guard: None) -> None:
    out = DEFAULT_REDACTOR.redact_text(text)
    assert isinstance(out, str) and len(out) <= len(text) + 64


# Repetitive text puts an assignment candidate every few characters, each with a value running to
# the same end (bench/bench_redact.py measures that this stays linear). Every candidate must still
# be judged: a secret after, inside or before the repetition is found, and nothing else changes.
_TAIL = "Zx9" + "fK2mQ7vL1pR4"


@pytest.mark.parametrize(("text", "expected"), [
    ("key:" * 5_000, "key:" * 5_000),
    ("secret:" * 3_000, "secret:" * 3_000),
    ("auth:" * 4_000, "auth:" * 4_000),
    ("pwd=" * 5_000, "pwd=" * 5_000),
    ("password: " * 2_000, "password: " * 2_000),
    ("Bearer " * 3_000, "Bearer " * 3_000),
    ("--token " * 2_500, "--token " * 2_500),
    ("token=" * 600, "token=[REDACTED:assignment]"),
    ("cookie:" * 3_000, "cookie:[REDACTED:assignment]"),
    ("password: " * 2_000 + _TAIL, "password: " * 2_000 + "[REDACTED:assignment]"),
    ("Bearer " * 3_000 + _TAIL, "Bearer " * 3_000 + "[REDACTED:bearer]"),
    ("secret:" * 1_000 + " api_key=" + _TAIL + " " + "secret:" * 1_000,
     "secret:" * 1_000 + " [REDACTED:assignment] " + "secret:" * 1_000),  # "secret: api_key=..."
    (("secret:" * 100 + "abc123") * 5, "secret:[REDACTED:assignment]"),
    ("secret:" * 600 + "." * 5_000, "secret:" * 600 + "." * 5_000),
])
def test_repetitive_inputs_are_fully_processed(text: str, expected: str, hang_guard: None) -> None:
    assert DEFAULT_REDACTOR.redact_text(text) == expected


_VALUE_ALPHABET = "aZ9._-:/@~*x#$%{<•é=+!?"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=_VALUE_ALPHABET, min_size=65, max_size=400), st.data())
def test_long_bare_values_are_judged_as_one_at_a_time(run: str, data: st.DataObject) -> None:
    """The counts that judge many long bare values of one run agree with judging each alone."""
    from agitlog.redact import _looks_like_credential, _ValueCounts

    counts = _ValueCounts(run, 0, len(run))
    start = data.draw(st.integers(0, len(run) - 65))
    end = data.draw(st.integers(start + 65, len(run)))
    assert counts.looks_like_credential(start, end) == _looks_like_credential(run[start:end])
