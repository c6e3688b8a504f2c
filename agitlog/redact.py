"""Secret redaction, applied to every recorded event before it is written anywhere.

A secret is replaced by a marker ``[REDACTED:<kind>]``. The marker is part of the recorded format:
readers may count markers by kind, and redacting a text twice leaves it unchanged.

Kinds found in free text (see ``KINDS``):

    openai, anthropic, github, aws, slack, google, jwt, private_key   credential formats
    stripe, huggingface, npm, gitlab, pypi, sendgrid, twilio, discord, telegram, digitalocean,
    databricks, shopify, azure, grafana, vault, groq, xai, replicate, linear, postman, mailchimp,
    square, atlassian, sentry, age   more credential formats (the ``_FORMATS`` table)
    high_entropy    a random-looking value written after a secret-ish word (``API key 3f9a...``,
                    ``token 9b2c...``)
    url_password    the password of ``scheme://user:password@host`` (scheme, user and host are kept)
    bearer          the token after ``Bearer``
    assignment      a credential-looking value after a secret-looking name (``api_key=...``)
    custom          a match of a user pattern from the ``[redact] patterns`` config
    header          the value of a secret HTTP header (``redact_headers``)

``redact_value`` also replaces the string value of a secret-looking dict key wholesale; that
marker's kind is the normalized key name, e.g. ``{"DB_PASSWORD": "[REDACTED:db_password]"}``.
"""
from __future__ import annotations

import functools
import math
import re
import threading
from collections.abc import Callable, Mapping, Sequence

from agitlog.errors import ConfigError


class _LazyPattern:
    """A module-level pattern compiled on first use, which then puts the compiled pattern in its
    place among the module's globals. Compiling all of them at import took ~15 ms of CPU on
    `agitlog run`'s start-up (the sre compiler is Python), while most texts reach only a few."""

    __slots__ = ("_name", "pattern", "flags", "_compiled")

    def __init__(self, name: str | None, pattern: str | bytes, flags: int = 0) -> None:
        self._name, self.pattern, self.flags = name, pattern, flags
        self._compiled: re.Pattern | None = None

    def __getattr__(self, attr: str) -> object:  # search, match, finditer, ...: not found on the instance
        if self._compiled is None:
            self._compiled = re.compile(self.pattern, self.flags)
            if self._name is not None:
                globals()[self._name] = self._compiled  # later calls go straight to it
        return getattr(self._compiled, attr)


def _lazy(name: str | None, pattern: str | bytes, flags: int = 0) -> re.Pattern:  # type: ignore[type-arg]
    return _LazyPattern(name, pattern, flags)  # type: ignore[return-value]


KINDS: tuple[str, ...] = (
    "openai", "anthropic", "github", "aws", "slack", "google", "jwt", "private_key",
    "stripe", "huggingface", "npm", "gitlab", "pypi", "sendgrid", "twilio", "discord", "telegram",
    "digitalocean", "databricks", "shopify", "azure", "grafana", "vault", "groq", "xai", "replicate",
    "linear", "postman", "mailchimp", "square", "atlassian", "sentry", "age",
    "url_password", "bearer", "assignment", "high_entropy", "custom", "header",
)

_MARKER_PREFIX = "[REDACTED:"
_MARKER_RE = _lazy("_MARKER_RE", r"\[REDACTED:[a-z0-9_]+\]")
_MAX_ROUNDS = 4
_MIN_SECRET_LEN = 8  # shorter strings cannot hold any built-in format ("jwt=ab12" is 8)

# Provider formats, matched case-sensitively on the original text. Each branch begins at a rare
# character of its format (the "k" of "sk-", the "J" of "eyJ") with the rest checked by
# lookbehind, so `re` skips straight to few candidate positions: a plain string costs one fast
# scan. _token_hit moves the start of such a match back to the real start.
_TOKEN_RE = _lazy(
    "_TOKEN_RE",
    r"""
      k(?<=sk)(?<![A-Za-z0-9_-]sk)-[A-Za-z0-9_-]{20,}
    | k(?<=hook)(?<![A-Za-z0-9.]hook)s\.slack\.com/(?:services|workflows|triggers)/
      (?P<hook>[A-Za-z0-9_/+-]{8,})
    | g(?<![A-Za-z0-9_]g)(?:h[pousr]_[A-Za-z0-9]{36,255}|ithub_pat_[A-Za-z0-9_]{22,255})
    | A(?<![A-Za-z0-9]A)(?:[KS]IA[0-9A-Z]{16}(?![0-9A-Za-z])|Iza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-]))
    | x(?<![A-Za-z0-9]x)(?:ox[abeoprs]|app)-[A-Za-z0-9-]{10,}
    | J(?<=eyJ)(?<![A-Za-z0-9_-]eyJ)[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*
    | ://(?P<url_user>[^\s:/?#@"'<>\[\]\\]*)
      :(?P<url_pw>[^\s/?#@"'<>\[\]\\{}|^`]+(?:@[^\s/?#@"'<>\[\]\\{}|^`]+)*)@  # up to the last "@"
    """,
    re.VERBOSE,
)
_TOKEN_BACKSTEP = {"J": 2}  # "eyJ": where the match really starts

# Formats with a literal anchor, one row each: (kind, anchors, pattern). The pattern only runs on a
# text that contains one of its anchors (a C-speed `in` test), so a row costs next to nothing on the
# texts that cannot hold it. Group 1, when present, is the part replaced.
_B = r"(?<![A-Za-z0-9])"  # the token starts a word (or follows "_": KEY_hf_...)
_E = r"(?![A-Za-z0-9_])"   # ... and ends one
_FORMAT_ROWS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("stripe", ("_live_", "_test_", "whsec_"),
     _B + r"(?:(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,247}|whsec_[A-Za-z0-9+/=]{24,})"),
    ("huggingface", ("hf_", "api_org_"), _B + r"(?:hf_|api_org_)[A-Za-z0-9]{30,}" + _E),
    ("npm", ("npm_",), _B + r"npm_[A-Za-z0-9]{36}" + _E),
    ("gitlab", ("gl",), _B + r"gl(?:pat|dt|rt|ptt|cbt|oas|ft|imt|soat|agent|ffct)-[A-Za-z0-9_-]{20,}"),
    ("grafana", ("gl",), _B + r"gl(?:sa|c)_[A-Za-z0-9_=+/-]{32,}"),
    ("pypi", ("pypi-",), _B + r"pypi-[A-Za-z0-9_-]{50,}"),
    ("sendgrid", ("SG.",), _B + r"SG\.[A-Za-z0-9_-]{16,32}\.[A-Za-z0-9_-]{16,64}"),
    ("digitalocean", ("_v1_",), _B + r"do[opr]_v1_[a-f0-9]{64}" + _E),
    ("databricks", ("dapi",), _B + r"dapi[a-f0-9]{32}(?:-[0-9])?" + _E),
    ("shopify", ("shp",), _B + r"shp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}" + _E),
    ("google", ("GOCSPX-",), _B + r"GOCSPX-[A-Za-z0-9_-]{28}"),
    ("vault", ("hvs.", "hvb.", "hvr."), _B + r"hv[sbr]\.[A-Za-z0-9_-]{24,}"),
    ("groq", ("gsk_",), _B + r"gsk_[A-Za-z0-9]{48,}"),
    ("xai", ("xai-",), _B + r"xai-[A-Za-z0-9]{60,}"),
    ("replicate", ("r8_",), _B + r"r8_[A-Za-z0-9]{37,}"),
    ("linear", ("lin_api_",), _B + r"lin_api_[A-Za-z0-9]{40,}"),
    ("postman", ("PMAK-",), _B + r"PMAK-[a-fA-F0-9]{24}-[a-fA-F0-9]{34}"),
    ("mailchimp", ("-us",), _B + r"[0-9a-f]{32}-us[0-9]{1,2}" + _E),
    ("square", ("sq0",), _B + r"sq0(?:atp|csp|idp)-[A-Za-z0-9_-]{22,60}"),
    ("atlassian", ("ATATT",), _B + r"ATATT[A-Za-z0-9_=-]{40,}"),
    ("sentry", ("sntr",), _B + r"sntr[a-z]{1,2}_[A-Za-z0-9+/=_-]{30,}"),
    ("age", ("AGE-SECRET-KEY-",), r"AGE-SECRET-KEY-1[0-9A-Z]{58}"),
    ("discord", ("/api/webhooks/",), r"discord(?:app)?\.com/api/webhooks/([0-9]{5,}/[A-Za-z0-9_-]{30,})"),
    ("azure", ("sig=",), r"[?&;]sig=([A-Za-z0-9%+/=]{30,})"),
)
_FORMATS: tuple[tuple[str, tuple[str, ...], re.Pattern[str]], ...] = tuple(
    (kind, anchors, _lazy(None, pattern)) for kind, anchors, pattern in _FORMAT_ROWS)
# Every table format and every bare format is a run of at least 20 token characters; ordinary prose
# and code have none, so one scan for such a run gates both passes.
# Runs of lowercase hex alone (commit ids, digests: the most common long runs in events) hold none.
_RUN_RE = _lazy("_RUN_RE", r"[A-Za-z0-9_+/=.:%-]{20}")  # the leftmost match starts a run: no lookbehind needed
_HEX_RUN_RE = _lazy("_HEX_RUN_RE", r"[0-9a-f]+(?![A-Za-z0-9_+/=.:%-])")
_HEX_DIGITS = "0123456789abcdef"


# The first test is a byte translation (C speed, ~10x faster than a regex scan of every position):
# token characters become "a", everything else " ", and a run is 20 "a" in a row.
_RUN_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_+/=.:%-"
_RUN_TABLE = bytes(ord("a") if i in _RUN_CHARS else ord(" ") for i in range(256))
_RUN_NEEDLE = b"a" * 20


_NEAR_MIN_RUN = 16
_NEAR_NEEDLE = b"a" * _NEAR_MIN_RUN


def _long_runs(text: str) -> bytes:
    """``text`` mapped to token ("a") and other (" ") bytes when it has a run of 16 token characters,
    else b"". A commit id or digest on its own (the most common long string in events) holds nothing
    more and costs one strip. bytes.find, not `in`: bytes.__contains__ costs a microsecond."""
    if len(text) < _NEAR_MIN_RUN or not text.strip(_HEX_DIGITS):
        return b""
    runs = text.encode("utf-8", "surrogatepass").translate(_RUN_TABLE)
    return runs if runs.find(_NEAR_NEEDLE) >= 0 else b""


def _may_hold_format(text: str) -> bool:
    """Whether ``text`` has a run of 20 token characters that is not plain hex (the caller checked
    that it has a run at all)."""
    m = _RUN_RE.search(text)
    while m is not None:
        hex_run = _HEX_RUN_RE.match(text, m.start())
        if hex_run is None:
            return True
        m = _RUN_RE.search(text, hex_run.end())
    return False

# Formats without a literal anchor, in one pass over texts long enough to hold one: a bare AWS
# secret access key (40 base64 characters on their own, judged by _bare_hit so paths and commit ids
# survive), Twilio API key and account SIDs, Discord and Telegram bot tokens.
_BARE_RE = _lazy(
    "_BARE_RE",
    r"""
      (?<![A-Za-z0-9+/_.-])(?P<aws>[A-Za-z0-9+/]{40})(?![A-Za-z0-9+/=_-])(?!\.[A-Za-z0-9])
    | (?<![A-Za-z0-9_-])(?:(?P<twilio>(?:SK|AC)[0-9a-f]{32})(?![A-Za-z0-9_-])
    | (?P<discord>[MNO][A-Za-z0-9_-]{23,25}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,38})(?![A-Za-z0-9_-])
    | (?P<telegram>[0-9]{8,10}:AA[A-Za-z0-9_-]{33})(?![A-Za-z0-9_-])
    )
    """,
    re.VERBOSE,
)

# A random-looking value written after a secret-ish word with only spaces (and a few small words)
# between: "Azure key 0a1b...", "token 9f8e...", "the password is Xy7...". Matched on the lowercased
# text; the word must be the whole identifier (not "monkey") and the value must look random.
_NEAR_RE = _lazy(
    "_NEAR_RE",
    r"(?:k(?:(?<=tok)en|ey)|c(?:(?<=sec)ret|redential)|p(?:ass(?:word|wd|phrase)?|wd))s?[\"'`]?"
    r"(?:[ \t]+(?:is|was|of|for|to|->|=|:))?[ \t]+[\"'`]?(?P<value>[a-z0-9+/_.=-]{16,512})"
)

# PEM private keys get their own pass, run first (the body is an unrolled loop, not possessive
# quantifiers, which early CPython 3.11 releases mishandle): a key block is the biggest secret, and a token
# format's body (which may contain "-") must not swallow its "-----BEGIN" line.
_PEM_RE = _lazy(
    "_PEM_RE",
    r"""
    -----BEGIN[A-Z0-9 ]{0,40}PRIVATE\ KEY(?:\ BLOCK)?-----
    (?: [^-]*(?:-(?!----)[^-]*)*-----END[A-Z0-9 ]{0,40}PRIVATE\ KEY(?:\ BLOCK)?-----
      | (?:[ \t]*(?:\r?\n|\\r?\\n)[ \t]*(?:[A-Za-z0-9+/=]{16,}|[A-Z][A-Za-z-]*:[^\r\n\\]*))*  # truncated
    )
    """,
    re.VERBOSE,
)

# Candidate "name <sep> value" assignments, matched on the lowercased text (so the pattern stays
# case-sensitive and keeps the fast first-character scan). A candidate starts at a rare letter of
# a secret word (the "k" of token/key/cookie, the "c" of secret/credential, the "u" of auth...);
# the full identifier around it is recovered by scanning and judged by is_secret_name.
_IDENT = r"[a-z0-9_.-]{0,64}"  # bounded, like every repeat here: no quadratic scans
_SEP = r"\\?[\"']?[ \t]*(?::=|=>|==?|:)[ \t]*"  # "=", ":", '": ', ":=", "=>"; never a bare space
_SCHEME = r"(?:(?P<{}>bearer|basic|token|digest|negotiate)[ \t]+)?"
_VALUE_CHAR = r"[^\s\"'\\&,;<>()\[\]{}|`]"  # of a bare (unquoted) value
_VALUE_RUN_RE = _lazy("_VALUE_RUN_RE", _VALUE_CHAR + "*")
_MAX_VALUE = 4096  # a bare value is cut here, like the quoted ones
_SHORT_VALUE = 64  # the matcher takes a bare value this far; _Values takes a longer one on
_STOPS_RE = _lazy("_STOPS_RE", r"[.:]*")  # what _trim_unquoted strips
_NAMED_SRC = (
    r"(?:k(?:(?<=tok)en|(?<=cook)ie|ey)" + _IDENT + _SEP
    + r"|p(?:ass|wd)" + _IDENT + _SEP
    + r"|c(?:(?<=sec)ret|redential)" + _IDENT + _SEP
    + r"|u(?<=au)th" + _IDENT + _SEP
    + r"|jwt" + _IDENT + _SEP
    + r"|bearer(?:" + _IDENT + _SEP + r"|[ \t]+)"
    + r"|-(?<=--)(?<!---)(?=[a-z])[a-z0-9-]{0,40}?"  # --api-key VALUE
    + r"(?:pass|pwd|secret|token|credential|cookie|auth|key|jwt)[a-z0-9-]{0,40}[ \t]+)"
    # the value: JSON inside a JSON string, "double", 'single' (with an f/b/r prefix) or bare
    r"(?:[bfru]{0,2}(?:\\\"" + _SCHEME.format("scheme_e") + r"(?P<eq>[^\"\\\r\n]{1,4096})\\\""
    r"|\"" + _SCHEME.format("scheme_d") + r"(?P<dq>(?:[^\"\\\r\n]|\\[^\r\n]){1,4096})\""
    r"|'" + _SCHEME.format("scheme_s") + r"(?P<sq>[^'\r\n]{1,4096})')"
    # a bare value: up to _SHORT_VALUE characters; _Values finds where a longer one ends (see there)
    r"|" + _SCHEME.format("scheme_u") + r"(?P<uv>" + _VALUE_CHAR + r"{1,%d}))" % _SHORT_VALUE
)
_NAMED_RE = _lazy("_NAMED_RE", _NAMED_SRC)


@functools.cache
def _named_re_icase() -> re.Pattern[str]:
    """For the rare text whose lower() changes its length; compiled on first use, not at import
    (the import sits on `agitlog run`'s start-up, and this is its second-largest pattern)."""
    return re.compile(_NAMED_SRC, re.IGNORECASE)


_IDENT_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
_ALWAYS_SECRET_NAMES = frozenset({"authorization", "proxy_authorization", "cookie", "set_cookie"})

# Name analysis for is_secret_name: a name is split into lowercase segments ("apiKey" -> api, key).
_CAMEL_RE = _lazy("_CAMEL_RE", r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_SPLIT_RE = _lazy("_SPLIT_RE", r"[^a-z0-9]+")
_SECRET_SEGMENT_RE = _lazy(
    "_SECRET_SEGMENT_RE",
    r"[a-z0-9]*(?:pass(?:word|wd|phrase)|secret|credential|cookie)s?"
    r"|[a-z0-9]*(?:token|jwt|authorization|apikey|accesskey|secretkey|privatekey|authkey)"
    r"|auth|bearer"
)
# "SORT_KEY" is not a secret, "OPENAI_KEY" is: *_KEY counts unless qualified by one of these.
_PLAIN_KEY_PREFIXES = frozenset({
    "sort", "primary", "foreign", "partition", "cache", "idempotency", "routing", "public", "pub",
    "dict", "map", "hash", "lookup", "group", "index", "unique", "composite", "shard", "row", "object",
    "s3", "registry", "config", "cfg", "dedup", "dedupe", "join", "order", "search", "hot", "short",
    "sequence", "message", "range", "ordering", "natural", "surrogate", "tracking",
})
# A segment after the secret word that makes the name describe the secret rather than hold it.
_QUALIFIERS = frozenset({
    "type", "types", "method", "mode", "kind", "url", "uri", "endpoint", "host", "domain", "expiry",
    "expires", "expiration", "exp", "ttl", "len", "length", "count", "limit", "name", "file", "path",
    "dir", "format", "scheme", "provider", "enabled", "required", "policy", "rotation", "version", "id",
    "ids", "usage", "sock", "socket", "label", "description", "desc", "hint", "env", "var", "field",
    "param", "size", "max", "min", "timeout", "location", "arn", "source", "helper", "store",
    "manager", "strategy", "algorithm", "alg", "encoding", "cmd", "command", "set",
    "present", "exists", "age", "lifetime", "refresh", "reset", "validation", "budget",
})
_PLACEHOLDERS = frozenset({
    "none", "null", "nil", "true", "false", "undefined", "empty", "changeme", "change_me", "example",
    "redacted", "hidden", "masked", "secret", "password", "token", "required", "optional", "str",
    "string", "bytes", "int", "todo", "tbd", "n/a", "na", "unknown", "unset", "default", "dummy",
    "bearer", "basic", "digest", "negotiate",  # an auth scheme whose credential is already redacted
})
_PLACEHOLDER_LEN = max(map(len, _PLACEHOLDERS))
_DOTTED_IDENT_RE = _lazy("_DOTTED_IDENT_RE", r"[A-Za-z_]+(?:\.[A-Za-z_]+)+(?:\(\))?")
# Value character classes; "_-./:@~" and spaces separate words rather than make a value look random.
_LOWER_RE = _lazy("_LOWER_RE", r"[a-z]")
_UPPER_RE = _lazy("_UPPER_RE", r"[A-Z]")
_DIGIT_RE = _lazy("_DIGIT_RE", r"[0-9]")
_SYMBOL_RE = _lazy("_SYMBOL_RE", r"[^A-Za-z0-9_\-./:@~ \t]")
_WORD_SEP = r"[_\-./:@~ \t]"
_WORD_SEP_RE = _lazy("_WORD_SEP_RE", _WORD_SEP)
_LONG_WORD_RE = _lazy("_LONG_WORD_RE", r"[^_\-./:@~ \t]{16}")  # a word of 16 characters or more


def _marker(kind: str) -> str:
    return f"{_MARKER_PREFIX}{kind}]"


@functools.lru_cache(maxsize=8192)
def _name_segments(name: str) -> tuple[str, ...]:
    return tuple(s for s in _SPLIT_RE.split(_CAMEL_RE.sub("_", name).lower()) if s)


@functools.lru_cache(maxsize=8192)
def is_secret_name(name: str) -> bool:
    """Whether an env var, dict key or header name looks like it holds a secret.

    True for OPENAI_API_KEY, GITHUB_TOKEN, AWS_SECRET_ACCESS_KEY, DB_PASSWORD, apiKey, x-api-key,
    Cookie, client_secret; false for KEYBOARD, MONKEY, SORT_KEY, PUBLIC_KEY, max_tokens, PWD,
    token_type and DB_PASSWORD_FILE (a name that describes a secret rather than holds it).
    """
    segments = _name_segments(name)
    last_secret = -1
    for i, seg in enumerate(segments):
        if _is_secret_segment(seg, i, segments):
            last_secret = i
    if last_secret < 0:
        return False
    return not any(seg in _QUALIFIERS for seg in segments[last_secret + 1:])


def _is_secret_segment(seg: str, i: int, segments: tuple[str, ...]) -> bool:
    if _SECRET_SEGMENT_RE.fullmatch(seg):
        return True
    if seg == "pwd":
        return len(segments) > 1  # a bare PWD is the working directory
    if seg in ("key", "keys"):
        return i > 0 and segments[i - 1] not in _PLAIN_KEY_PREFIXES
    return False


@functools.lru_cache(maxsize=8192)
def _secret_key_kind(name: str) -> str | None:
    """The marker kind for a secret dict key (its normalized name), or None if not secret."""
    if not is_secret_name(name):
        return None
    return "_".join(_name_segments(name))[:40]


def _shannon_entropy(text: str) -> float:
    n = len(text)
    counts: dict[str, int] = {}
    for ch in text:
        counts[ch] = counts.get(ch, 0) + 1
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def _is_placeholder(value: str) -> bool:
    """Empty, already redacted, a template/reference (`$X`, `{{x}}`, `<x>`, `%s`) or a null word."""
    v = value.strip()
    if not v or _MARKER_PREFIX in v:
        return True
    if v[0] in "$%{<" or (len(v) <= _PLACEHOLDER_LEN and v.lower() in _PLACEHOLDERS):
        return True
    return not v.strip("*xX•.#-_ ")  # masked: "****", "xxxx"


def _looks_like_credential(value: str) -> bool:
    """Character-class and entropy test for a value that follows a secret-looking name.

    Errs towards True: anything mixing letters and digits, or with punctuation, counts; plain
    words and snake_case phrases ("please_change", "none") and dotted code references do not.
    """
    if _is_placeholder(value):
        return False
    v = value.strip()
    if len(v) < 4 or _DOTTED_IDENT_RE.fullmatch(v):
        return False
    lower, upper = _LOWER_RE.search(v), _UPPER_RE.search(v)  # C-speed scans: values can be long
    digit, symbol = _DIGIT_RE.search(v), _SYMBOL_RE.search(v)
    if digit and (lower or upper):
        return True
    if symbol and len(v) >= 6:
        return True
    if digit:
        return len(v) >= 8
    return _letters_look_random(v, bool(lower and upper))


def _letters_look_random(v: str, mixed_case: bool) -> bool:
    if mixed_case:
        uppers = len(_UPPER_RE.findall(v))
        # CamelCase identifiers have few capitals; random mixed-case tokens have many
        return len(v) >= 10 and 0.3 <= uppers / len(v) <= 0.7
    if _LONG_WORD_RE.search(v):  # (C-speed scans: no list of the words)
        return True
    return len(v) >= 12 and _WORD_SEP_RE.search(v) is None and _shannon_entropy(v) >= 3.3


# --- built-in token formats -------------------------------------------------------------------

_Hit = tuple[int, int, str]
_PASSTHROUGH = frozenset({int, float, bool, type(None)})


def _token_hit(m: re.Match[str]) -> _Hit | None:
    """Decide what a _TOKEN_RE candidate is, and which span to replace (None: not a secret)."""
    first = m.group()[0]
    if first == "k":
        if m.start("hook") >= 0:
            return m.start("hook"), m.end("hook"), _marker("slack")
        return _sk_hit(m.string, m.start() - 1, m.end())
    if first == ":":
        return m.start("url_pw"), m.end("url_pw"), _marker("url_password")
    if first == "A":
        return m.start(), m.end(), _marker("google" if m.group()[1] == "I" else "aws")
    if first == "x" and not any(c.isdigit() for c in m.group()):
        return None  # slack tokens carry numeric team/user ids
    kind = {"g": "github", "x": "slack", "J": "jwt"}[first]
    return m.start() - _TOKEN_BACKSTEP.get(first, 0), m.end(), _marker(kind)


def _sk_hit(text: str, start: int, end: int) -> _Hit | None:
    if text.startswith("sk-ant-", start):
        return start, end, _marker("anthropic")
    body = text[start + 3:end]
    if body.startswith(_OPENAI_PREFIXES) and len(body) >= 40:
        return start, end, _marker("openai")  # letters-only keys exist too (issue 11)
    if any(c.isupper() for c in body) and any(c.isdigit() for c in body):
        return start, end, _marker("openai")
    return None  # "sk-learn-pipeline-..." and other hyphenated words


_OPENAI_PREFIXES = ("proj-", "svcacct-", "admin-", "None-")


def _format_hit(m: re.Match[str], kind: str) -> _Hit | None:
    start, end = m.span(1) if m.re.groups else m.span()
    return start, end, _marker(kind)


def _bare_hit(m: re.Match[str]) -> _Hit | None:
    kind = m.lastgroup
    if kind == "aws" and not _looks_like_aws_secret(m.group()):
        return None
    return m.start(), m.end(), _marker(kind or "aws")


def _looks_like_aws_secret(value: str) -> bool:
    """40 base64 characters from 30 random bytes: capitals and small letters in like numbers, a digit, few
    slashes (a path has many) and high entropy (a CamelCase identifier has less)."""
    if value.count("/") > 3 or not _DIGIT_RE.search(value):
        return False
    uppers, lowers = len(_UPPER_RE.findall(value)), len(_LOWER_RE.findall(value))
    if uppers < 6 or lowers < 6 or not 0.3 <= uppers / (uppers + lowers) <= 0.7:
        return False  # CamelCase names have few capitals
    return _shannon_entropy(value) >= 4.2


def _near_hit(m: re.Match[str], text: str) -> _Hit | None:
    ident_start, ident_end = _identifier_span(text, m.start())
    ident = text[ident_start:ident_end]
    word = ident.lower().rstrip("s")
    if word not in ("key", "token", "secret", "password", "passwd", "passphrase", "credential", "pwd") \
            and not is_secret_name(ident):
        return None
    start = m.start("value")
    end = _trim_unquoted(text, start, m.end("value"))
    value = text[start:end]
    if not _looks_high_entropy(value):
        return None
    return start, end, _marker("high_entropy")


def _looks_high_entropy(value: str) -> bool:
    if len(value) < 16 or value.count("/") > 2 or _DOTTED_IDENT_RE.fullmatch(value):
        return False
    if not (_DIGIT_RE.search(value) and (_LOWER_RE.search(value) or _UPPER_RE.search(value))):
        return False
    return _shannon_entropy(value) >= 3.2


# --- secret-looking assignments ---------------------------------------------------------------

def _identifier_span(text: str, pos: int) -> tuple[int, int]:
    start = end = pos
    while start > 0 and pos - start < 64 and text[start - 1] in _IDENT_CHARS:
        start -= 1
    while end < len(text) and end - pos < 80 and text[end] in _IDENT_CHARS:
        end += 1
    return start, end


class _Values:
    """Bare values of the assignment candidates of one scan of one text: where each ends and
    whether it looks like a credential, in time linear in the text.

    Repetitive text (``"secret:" * 5000``) holds a candidate every few characters, and each one's
    value runs to the same end, up to _MAX_VALUE characters on: matching or judging every value
    anew costs thousands of steps per character. So the matcher takes a bare value only
    _SHORT_VALUE characters far; past that the run of value characters is found once (a value ends
    where its run ends, or _MAX_VALUE on), and when a second long value starts near
    the last, the values are judged from counts over the stretch they lie in (_ValueCounts), built
    once for many candidates. The verdicts are those of ``_looks_like_credential``.
    """

    def __init__(self, haystack: str, text: str) -> None:
        self._haystack, self._text = haystack, text
        self._run = (0, 0)                      # [start, end) of the last run of value characters
        self._stops = (0, 0)                    # [start, end) of the last run of "." and ":"
        self._counts: _ValueCounts | None = None
        self._last_long = -_MAX_VALUE           # where the last long value started

    def end(self, start: int) -> int:
        """The end of the bare value that starts at ``start`` (the matcher took _SHORT_VALUE of it)."""
        run_start, run_end = self._run
        if not run_start <= start < run_end:
            run_end = _VALUE_RUN_RE.match(self._haystack, start).end()  # type: ignore[union-attr]
            self._run = (start, run_end)
        return min(run_end, start + _MAX_VALUE)

    def trim(self, start: int, end: int) -> int:
        """``_trim_unquoted(text, start, end)``: the run of "." and ":" it strips is found once for
        every value that ends in it."""
        text = self._text
        if end - start <= 1 or text[end - 1] not in ".:":
            return end
        lo, hi = self._stops
        if not lo <= end - 1 < hi:
            lo = end - 1
            while lo > 0 and text[lo - 1] in ".:":
                lo -= 1
            self._stops = (lo, _STOPS_RE.match(text, end - 1).end())  # type: ignore[union-attr]
        return max(start + 1, lo)

    def looks_like_credential(self, start: int, end: int) -> bool:
        """``_looks_like_credential(text[start:end])`` for a bare value."""
        if end - start <= _LONG_VALUE:
            return _looks_like_credential(self._text[start:end])
        counts = self._counts
        if counts is None or not counts.start <= start < end <= counts.end:
            near = start - self._last_long < _MAX_VALUE
            self._last_long = start
            if not near:  # one long value alone: a scan of it costs less than counting
                return _looks_like_credential(self._text[start:end])
            counts = self._counts = _ValueCounts(self._text, start, min(self._run[1], start + 2 * _MAX_VALUE))
        return counts.looks_like_credential(start, end)


_LONG_VALUE = 64  # longer bare values are judged by _ValueCounts when they come in numbers
# Character classes of _looks_like_credential, as byte tables over the text's ASCII image (every
# other character is "?": a symbol, unmasked, not a letter, digit, dot or word separator, like
# any non-ASCII character; "•", which masks, is "*").
_CLASS_PATTERNS = (("lower", r"[a-z]"), ("upper", r"[A-Z]"), ("digit", r"[0-9]"), ("symbol", _SYMBOL_RE.pattern),
                   ("unmasked", r"[^*xX.#\-_ ]"), ("undotted", r"[^A-Za-z_.]"), ("dot", r"\."))


@functools.cache
def _class_tables() -> dict[str, bytes]:
    """Built on first use: only texts with long bare values need them."""
    return {name: bytes(1 if re.fullmatch(pattern, chr(i)) else 0 for i in range(256))
            for name, pattern in _CLASS_PATTERNS}


_LONG_WORD_BYTES_RE = _lazy("_LONG_WORD_BYTES_RE", _LONG_WORD_RE.pattern.encode()[:-4] + b"{16,}")
_DOUBLE_DOT_BYTES_RE = _lazy("_DOUBLE_DOT_BYTES_RE", rb"\.(?=\.)")


class _ValueCounts:
    """Prefix counts of character classes over ``text[start:end]`` (a stretch of one run of bare
    value characters): any value inside it is judged in constant time."""

    def __init__(self, text: str, start: int, end: int) -> None:
        import bisect
        import itertools

        self.start, self.end, self._text, self._bisect = start, end, text, bisect.bisect_left
        image = text[start:end].replace("\u2022", "*").encode("ascii", "replace")
        self._prefix = {name: list(itertools.accumulate(image.translate(table), initial=0))
                        for name, table in _class_tables().items()}
        self._long_words = [(m.start() + start, m.end() + start) for m in _LONG_WORD_BYTES_RE.finditer(image)]
        self._word_ends = [word_end for _, word_end in self._long_words]
        self._double_dots = [m.start() + start for m in _DOUBLE_DOT_BYTES_RE.finditer(image)]

    def _count(self, name: str, start: int, end: int) -> int:
        prefix = self._prefix[name]
        return prefix[end - self.start] - prefix[start - self.start]

    def looks_like_credential(self, start: int, end: int) -> bool:
        """``_looks_like_credential(text[start:end])`` for a bare value (no space, no "[") longer than
        any placeholder word, step by step."""
        text, length = self._text, end - start
        if text[start] in "$%{<" or not self._count("unmasked", start, end):
            return False  # a placeholder
        if self._dotted_identifier(start, end):
            return False
        lower, upper = self._count("lower", start, end), self._count("upper", start, end)
        digit, symbol = self._count("digit", start, end), self._count("symbol", start, end)
        if digit and (lower or upper):
            return True
        if symbol and length >= 6:
            return True
        if digit:
            return length >= 8
        if lower and upper:
            return length >= 10 and 0.3 <= upper / length <= 0.7
        return self._has_long_word(start, end)  # (with no separator at all the value is one long word)

    def _dotted_identifier(self, start: int, end: int) -> bool:
        if self._count("undotted", start, end) or not self._count("dot", start, end):
            return False
        if self._text[start] == "." or self._text[end - 1] == ".":
            return False
        first = self._bisect(self._double_dots, start)
        return not (first < len(self._double_dots) and self._double_dots[first] < end - 1)

    def _has_long_word(self, start: int, end: int) -> bool:
        """Whether 16 word characters in a row lie in [start, end)."""
        words = self._long_words
        i = self._bisect(self._word_ends, start + 1)  # the first word that ends after start
        while i < len(words) and words[i][0] < end:
            if min(words[i][1], end) - max(words[i][0], start) >= 16:
                return True
            if words[i][1] >= end:
                return False
            i += 1
        return False


def _named_value(m: re.Match[str], values: _Values) -> tuple[str, int, int, str | None]:
    for value_group, scheme_group in (("uv", "scheme_u"), ("dq", "scheme_d"), ("sq", "scheme_s"),
                                      ("eq", "scheme_e")):
        if m.start(value_group) >= 0:
            start, end = m.span(value_group)
            if value_group == "uv" and end - start == _SHORT_VALUE:  # it may go on
                end = values.end(start)
            return value_group, start, end, m.group(scheme_group)
    raise AssertionError("unreachable: _NAMED_RE always captures a value")


def _named_hit(m: re.Match[str], text: str, values: _Values) -> _Hit | None:
    """Decide whether a "name <sep> value" candidate holds a credential and which span to replace."""
    ident_start, ident_end = _identifier_span(text, m.start())
    ident = text[ident_start:ident_end]
    is_bearer = ident.lower() == "bearer"
    if not (is_bearer or is_secret_name(ident)):
        return None
    group, start, end, scheme = _named_value(m, values)
    spaced = not any(c in "=:" for c in text[ident_end:start])
    if spaced and not (is_bearer or ident.startswith("-")):
        return None  # only CLI flags (--token abc) and "Bearer abc" separate name and value by a space
    if group == "uv" and end - start > 1 and text[end - 1] in ".:":
        end = values.trim(start, end)
    value = text[start:end]
    name = "_".join(_name_segments(ident))
    always = name in _ALWAYS_SECRET_NAMES or scheme is not None
    long_bare = group == "uv" and end - start > _LONG_VALUE
    credential = values.looks_like_credential(start, end) if long_bare else _looks_like_credential(value)
    if not (credential or (always and not _is_placeholder(value))):
        return None
    if group == "uv" and "cookie" in name:
        end = _end_of_line(text, end)  # "Cookie: a=1; b=2" holds several secrets
    return start, end, _marker(_assignment_kind(name, value, is_bearer or scheme == "bearer"))


def _trim_unquoted(text: str, start: int, end: int) -> int:
    if end - start > 1 and text[end - 1] in ".:":  # sentence punctuation after the value
        end = max(start + 1, start + len(text[start:end].rstrip(".:")))
    return end


def _end_of_line(text: str, pos: int) -> int:
    eol = text.find("\n", pos)
    eol = len(text) if eol < 0 else eol
    return eol - 1 if eol > pos and text[eol - 1] == "\r" else eol


def _assignment_kind(name: str, value: str, bearer: bool) -> str:
    if bearer:
        return "bearer"
    aws_secret = "secret" in name and ("aws" in name or "access" in name)
    if aws_secret and len(value) == 40 and re.fullmatch(r"[A-Za-z0-9/+]{40}", value):
        return "aws"
    return "assignment"


# --- scanning ---------------------------------------------------------------------------------

def _scan(regex: re.Pattern[str], haystack: str, text: str,
          decide: Callable[[re.Match[str]], _Hit | None]) -> str:
    """Replace every accepted candidate of `regex` in `text`; `haystack` has the same indices.

    A rejected candidate is resumed one character later rather than skipped whole, so a secret
    inside it (``token ... api_key=...``) is still found.
    """
    pieces: list[str] = []
    hits: list[_Hit] = []
    last = pos = 0
    while (m := regex.search(haystack, pos)) is not None:
        hit = decide(m)
        if hit is None:
            pos = m.start() + 1
            continue
        start, end, marker = hit
        if start < last:  # overlaps the previous replacement (a match moved back to its start)
            pos = m.start() + 1
            continue
        pieces += (text[last:start], marker)
        hits.append(hit)
        last = end
        pos = max(m.end(), end)
    if not pieces:
        return text
    pieces.append(text[last:])
    if (calls := getattr(_SPANS, "calls", None)) is not None:
        calls.append(hits)
    return "".join(pieces)


_SPANS = threading.local()  # while redact_spans runs: the hits of every _scan, in order


def _compose(length: int, calls: list[list[_Hit]]) -> list[_Hit]:
    """Replacements of successive passes (each in the coordinates of the text it saw) as spans of
    the original text; a replacement that covers part of an earlier marker absorbs all of it."""
    done: list[_Hit] = []  # sorted, disjoint, in original coordinates
    for hits in calls:
        mapped = [(_to_original(done, start, False), _to_original(done, end, True), marker)
                  for start, end, marker in hits]
        for start, end, marker in mapped:
            kept = [h for h in done if h[1] <= start or h[0] >= end]
            start = min([start] + [h[0] for h in done if not (h[1] <= start or h[0] >= end)])
            end = max([end] + [h[1] for h in done if not (h[1] <= start or h[0] >= end)])
            done = sorted(kept + [(start, end, marker)])
    return done


def _to_original(done: list[_Hit], pos: int, is_end: bool) -> int:
    cur = orig = 0
    for start, end, marker in done:
        plain = start - orig
        if pos < cur + plain or (is_end and pos == cur + plain):
            return orig + (pos - cur)
        cur += plain
        if pos < cur + len(marker) or (is_end and pos == cur + len(marker)):
            return end if is_end and pos > cur else start
        cur += len(marker)
        orig = end
    return orig + (pos - cur)


def _may_hold_assignment(text: str) -> bool:
    # cheaper than lowercasing and searching: every form needs "=", ":", "--" or "Bearer"
    return ("=" in text or ":" in text or "--" in text or "earer" in text or "EARER" in text)


# Every candidate of _NAMED_RE holds one of these words (each branch of _NAMED_SRC spells one out), so
# a text without any cannot match: timestamps and paths with ":" or "=" skip the pattern (and its compile).
_NAMED_WORDS = ("key", "token", "pass", "pwd", "secret", "credential", "cookie", "auth", "jwt", "bearer")


def _redact_named(text: str) -> str:
    low = text.lower()
    if len(low) == len(text):
        if not any(word in low for word in _NAMED_WORDS):
            return text
        values = _Values(low, text)
        return _scan(_NAMED_RE, low, text, lambda m: _named_hit(m, text, values))
    # a few non-ASCII characters change length when lowercased; match case-insensitively instead
    values = _Values(text, text)
    return _scan(_named_re_icase(), text, text, lambda m: _named_hit(m, text, values))


def _redact_formats(text: str) -> str:
    for kind, anchors, regex in _FORMATS:
        for anchor in anchors:
            if anchor in text:
                text = _scan(regex, text, text, lambda m, kind=kind: _format_hit(m, kind))
                break
    return text


def _redact_near(text: str) -> str:
    low = text.lower()
    if not ("key" in low or "tok" in low or "secret" in low or "pass" in low or "pwd" in low or "cred" in low):
        return text
    if len(low) != len(text) or _NEAR_RE.search(low) is None:
        return text  # (a text whose length changes when lowercased keeps the named pass only)
    return _scan(_NEAR_RE, low, text, lambda m: _near_hit(m, text))


def _compile_custom(pattern: str) -> re.Pattern[str]:
    hint = "fix or remove it under [redact] patterns in the agitlog config (Python `re` syntax)"
    if not isinstance(pattern, str):
        raise ConfigError(f"redact pattern {pattern!r} is not a string", hint)
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ConfigError(f"invalid redact pattern {pattern!r}: {exc}", hint) from None
    if compiled.search("") is not None:
        raise ConfigError(f"redact pattern {pattern!r} matches the empty string", hint)
    return compiled


def _custom_hit(m: re.Match[str], markers: list[tuple[int, int]]) -> _Hit | None:
    start, end = m.span(1) if m.re.groups and m.start(1) >= 0 else m.span()
    if start == end or any(s < end and start < e for s, e in markers):
        return None  # never redact inside an existing marker: keeps redaction idempotent
    return start, end, _marker("custom")


class Redactor:
    """Replaces secrets in event values by ``[REDACTED:<kind>]`` markers.

    ``extra_patterns`` are user regexes (config ``[redact] patterns``); a match becomes
    ``[REDACTED:custom]``, or only its group 1 if the pattern has a group.
    """

    def __init__(self, extra_patterns: Sequence[str] = ()) -> None:
        if isinstance(extra_patterns, str):
            raise ConfigError("[redact] patterns must be a list of regexes, not a single string",
                              f'write patterns = ["{extra_patterns}"]')
        self._custom = tuple(_compile_custom(p) for p in extra_patterns)
        self._keys: dict[str, tuple[str, str | None]] = {}  # key -> (redacted key, secret kind)

    def redact_text(self, text: str) -> str:
        """Return `text` with every secret it contains replaced by a marker."""
        # A replacement can expose a neighbour (a token glued to a redacted one now has a clean
        # boundary), so passes repeat until nothing changes: redacting twice changes nothing.
        for _ in range(_MAX_ROUNDS):
            redacted = self._redact_once(text)
            if redacted is text:
                break
            text = redacted
        return text

    def redact_spans(self, text: str) -> tuple[str, list[tuple[int, int, str]]]:
        """`redact_text`, and where: (start, end, marker) spans of ``text`` that were replaced."""
        _SPANS.calls = []
        try:
            redacted = self.redact_text(text)
            calls = _SPANS.calls
        finally:
            _SPANS.calls = None
        return redacted, _compose(len(text), calls)

    def _redact_once(self, text: str) -> str:
        if len(text) >= _MIN_SECRET_LEN:
            if "-----BEGIN" in text:
                text = _scan(_PEM_RE, text, text, lambda m: (m.start(), m.end(), _marker("private_key")))
            if _TOKEN_RE.search(text) is not None:
                text = _scan(_TOKEN_RE, text, text, _token_hit)
            runs = _long_runs(text)
            if runs and runs.find(_RUN_NEEDLE) >= 0 and _may_hold_format(text):
                text = _redact_formats(text)
                if _BARE_RE.search(text) is not None:
                    text = _scan(_BARE_RE, text, text, _bare_hit)
            if _may_hold_assignment(text):
                text = _redact_named(text)
            if runs:  # a high-entropy value is a run of 16 token characters
                text = _redact_near(text)
        if self._custom:
            text = self._redact_custom(text)
        return text

    def _redact_custom(self, text: str) -> str:
        for regex in self._custom:
            markers = [m.span() for m in _MARKER_RE.finditer(text)] if _MARKER_PREFIX in text else []
            text = _scan(regex, text, text, lambda m: _custom_hit(m, markers))
        return text

    def redact_value(self, value: object) -> object:
        """Return a redacted copy of a JSON-like value; the input is never mutated.

        Strings are redacted as text; dicts, lists, tuples and sets are walked recursively. A
        string under a secret-looking dict key (``password``, ``apiKey``...) is replaced wholesale
        by ``[REDACTED:<normalized key>]`` unless empty. Other scalars pass through unchanged.
        """
        return self._walk(value, None)

    # The walk runs on every event: exact-type checks first, isinstance only for the rare rest.
    def _walk(self, value: object, secret_kind: str | None) -> object:
        t = type(value)
        if t is str:
            return self._redact_str(value, secret_kind)  # type: ignore[arg-type]
        if t is dict:
            return self._walk_dict(value)  # type: ignore[arg-type]
        if t is list:
            return [self._walk(v, secret_kind) for v in value]  # type: ignore[attr-defined]
        if t in _PASSTHROUGH:
            return value
        return self._walk_other(value, secret_kind)

    def _walk_other(self, value: object, secret_kind: str | None) -> object:
        if isinstance(value, str):
            return self._redact_str(str(value), secret_kind)
        if isinstance(value, Mapping):
            return self._walk_dict(value)
        if isinstance(value, (list, tuple, set, frozenset)):
            items = [self._walk(v, secret_kind) for v in value]
            if isinstance(value, list):
                return items
            return tuple(items) if isinstance(value, tuple) else type(value)(items)
        return value  # numbers, bytes and objects we cannot see into

    def _redact_str(self, value: str, secret_kind: str | None) -> str:
        if secret_kind is None or not value or _MARKER_RE.fullmatch(value):
            return self.redact_text(value)
        return _marker(secret_kind)

    def _walk_dict(self, mapping: Mapping[object, object]) -> dict[object, object]:
        out: dict[object, object] = {}
        keys = self._keys
        for key, value in mapping.items():
            kind = None
            if type(key) is str:
                info = keys.get(key) or self._key_info(key)
                key, kind = info
            t = type(value)
            if t is str and kind is None:
                out[key] = self.redact_text(value)  # type: ignore[arg-type]
            elif t in _PASSTHROUGH:
                out[key] = value
            else:
                out[key] = self._walk(value, kind)
        return out

    def _key_info(self, key: str) -> tuple[str, str | None]:
        # Keys repeat across events ("role", "content"), so the verdict is cached per key;
        # a key is redacted too in case a secret was used as one (a dict keyed by token).
        info = self._keys.get(key)
        if info is None:
            if len(self._keys) >= 50_000:
                self._keys.clear()
            info = self._keys[key] = (self.redact_text(key), _secret_key_kind(key))
        return info

    def redact_headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        """Return a redacted copy of HTTP headers.

        Credential headers (Authorization, Cookie, x-api-key... and any secret-looking name) get
        ``[REDACTED:header]`` unless empty; every other value is redacted as text.
        """
        out: dict[str, str] = {}
        for name, value in headers.items():
            if _is_secret_header(name) and value:
                out[name] = _marker("header")
            elif isinstance(value, str):
                out[name] = self.redact_text(value)
            else:
                out[name] = self.redact_value(value)  # type: ignore[assignment]
        return out


_SECRET_HEADERS = frozenset({
    "authorization", "proxy-authorization", "x-api-key", "api-key", "cookie", "set-cookie",
    "x-goog-api-key", "x-auth-token", "x-amz-security-token", "x-csrf-token", "x-xsrf-token",
})


def _is_secret_header(name: object) -> bool:
    return isinstance(name, str) and (name.lower() in _SECRET_HEADERS or is_secret_name(name))


DEFAULT_REDACTOR = Redactor()
