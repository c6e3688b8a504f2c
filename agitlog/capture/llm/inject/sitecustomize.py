"""agitlog in-process capture: uncaught exceptions become ``error`` events, and LLM calls that do not
honour OPENAI_BASE_URL/ANTHROPIC_BASE_URL are re-routed to the recording proxy.

`agitlog run` puts this file's directory first on the child's PYTHONPATH, so Python imports it at
start-up (and so does every Python process the child spawns: they inherit the environment).
``agitlog run --no-auto`` simply does not inject it.

Uncaught exceptions (when ``AGITLOG_ADDR`` and ``AGITLOG_TOKEN`` are set): ``sys.excepthook`` and
``threading.excepthook`` are chained. The original hook runs first, so the traceback is printed and
the exit code is what it would have been; then one ``error`` event (``exception``, ``error``,
``traceback``, ``uncaught: true``, ``thread`` for a thread) goes to the recorder over the wire
protocol, through the SDK's connection when the program uses the SDK (so it stays in order after
the events sent before it), else over a connection of its own, and waits for the recorder's
acknowledgement so the event is durable before the process exits. Start-up pays only for importing
``threading`` (under a millisecond) when the program would not have; the rest is paid when an
exception is uncaught. KeyboardInterrupt is not an error (the session ends ``interrupted``).

LLM re-routing does nothing unless ``AGITLOG_PROXY`` (the proxy's root URL with its secret path
segment, e.g. ``http://127.0.0.1:40123/3f9a...``) is set.

What it patches, lazily: an import hook waits for ``httpx`` (used by openai 1.x / anthropic 0.x) or
``httpx2`` (openai 3.x / anthropic 2.x) to be imported and then wraps ``Client._send_single_request``
and ``AsyncClient._send_single_request``, the one place every request passes through, once per hop,
streaming or not, before a transport is chosen. A process that never imports them pays for one
extra entry on ``sys.meta_path``.

Which requests count as LLM endpoints:

- any request to the hosts ``api.openai.com``, ``api.anthropic.com`` or ``*.openai.azure.com``;
- any request, to any host, whose path ends in ``/chat/completions``, ``/completions``,
  ``/responses``, ``/v1/messages`` or ``/embeddings``.

Not re-routed: requests already addressed to the proxy (host and port of ``AGITLOG_PROXY``),
requests that already carry ``x-agitlog-upstream``, and clients whose transport is an
``httpx.MockTransport`` (tests). So one call is never recorded twice.

How: the request goes to ``<AGITLOG_PROXY><original path and query>`` with the original absolute URL
in ``x-agitlog-upstream`` (the proxy strips it and forwards there). The response handed back to the
caller carries the original request, so SDKs see their own URL in ``response.request``.

A ``sitecustomize`` that this one shadows (the next one on ``sys.path``) is run afterwards and takes
its place in ``sys.modules``. This file must import nothing but the standard library: the child's
interpreter may not have agitlog installed.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing would cost every child ~5 ms
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from types import ModuleType
    from typing import Any

_PROXY_ENV = "AGITLOG_PROXY"
_ADDR_ENV = "AGITLOG_ADDR"
_TOKEN_ENV = "AGITLOG_TOKEN"
_HEADER = "x-agitlog-upstream"
_MODULES = ("httpx", "httpx2")
_HOSTS = ("api.openai.com", "api.anthropic.com")
_HOST_SUFFIXES = (".openai.azure.com",)
_PATH_SUFFIXES = ("/chat/completions", "/completions", "/responses", "/v1/messages", "/embeddings")
_LOCAL_NAMES = ("127.0.0.1", "localhost", "::1")


def is_llm_endpoint(host: str | None, path: str) -> bool:
    """Whether a request to `host` + `path` is one of the LLM endpoints listed in the module docstring."""
    host = (host or "").lower()
    if host in _HOSTS or host.endswith(_HOST_SUFFIXES):
        return True
    return path.rstrip("/").endswith(_PATH_SUFFIXES)


class _Proxy:
    """The proxy address from AGITLOG_PROXY."""

    def __init__(self, root: str) -> None:
        self.root = root.rstrip("/")
        scheme, _, rest = self.root.partition("://")
        self.netloc = rest.split("/", 1)[0]
        if self.netloc.startswith("["):
            host, _, port = self.netloc[1:].partition("]")
            port = port.lstrip(":")
        else:
            host, _, port = self.netloc.partition(":")
        self.host = host.lower()
        self.port = int(port) if port.isdigit() else (443 if scheme == "https" else 80)

    def addresses(self, url: Any) -> bool:
        port = url.port or (443 if url.scheme == "https" else 80)
        host = (url.host or "").lower()
        return port == self.port and (host == self.host or (host in _LOCAL_NAMES and self.host in _LOCAL_NAMES))


def _reroute(client: Any, httpx: ModuleType, proxy: _Proxy, request: Any) -> Any:
    """The request re-addressed to the proxy, or None to send it as it is."""
    url = request.url
    if _HEADER in request.headers or proxy.addresses(url) or not is_llm_endpoint(url.host, url.path):
        return None
    mock = getattr(httpx, "MockTransport", None)
    if mock is not None and isinstance(client._transport_for_url(url), mock):
        return None
    headers = [(k, v) for k, v in request.headers.raw if k.lower() != b"host"]
    # stream= requests get no automatic headers: Host must be given.
    headers = [(b"Host", proxy.netloc.encode("ascii")), *headers, (_HEADER.encode(), str(url).encode("ascii"))]
    target = proxy.root + url.raw_path.decode("ascii")
    return httpx.Request(request.method, target, headers=headers, stream=request.stream, extensions=request.extensions)


def _restore(client: Any, request: Any, response: Any) -> Any:
    response.request = request
    if "set-cookie" in response.headers:
        client.cookies.extract_cookies(response)  # under the original domain, as without agitlog
    return response


def _wrap_sync(original: Callable[..., Any], httpx: ModuleType, proxy: _Proxy) -> Callable[..., Any]:
    def _send_single_request(self: Any, request: Any) -> Any:
        routed = _reroute(self, httpx, proxy, request)
        if routed is None:
            return original(self, request)
        return _restore(self, request, original(self, routed))

    return _send_single_request


def _wrap_async(original: Callable[..., Any], httpx: ModuleType, proxy: _Proxy) -> Callable[..., Any]:
    async def _send_single_request(self: Any, request: Any) -> Any:
        routed = _reroute(self, httpx, proxy, request)
        if routed is None:
            return await original(self, request)
        return _restore(self, request, await original(self, routed))

    return _send_single_request


def _patch(module: ModuleType, proxy: _Proxy) -> None:
    for name, wrap in (("Client", _wrap_sync), ("AsyncClient", _wrap_async)):
        cls = getattr(module, name, None)
        # httpx2.alias_httpx() can make both names one module: patch each class once.
        if cls is None or "_agitlog_patched" in cls.__dict__:
            continue
        cls._send_single_request = wrap(cls._send_single_request, module, proxy)
        cls._agitlog_patched = True


def _patch_safely(module: ModuleType, proxy: _Proxy) -> None:
    try:
        _patch(module, proxy)
    except Exception as exc:  # an httpx we do not understand must still import
        sys.stderr.write(f"agitlog: could not hook {module.__name__} ({exc}); its LLM calls may go unrecorded\n")


class _PatchingLoader:
    """Runs the real loader, then patches the fresh module."""

    def __init__(self, loader: Any, proxy: _Proxy) -> None:
        self._loader = loader
        self._proxy = proxy

    def create_module(self, spec: Any) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        module.__loader__ = self._loader  # hide ourselves from everything that looks later
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        self._loader.exec_module(module)
        _patch_safely(module, self._proxy)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


class _PatchOnImport:
    """A meta path finder that only wraps the loaders of httpx and httpx2."""

    def __init__(self, proxy: _Proxy) -> None:
        self._proxy = proxy

    def find_spec(self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None) -> Any:
        if fullname not in _MODULES:
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec = find(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _PatchingLoader(spec.loader, self._proxy)
                return spec
        return None


def _install(root: str) -> None:
    proxy = _Proxy(root)
    sys.meta_path.insert(0, _PatchOnImport(proxy))
    for name in _MODULES:
        if name in sys.modules:  # imported before us (by a .pth file, say)
            _patch_safely(sys.modules[name], proxy)


def _report_uncaught(exc_type: Any, exc: Any, tb: Any, thread: str | None = None) -> None:
    """Record an uncaught exception as an ``error`` event; never raises, never blocks for long."""
    if exc_type is None or issubclass(exc_type, KeyboardInterrupt):
        return
    try:
        import traceback

        name = exc_type.__qualname__
        module = getattr(exc_type, "__module__", "builtins")
        data = {"error": str(exc), "exception": name if module == "builtins" else f"{module}.{name}",
                "traceback": "".join(traceback.format_exception(exc_type, exc, tb)), "uncaught": True}
        if thread is not None:
            data["thread"] = thread
        _send_event({"type": "error", "pid": os.getpid(), "data": data})
    except Exception:  # noqa: BLE001 - recording must never change how the program fails
        pass


def _send_event(draft: dict[str, Any]) -> None:
    sdk = sys.modules.get("agitlog.capture.sdk")
    if sdk is not None and sdk.enabled():  # the program's own connection: keeps the order of events
        sdk.CLIENT.send({**sdk._draft(draft["type"], draft["data"]), "ack": True}, wait=True)
        return
    import json
    import socket

    for key, env in (("span", "AGITLOG_SPAN"), ("agent", "AGITLOG_AGENT")):
        if os.environ.get(env):
            draft[key] = os.environ[env]
    if os.environ.get("AGITLOG_DECISION"):
        draft["data"]["decision_id"] = os.environ["AGITLOG_DECISION"]
    host, _, port = os.environ[_ADDR_ENV].rpartition(":")
    line = json.dumps({**draft, "ack": True}, default=repr).encode("utf-8", "surrogatepass")
    with socket.create_connection((host or "127.0.0.1", int(port)), timeout=5) as sock:
        sock.sendall(os.environ[_TOKEN_ENV].encode() + b"\n" + line + b"\n")
        reply = b""
        while not reply.endswith(b"\n"):  # the recorder's acknowledgement: the event is durable
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk


def _install_excepthooks() -> None:
    import threading

    previous = sys.excepthook

    def excepthook(exc_type: Any, exc: Any, tb: Any) -> None:
        previous(exc_type, exc, tb)  # the traceback as without agitlog, printed first
        _report_uncaught(exc_type, exc, tb)

    previous_thread = threading.excepthook

    def thread_excepthook(args: Any) -> None:
        previous_thread(args)
        if args.exc_type is not SystemExit:  # a thread's SystemExit is silent, as without agitlog
            _report_uncaught(args.exc_type, args.exc_value, args.exc_traceback,
                             thread=args.thread.name if args.thread is not None else "")

    sys.excepthook = excepthook
    threading.excepthook = thread_excepthook


def _chain_shadowed() -> None:
    """Run the sitecustomize our directory hides, as Python would have without agitlog."""
    import importlib.machinery  # cheap: re-exports the frozen import machinery
    from importlib._bootstrap import module_from_spec  # importlib.util would cost ~2 ms per process

    here = os.path.dirname(os.path.abspath(__file__))
    rest = [entry for entry in sys.path if os.path.abspath(entry or os.curdir) != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is None or spec.loader is None:
        return
    module = module_from_spec(spec)
    sys.modules["sitecustomize"] = module
    spec.loader.exec_module(module)


if __name__ == "sitecustomize":  # imported by site at start-up, not by a test or a tool reading it
    if os.environ.get(_PROXY_ENV):
        _install(os.environ[_PROXY_ENV])
    _chain_shadowed()
    if os.environ.get(_ADDR_ENV) and os.environ.get(_TOKEN_ENV):
        _install_excepthooks()  # after the shadowed sitecustomize: a hook it sets is chained too
