"""Deterministic rerun speed (issue: LLM capture and rerun).

    python bench/bench_rerun.py [--calls 100] [--latency 0.1] [--client urllib|openai]

Records an agent that makes --calls model calls against a local model server answering after
--latency seconds each, then reruns it with `agitlog rerun` (answers served from the recording, no
model calls). Prints both wall times and their ratio. Target: the rerun takes < 10% of the recorded
run when the recorded latency was >= 100 ms per call."""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import GIT_ENV, agitlog_command, make_repo  # noqa: E402

from agitlog.demo import scripted_model  # noqa: E402

AGENTS = {
    "urllib": """
        import json, os, sys, urllib.request
        base = os.environ["OPENAI_BASE_URL"]
        for i in range(int(sys.argv[1])):
            body = json.dumps({"model": "slow", "messages": [{"role": "user", "content": f"call {i}"}]}).encode()
            req = urllib.request.Request(base + "/chat/completions", data=body, headers={"Content-Type": "application/json"})
            answer = json.load(urllib.request.urlopen(req))["choices"][0]["message"]["content"]
        open("answer.txt", "w").write(answer)
    """,
    "openai": """
        import sys
        from openai import OpenAI
        client = OpenAI(max_retries=0)
        for i in range(int(sys.argv[1])):
            answer = client.chat.completions.create(model="slow", messages=[{"role": "user", "content": f"call {i}"}])
        open("answer.txt", "w").write(answer.choices[0].message.content)
    """,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--client", choices=sorted(AGENTS), default="urllib")
    args = parser.parse_args()
    root = make_repo(1, modified=0, untracked=0)
    agent = root.parent / f"{root.name}-agent.py"
    agent.write_text(textwrap.dedent(AGENTS[args.client]))
    with scripted_model(lambda _request: f"t{time.time()}", latency=args.latency) as base_url:
        recorded, rerun, result = _measure(root, agent, args.calls, dict(GIT_ENV, OPENAI_BASE_URL=base_url,
                                                                          OPENAI_API_KEY="bench"))
    print(f"{args.calls} model calls at {args.latency * 1000:.0f} ms each, {args.client} client")
    print(f"  recorded run        {recorded:8.2f} s")
    print(f"  agitlog rerun       {rerun:8.2f} s   ratio {rerun / recorded:.1%}  (target < 10%)")
    print(f"  reproduced exactly: {result['reproduced']}; served {result['served_calls']} of "
          f"{result['recorded_calls']} calls, {result['upstream_calls']} upstream")


def _measure(root: Path, agent: Path, calls: int, env: dict[str, str]) -> tuple[float, float, dict]:
    """(recorded run seconds, rerun seconds, the rerun's JSON report)."""
    agitlog = agitlog_command()
    start = time.perf_counter()
    subprocess.run([agitlog, "run", "-q", "--", sys.executable, str(agent), str(calls)], cwd=root, env=env,
                   check=True)
    recorded = time.perf_counter() - start
    start = time.perf_counter()
    proc = subprocess.run([agitlog, "rerun", "--json"], cwd=root, env=env, capture_output=True, text=True)
    return recorded, time.perf_counter() - start, json.loads(proc.stdout)


if __name__ == "__main__":
    main()
