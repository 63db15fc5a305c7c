"""B4: API requests per job in queue mode, counted by the emulator per route.

At latency 60 s (32 jobs, 16 server slots: two waves, about 120 s) and, to show the count does not
depend on the latency, at 2 s (200 jobs; B1's run is reused when b1 results are passed in). Every
client request counts: catalogue reads, enqueues, the event stream, queue polls and downloads.
Target: <= 3 requests per job on average.

    .venv/bin/python bench/b4_api_calls.py [--jobs 32] [--latency 60]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    RESULTS_DIR,
    api_calls,
    emulator_process,
    prefect_batch,
    shared_home,
    write_result,
)

TARGET = 3.0


def per_job(requests: dict[str, int], jobs: int) -> float:
    return sum(requests.values()) / jobs


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=32)
    parser.add_argument("--latency", type=float, default=60.0)
    args = parser.parse_args()
    with emulator_process(latency=args.latency, concurrency=16) as emu:
        run = prefect_batch(
            emu.base_url, args.jobs, home=shared_home(), tag="b4"
        )  # the flow's defaults
        requests = api_calls(emu.stats())
    figure = per_job(requests, args.jobs)
    result = {
        "benchmark": "B4_calls_per_job",
        "jobs": args.jobs,
        "latency_seconds": args.latency,
        "parameters": "batch_flow defaults",
        "requests": requests,
        "batch_seconds": run["batch_seconds"],
        "statuses": run["statuses"],
        "B4_calls_per_job": round(figure, 3),
        "target": TARGET,
    }
    print(
        f"B4 at latency {args.latency:g} s, {args.jobs} jobs: {figure:.3f} requests/job (target <= {TARGET}); {requests}"
    )
    b1 = RESULTS_DIR / "b1_makespan.json"
    if b1.exists():
        data = json.loads(b1.read_text())
        run2 = data["by_slots"]["16"]["rounds"][0]
        other = per_job(run2["requests"], data["jobs"])
        result["at_latency_2s"] = {
            "jobs": data["jobs"],
            "requests": run2["requests"],
            "calls_per_job": round(other, 3),
        }
        print(f"B4 at latency 2 s (B1's run, {data['jobs']} jobs): {other:.3f} requests/job")
    path = write_result("b4_api_calls", result)
    print(f"B4 {'met' if figure <= TARGET else 'NOT met'}; wrote {path}")
    return result


if __name__ == "__main__":
    main()
