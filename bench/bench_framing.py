"""Parsing one request as the LLM proxy receives it: the proxy's own HTTP/1.1 framing
(agitlog.capture.llm.proxy.framing) against h11 (installed with httpx), per request, median of runs.

Why it exists: the style guide prefers a maintained library for protocol framing unless it costs
the proxy's <= 2 ms budget (bench_proxy.py). Run it to re-check that trade-off; no test asserts it.
"""
from __future__ import annotations

import io
import json
import statistics
import timeit

import h11

from agitlog.capture.llm.proxy import framing

BODY = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "hello " * 200}]}).encode()
RAW = (b"POST /3f9a/openai/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:4000\r\nAuthorization: Bearer k\r\n"
       b"Content-Type: application/json\r\nAccept: application/json\r\nUser-Agent: OpenAI/Python 1.0\r\n"
       b"Content-Length: %d\r\n\r\n" % len(BODY)) + BODY


class _Peer:
    def getpeername(self) -> tuple[str, int]:
        return ("127.0.0.1", 1)


def parse_own() -> object:
    return framing.read_request(io.BufferedReader(io.BytesIO(RAW)), _Peer())  # type: ignore[arg-type]


def parse_h11() -> object:
    conn = h11.Connection(h11.SERVER)  # one per request: the proxy writes responses itself
    conn.receive_data(RAW)
    request, parts = None, []
    while True:
        event = conn.next_event()
        if isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.Data):
            parts.append(event.data)
        else:
            return request, b"".join(parts)


def main() -> None:
    for name, parse in (("own framing", parse_own), ("h11", parse_h11)):
        runs = [t / 1000 * 1e6 for t in timeit.repeat(parse, number=1000, repeat=9)]
        print(f"  {name:<12} {statistics.median(runs):8.1f} us per request (median of 9 x 1000)")


if __name__ == "__main__":
    main()
