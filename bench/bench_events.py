"""Event recording throughput (issue: Capture).

    python bench/bench_events.py [--events 100000]

Measures, under `agitlog run` on a small repository:
  - events/s from one Python process through the SDK (agitlog.log), as the agent sees it;
  - events/s through the raw wire protocol (pre-encoded JSON lines over the socket), until the
    recorder confirms the last one is durable;
  - finalising a session of that many events (from the agent's exit to agitlog's), next to
    `git hash-object -w` of the same events.jsonl, git's own floor for writing it.
Targets: >= 20,000 events/s from one Python process; finalising 100,000 events <= 2 s."""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import GIT_ENV, agitlog_command, git, make_repo  # noqa: E402

SDK_AGENT = """
import agitlog, json, sys, time
n = int(sys.argv[1])
start = time.perf_counter()
for i in range(n):
    agitlog.log("tick", i=i, phase="bench")
elapsed = time.perf_counter() - start
json.dump({"seconds": elapsed, "end": time.time()}, open(sys.argv[2], "w"))
"""

WIRE_AGENT = """
import json, os, socket, sys, time
n = int(sys.argv[1])
host, port = os.environ["AGITLOG_ADDR"].rsplit(":", 1)
sock = socket.create_connection((host, int(port)))
sock.sendall(os.environ["AGITLOG_TOKEN"].encode() + b"\\n")
line = b'{"type":"log","data":{"message":"tick","phase":"bench"}}\\n'
start = time.perf_counter()
batch = line * 1000
for _ in range(n // 1000):
    sock.sendall(batch)
sock.sendall(b'{"type":"log","data":{"message":"last"},"ack":true}\\n')
sock.makefile("rb").readline()
elapsed = time.perf_counter() - start
json.dump({"seconds": elapsed, "end": time.time()}, open(sys.argv[2], "w"))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    root = make_repo(1, modified=0, untracked=0)
    print(f"{args.events:,} events per run, repository {root}")
    for label, code in (("SDK (agitlog.log)", SDK_AGENT), ("wire protocol (raw socket)", WIRE_AGENT)):
        sent, finalise = _run(root, code, args.events)
        rate = args.events / sent
        print(f"  {label:<28} {rate:>10,.0f} events/s   (target >= 20,000)")
        print(f"  {'finalise ' + format(args.events, ',') + ' events':<28} {finalise:>10.3f} s          (target <= 2 s)")
    events_file = root / "events.jsonl"
    git_floor = _hash_object_time(root, events_file)
    print(f"  {'git hash-object -w (floor)':<28} {git_floor:>10.3f} s          "
          f"for the same {events_file.stat().st_size / 1e6:.1f} MB of events")


def _run(root: Path, code: str, count: int) -> tuple[float, float]:
    script = root.parent / f"{root.name}-agent.py"
    script.write_text(textwrap.dedent(code))
    result_file = root.parent / f"{root.name}-result.json"
    subprocess.run([agitlog_command(), "run", "-q", "--", sys.executable, str(script), str(count), str(result_file)],
                   cwd=root, env=GIT_ENV, check=True)
    done = time.time()
    result = json.loads(result_file.read_text())
    sid = git(root, "for-each-ref", "--sort=-refname", "--count=1", "--format=%(refname)",
              "refs/agent-sessions/").decode().strip()
    (root / "events.jsonl").write_bytes(git(root, "cat-file", "blob", f"{sid}:events.jsonl"))
    return result["seconds"], done - result["end"]


def _hash_object_time(root: Path, path: Path) -> float:
    start = time.perf_counter()
    git(root, "hash-object", "-w", "--no-filters", str(path))
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
