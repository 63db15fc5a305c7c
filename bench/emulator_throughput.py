"""Emulator throughput: 200 concurrent queue jobs, 1 s latency, 16 slots, versus the ideal.

The ideal makespan is ceil(jobs / concurrency) * latency (13 s for the defaults): 13 waves
of 16 one-second generations. Driven with plain httpx over real HTTP; completions are read
from the SSE stream, subscribed before the first enqueue (events are never replayed).

    .venv/bin/python bench/emulator_throughput.py [--jobs 200] [--same-prompt]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import httpx

from prefect_oxen.emulator import EmulatorConfig, EmulatorServer

RESULTS = Path(__file__).resolve().parent / "results" / "emulator_throughput.json"
AUTH = {"Authorization": "Bearer bench"}


async def _drive(base_url: str, jobs: int, same_prompt: bool, timeout: float) -> dict:
    limits = httpx.Limits(max_connections=jobs + 8, max_keepalive_connections=jobs + 8)
    async with httpx.AsyncClient(
        base_url=base_url, headers=AUTH, timeout=60, limits=limits
    ) as http:
        done: dict[str, float] = {}
        all_done = asyncio.Event()
        enqueued: set[str] = set()

        async with http.stream("GET", "/api/events") as stream:
            stream.raise_for_status()

            async def listen() -> None:
                event = None
                async for line in stream.aiter_lines():
                    if line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:") and event == "media_generation_completed":
                        payload = json.loads(line[5:])
                        done[payload["generation_id"]] = time.perf_counter()
                        if len(done) >= jobs and enqueued <= done.keys():
                            all_done.set()
                    elif line == "":
                        event = None

            listener = asyncio.create_task(listen())

            async def enqueue(index: int) -> str:
                prompt = "benchmark clip" if same_prompt else f"benchmark clip {index}"
                body = {"model": "oxen-emu-fast-video", "prompt": prompt, "duration": 2}
                response = await http.post("/api/ai/queue", json=body)
                response.raise_for_status()
                return response.json()["generations"][0]["generation_id"]

            started = time.perf_counter()
            ids = await asyncio.gather(*(enqueue(i) for i in range(jobs)))
            enqueue_seconds = time.perf_counter() - started
            enqueued.update(ids)
            if enqueued <= done.keys():
                all_done.set()
            await asyncio.wait_for(all_done.wait(), timeout)
            finished = max(done[i] for i in ids)
            listener.cancel()

        rows = (await http.get("/api/ai/queue", params={"status": "succeeded"})).json()
        succeeded = {row["generation_id"] for row in rows["generations"]}
        stats = (await http.get("/_emulator/stats")).json()
        log = (await http.get("/_emulator/generations")).json()["generations"]
    # Server-side view: first request accepted to last generation finished. It excludes the
    # benchmark client's own overhead (it shares this process and its GIL with the server).
    server_makespan = max(g["completed_at"] for g in log) - min(g["enqueued_at"] for g in log)
    return {
        "server_makespan_seconds": server_makespan,
        "makespan_seconds": finished - started,
        "enqueue_seconds": enqueue_seconds,
        "succeeded": len(succeeded & enqueued),
        "renders": stats["renders"],
        "max_in_flight": stats["max_in_flight"],
        "billed_generations": stats["billed_generations"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--same-prompt", action="store_true", help="identical jobs (one encode)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    config = EmulatorConfig(latency=args.latency, concurrency=args.concurrency, seed=0)
    ideal = math.ceil(args.jobs / args.concurrency) * args.latency
    with EmulatorServer(config) as emulator:
        measured = asyncio.run(
            _drive(emulator.base_url, args.jobs, args.same_prompt, 20 * ideal + 60)
        )
    ratio = measured["makespan_seconds"] / ideal
    measured["server_ratio_to_ideal"] = measured["server_makespan_seconds"] / ideal
    result = {
        "benchmark": "emulator_throughput",
        "jobs": args.jobs,
        "concurrency": args.concurrency,
        "latency_seconds": args.latency,
        "distinct_prompts": not args.same_prompt,
        "ideal_makespan_seconds": ideal,
        **measured,
        "ratio_to_ideal": ratio,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"{args.jobs} jobs, concurrency {args.concurrency}, latency {args.latency:g} s: "
        f"makespan {measured['makespan_seconds']:.2f} s vs ideal {ideal:.2f} s "
        f"({ratio:.3f}x; server-side {measured['server_makespan_seconds']:.2f} s, "
        f"{measured['server_ratio_to_ideal']:.3f}x); {measured['succeeded']} succeeded, {measured['renders']} encodes, "
        f"max {measured['max_in_flight']} in flight"
    )
    print(f"wrote {args.output}")
    return 0 if measured["succeeded"] == args.jobs else 1


if __name__ == "__main__":
    sys.exit(main())
