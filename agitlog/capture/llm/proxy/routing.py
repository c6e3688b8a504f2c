"""Where a request goes: the provider routes under the proxy's root and explicit upstream URLs
(``x-agitlog-upstream``), classified by provider so the recorder knows which wire format it speaks."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit


# -- routing -----------------------------------------------------------------------------------------

_OPENAI_SUFFIXES = ("/chat/completions", "/completions", "/responses", "/embeddings")


@dataclass(frozen=True)
class Route:
    provider: str
    url: str
    path: str
    scheme: str
    host: str
    port: int
    netloc: str
    target: str  # path + query as sent upstream


@dataclass(frozen=True)
class Refusal:
    status: int
    message: str
    code: str = "agitlog_no_route"


def make_route(url: str, provider: str, path: str) -> Route | Refusal:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return Refusal(500, f"agitlog proxy: upstream base for {provider} is not an http(s) URL: {url!r}")
    default_port = 443 if parts.scheme == "https" else 80
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Route(
        provider=provider,
        url=url,
        path=path,
        scheme=parts.scheme,
        host=parts.hostname,
        port=parts.port or default_port,
        netloc=parts.netloc.rpartition("@")[2],
        target=target,
    )


def classify_url(host: str, path: str) -> tuple[str, str]:
    """(provider, path relative to the provider base) for an explicit upstream URL.

    Anthropic keeps its ``/v1/...`` (its SDK base has no version); OpenAI-style paths lose the prefix up
    to ``/v1`` or Azure's ``/openai/deployments/<name>``, so both meet the shapes of the mapped routes.
    """
    host = host.lower()
    if host == "api.anthropic.com" or "/v1/messages" in path or path.endswith("/v1/complete"):
        start = path.find("/v1/")
        return "anthropic", path[start:] if start >= 0 else path
    is_openai_host = host == "api.openai.com" or host.endswith(".openai.azure.com")
    if is_openai_host or path.rstrip("/").endswith(_OPENAI_SUFFIXES):
        return "openai", _openai_relative(path)
    return "other", path


def _openai_relative(path: str) -> str:
    start = path.find("/v1/")
    if start >= 0:
        return path[start + 3 :]
    if path.startswith("/openai/deployments/"):
        rest = path[len("/openai/deployments/") :]
        return "/" + rest.partition("/")[2]
    if path.startswith("/openai/"):
        return path[len("/openai") :]
    return path


