"""What a recorded child is told about agitlog's loopback servers: the LLM proxy's base URLs and the
OTLP receiver's endpoints, as environment variables.

Kept apart from the servers themselves so that `agitlog run` can hand these to the child while
the servers' code is still unloaded (agitlog.capture.services builds them on first use). Only
``os`` is imported here.
"""
from __future__ import annotations

import os
from collections.abc import Mapping  # not typing: on `agitlog run`'s start-up path

# --- the LLM proxy -------------------------------------------------------------------------------

DEFAULT_UPSTREAMS: dict[str, str] = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
    "gemini": "https://generativelanguage.googleapis.com",
}
BASE_URL_ENV: dict[str, str] = {"openai": "OPENAI_BASE_URL", "anthropic": "ANTHROPIC_BASE_URL"}
# Upstreams the proxy can reach but does not point every child at: only the Gemini CLI adapter sets
# GOOGLE_GEMINI_BASE_URL (to the proxy's /gemini route), where a rerun can serve Gemini's answers.
UPSTREAM_ENV: dict[str, str] = {**BASE_URL_ENV, "gemini": "GOOGLE_GEMINI_BASE_URL"}
PROXY_ENV = "AGITLOG_PROXY"
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


def upstreams_from_env(env: Mapping[str, str]) -> dict[str, str]:
    """Upstream base per provider: the variable the user had set, else the provider's default."""
    return {name: (env.get(var) or DEFAULT_UPSTREAMS[name]).rstrip("/") for name, var in UPSTREAM_ENV.items()}


def proxy_root_url(host: str, port: int, secret: str) -> str:
    """The proxy's root, secret path segment included: every URL a client uses starts with it."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/{secret}"


def proxy_child_env(root_url: str, providers: Mapping[str, str], host: str) -> dict[str, str]:
    """Variables that point a child's SDKs at the proxy (``providers``: the proxy's upstreams).

    When the parent has HTTP(S)_PROXY/ALL_PROXY set, 127.0.0.1 is added to NO_PROXY too: the SDKs
    honour those variables and would otherwise send proxy-bound traffic to the corporate proxy.
    """
    env = {BASE_URL_ENV[name]: f"{root_url}/{name}" for name in BASE_URL_ENV if name in providers}
    env[PROXY_ENV] = root_url
    if any(os.environ.get(var) for var in PROXY_VARS):
        env.update(_no_proxy_env(host))
    return env


def _no_proxy_env(host: str) -> dict[str, str]:
    current = os.environ.get("NO_PROXY") or os.environ.get("no_proxy") or ""
    names = [name for name in current.split(",") if name.strip()]
    for local in (host, "127.0.0.1", "localhost"):
        if local not in names:
            names.append(local)
    value = ",".join(names)
    return {"NO_PROXY": value, "no_proxy": value}


# --- the OTLP receiver ---------------------------------------------------------------------------

ENV_ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
ENV_TRACES_ENDPOINT = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
ENV_PROTOCOL = "OTEL_EXPORTER_OTLP_PROTOCOL"
ENV_TRACES_PROTOCOL = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
ENV_HEADERS = "OTEL_EXPORTER_OTLP_HEADERS"
ENV_TRACES_HEADERS = "OTEL_EXPORTER_OTLP_TRACES_HEADERS"


def otlp_base_url(host: str, port: int, token: str) -> str:
    return f"http://{host}:{port}/{token}"


def otlp_child_env(base_url: str, env: Mapping[str, str]) -> dict[str, str]:
    """Point the child's OpenTelemetry exporters at the receiver; the user's own endpoint still gets
    traces (the receiver forwards them), and their metrics and logs keep going where they went."""
    child = {ENV_TRACES_ENDPOINT: base_url + "/v1/traces", ENV_TRACES_PROTOCOL: "http/protobuf"}
    if not env.get(ENV_ENDPOINT):
        child[ENV_ENDPOINT] = base_url
    return child


def user_traces_endpoint(env: Mapping[str, str]) -> str | None:
    """Where the user's own OTLP traces went before agitlog: the traces endpoint as is, or the
    general endpoint plus /v1/traces (the OTLP exporter specification's rule)."""
    if env.get(ENV_TRACES_ENDPOINT):
        return env[ENV_TRACES_ENDPOINT]
    if env.get(ENV_ENDPOINT):
        return env[ENV_ENDPOINT].rstrip("/") + "/v1/traces"
    return None
