"""A local recording proxy for LLM HTTP APIs.

`agitlog run` starts one `LLMProxy` on 127.0.0.1 and points the child's `OPENAI_BASE_URL` and
`ANTHROPIC_BASE_URL` at it (see `LLMProxy.child_env`). Every exchange is handed to the hooks as a pair
(`before_call(LLMRequest)`, `after_call(LLMRequest, LLMResult)`) while the bytes flow through unchanged (unless
`before_call` answers from a recording or, in a rerun's fork, hands back an edited body to forward).

URL mapping (``<root>`` is ``http://127.0.0.1:<port>/<secret>``):

- ``<root>/openai/<rest>?<query>``    -> ``<openai upstream base>/<rest>?<query>``
- ``<root>/anthropic/<rest>?<query>`` -> ``<anthropic upstream base>/<rest>?<query>``
- ``<root>/gemini/<rest>?<query>`` -> ``<Gemini API base>/<rest>?<query>`` (only the Gemini CLI adapter
  points a child at it: it sets ``GOOGLE_GEMINI_BASE_URL``)
- any path under ``<root>`` with header ``x-agitlog-upstream: <absolute URL>`` -> exactly that URL.
  The header is stripped before forwarding; the in-process re-routing (`agitlog/llm/inject`) uses it.

Authentication: ``<secret>`` is a random per-proxy path segment, known only through the URLs handed
to the recorded child (``child_env``). Any other local process (another user included) can reach
the port, so a request whose path does not start with ``/<secret>/`` gets a 403 and is neither
recorded nor forwarded; that check comes before routing, so the explicit-upstream route is only
open to authenticated requests.

The upstream bases default to what the user had in ``OPENAI_BASE_URL`` / ``ANTHROPIC_BASE_URL`` /
``GOOGLE_GEMINI_BASE_URL`` before agitlog replaced them, else the providers' public endpoints (`upstreams_from_env`).

What is forwarded: method, target, every end-to-end header (auth included, ``Host`` rewritten to the
upstream) and the body bytes. Hop-by-hop headers (RFC 9110 7.6.1, plus those named in ``Connection``,
plus ``Expect``) are dropped in both directions and the framing is redone per hop: a chunked request
body is forwarded with a ``Content-Length``; a response without a length (chunked or close-delimited,
e.g. server-sent events) is relayed chunk by chunk, each chunk written to the client as soon as it
arrives. Content encodings are never touched, but ``Accept-Encoding`` is narrowed to the codings the
recorder can decode (`encoding.narrow_accept_encoding`): a body it cannot read could not be redacted.

Errors: an unreachable upstream becomes a 502 (504 on timeout) with a JSON body shaped so both the
OpenAI and the Anthropic SDK surface its message; the hook then sees ``status=None`` and ``error``.
An upstream that dies mid-body makes the proxy close the client connection without the final chunk,
so the client sees a truncated stream; ``error`` says so. A hook that raises never breaks the call:
the first failure of each hook is reported once on stderr and the traffic goes on.

Layout: `server` (LLMProxy: listening, authentication, hook ordering), `framing` (HTTP/1.1 on the
child's side), `routing`, `relay` (serving a recorded reply or forwarding and copying the response),
`pool` (upstream connections), `exchange` (the request, reply and result types, the hooks).

Start-up cost matters (this runs on every `agitlog run`): the module imports only light standard
modules; `http.client` and the TLS context are loaded by a background thread after `start()`.
"""
from __future__ import annotations

from agitlog.capture.llm.proxy.exchange import LLMEditedRequest, LLMReply, LLMRequest, LLMResult, ProxyHooks
from agitlog.capture.llm.proxy.framing import UPSTREAM_HEADER
from agitlog.capture.llm.proxy.routing import classify_url
from agitlog.capture.llm.proxy.server import BASE_URL_ENV, DEFAULT_UPSTREAMS, PROXY_ENV, LLMProxy

__all__ = [
    "BASE_URL_ENV", "DEFAULT_UPSTREAMS", "LLMEditedRequest", "LLMProxy", "LLMReply", "LLMRequest", "LLMResult", "PROXY_ENV",
    "ProxyHooks", "UPSTREAM_HEADER", "classify_url",
]
