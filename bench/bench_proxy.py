"""Latency the LLM recording proxy adds, against the local fake model server.

    python bench/bench_proxy.py [--calls 400] [--hooks session|wire|noop] [--files 10000] [--check]

As in real use, three processes: this one is the agent (client), the fake model and the proxy each run
in their own. Direct and proxied requests are interleaved on two keep-alive connections (as an SDK
keeps one), so both see the same machine state. Reported: median added latency of a non-streaming call and of the
time to the first chunk of a stream, in ms and as a ratio. Target: <= 2 ms each (`--check` exits 1
when missed). `--hooks session` (default) records every exchange into a live agitlog session on a
generated repository of `--files` files, exactly as `agitlog run` does: events, raw-body attachments,
and the check for a due step snapshot before each call (no files change between calls here, so it
must be cheap). `--hooks wire` only parses each exchange; `--hooks noop` does nothing.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "llm")]

from fakemodel import FakeModel  # noqa: E402

from agitlog.capture.llm.proxy import LLMProxy, LLMReply, LLMRequest, LLMResult  # noqa: E402
from agitlog.capture.llm.wire import request_event_data, response_event_data  # noqa: E402

TARGET_MS = 2.0
BODY = json.dumps({"model": "gpt-bench", "messages": [{"role": "user", "content": "Say hello. " * 40}]}).encode()
STREAM_BODY = json.dumps(
    {"model": "gpt-bench", "messages": [{"role": "user", "content": "hi"}], "stream": True}
).encode()


class WireHooks:
    """Does the recorder's parsing work, off the critical path as the real recorder would."""

    def before_call(self, request: LLMRequest) -> LLMReply | None:
        return None

    def after_call(self, request: LLMRequest, result: LLMResult) -> None:
        request_event_data(request)
        response_event_data(request, result)


class NoopHooks(WireHooks):
    def after_call(self, request: LLMRequest, result: LLMResult) -> None:
        pass


@dataclass
class Sample:
    total_ms: float
    first_ms: float


def timed_call(conn: http.client.HTTPConnection, path: str, body: bytes) -> Sample:
    started = time.perf_counter()
    conn.request("POST", path, body, {"Content-Type": "application/json"})
    response = conn.getresponse()
    response.read1(65536)
    first = time.perf_counter()
    response.read()
    return Sample((time.perf_counter() - started) * 1000, (first - started) * 1000)


def serve(role: str, upstream: str, hooks: str) -> None:
    """Child process: print the server's URL, serve until stdin closes."""
    if role == "fake":
        server = FakeModel().start()
        url, stop = server.url, server.close
    elif hooks == "session":
        proxy, stop = _session_proxy(upstream)
        url = proxy.root_url
    else:
        proxy = LLMProxy(hooks=WireHooks() if hooks == "wire" else NoopHooks(), upstreams={"openai": upstream})
        proxy.start()
        url, stop = proxy.root_url, proxy.close
    print(url, flush=True)
    sys.stdin.read()
    stop()


def _session_proxy(upstream: str) -> tuple[LLMProxy, Callable[[], None]]:
    """The proxy as `agitlog run` wires it: hooks recording into a live session of a large repo."""
    sys.path.insert(0, str(ROOT / "bench"))
    from _common import make_repo

    from agitlog import git
    from agitlog.capture.llm.capture import LLMCapture
    from agitlog.capture.lifecycle import finish_session, start_session

    root = make_repo(FILES)
    live = start_session(git.find_repo(root), command=["bench"], cwd=root)
    capture = LLMCapture(live, inject=False)
    capture.proxy = LLMProxy(hooks=capture, upstreams={"openai": upstream})
    capture.proxy.start()

    def stop() -> None:
        capture.close()
        finish_session(live, status="ok", exit_code=0)

    return capture.proxy, stop


FILES = 10_000


@contextmanager
def server_process(role: str, upstream: str = "", hooks: str = "noop") -> Iterator[str]:
    command = [sys.executable, __file__, "--serve", role, "--upstream", upstream, "--hooks", hooks,
               "--files", str(FILES)]
    child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        yield child.stdout.readline().strip()
    finally:
        child.stdin.close()
        child.wait(timeout=30)


def connection(url: str) -> http.client.HTTPConnection:
    host, port = url.removeprefix("http://").split("/", 1)[0].split(":")
    return http.client.HTTPConnection(host, int(port))


def url_path(url: str) -> str:
    """The path part of a root URL (the proxy's secret segment; empty for the fake model)."""
    rest = url.removeprefix("http://")
    return "/" + rest.split("/", 1)[1] if "/" in rest else ""


def run(calls: int, hooks: str) -> dict[str, dict[str, float]]:
    with server_process("fake") as fake_url, server_process("proxy", f"{fake_url}/v1", hooks) as proxy_url:
        targets = (
            ("direct", connection(fake_url), "/v1/chat/completions"),
            ("proxy", connection(proxy_url), url_path(proxy_url) + "/openai/chat/completions"),
        )
        samples: dict[str, list[Sample]] = {"direct": [], "proxy": [], "direct_stream": [], "proxy_stream": []}
        for index in range(calls + calls // 10):
            keep = index >= calls // 10  # the first tenth warms up connections and caches
            for name, conn, path in targets:
                plain, stream = timed_call(conn, path, BODY), timed_call(conn, path, STREAM_BODY)
                if keep:
                    samples[name].append(plain)
                    samples[name + "_stream"].append(stream)
    return summarise(samples)


def summarise(samples: dict[str, list[Sample]]) -> dict[str, dict[str, float]]:
    def median(name: str, field: str) -> float:
        return statistics.median(getattr(sample, field) for sample in samples[name])

    rows = {}
    for label, suffix, field in (
        ("non-streaming call", "", "total_ms"),
        ("time to first chunk", "_stream", "first_ms"),
    ):
        direct, proxied = median("direct" + suffix, field), median("proxy" + suffix, field)
        rows[label] = {
            "direct_ms": direct,
            "proxy_ms": proxied,
            "added_ms": proxied - direct,
            "ratio": proxied / direct,
        }
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--hooks", choices=("session", "wire", "noop"), default="session")
    parser.add_argument("--files", type=int, default=10_000, help="repository size for --hooks session")
    parser.add_argument("--check", action="store_true", help=f"exit 1 if a median adds more than {TARGET_MS} ms")
    parser.add_argument("--serve", choices=("fake", "proxy"), help=argparse.SUPPRESS)
    parser.add_argument("--upstream", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    global FILES
    FILES = args.files
    if args.serve:
        serve(args.serve, args.upstream, args.hooks)
        return 0
    rows = run(args.calls, args.hooks)
    print(f"agitlog LLM proxy vs direct, {args.calls} calls each, median ({args.hooks} hooks)")
    for label, row in rows.items():
        print(
            f"  {label:<20} direct {row['direct_ms']:7.3f} ms   proxy {row['proxy_ms']:7.3f} ms   "
            f"added {row['added_ms']:+7.3f} ms   ratio {row['ratio']:5.2f}x"
        )
    missed = [label for label, row in rows.items() if row["added_ms"] > TARGET_MS]
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
