"""Run one prefect-oxen `batch_flow` against an emulator and print timings as JSON (one process).

Used by B1, B4 and B5 in a child process each, so every measurement gets a fresh PREFECT_HOME and
interpreter. Prefect's ephemeral server is started first by a trivial flow and timed separately
(`startup_seconds`): it is a one-off cost of a process, not of a batch.

    .venv/bin/python bench/prefect_batch.py BASE_URL JOBS [--concurrency N] [--tag T] [--duration 2]

With no option but the URL and the job count, `batch_flow` runs with its default parameters.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import API_KEY, items, prefect_env


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("base_url")
    parser.add_argument("jobs", type=int)
    parser.add_argument("--concurrency", type=int, default=None, help="override the flow's default")
    parser.add_argument("--tag", default="bench")
    parser.add_argument("--duration", type=int, default=2)
    parser.add_argument(
        "--concurrency-limit", default=None, help="override the flow's global limit name"
    )
    parser.add_argument("--profile", default=None, help="write a pyinstrument text profile here")
    parser.add_argument(
        "--home", default=None, help="PREFECT_HOME to (re)use (a warm one starts faster)"
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-prefect-"))
    prefect_env(Path(args.home) if args.home else work / "prefect-home")

    started = time.perf_counter()
    from prefect import flow

    from prefect_oxen import OxenCredentials
    from prefect_oxen.flows import BatchIncomplete, batch_flow

    imported = time.perf_counter()

    @flow(name="bench-warm-up")
    def warm_up() -> int:
        return 1

    warm_up()  # starts the ephemeral API server (uvicorn subprocess, SQLite migrations)
    warmed = time.perf_counter()

    credentials = OxenCredentials(api_key=API_KEY, base_url=args.base_url)
    batch = items(args.jobs, args.tag, args.duration)

    async def run():
        overrides = {"concurrency": args.concurrency, "concurrency_limit": args.concurrency_limit}
        chosen = {name: value for name, value in overrides.items() if value is not None}
        return await batch_flow(
            batch, credentials, archive=str(work / "archive"), **chosen, return_state=True
        )

    profiler = None
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(async_mode="disabled", interval=0.005)
        profiler.start()
    t0 = time.perf_counter()
    t0_wall = time.time()
    cpu0 = time.process_time()
    state = asyncio.run(run())
    t1 = time.perf_counter()
    cpu = time.process_time() - cpu0
    if profiler is not None:
        profiler.stop()
        Path(args.profile).write_text(
            profiler.output_text(
                unicode=False,
                color=False,
                show_all=bool(__import__("os").environ.get("PROFILE_ALL")),
                flat=bool(__import__("os").environ.get("PROFILE_FLAT")),
            )
        )
    value = state.result(raise_on_failure=False)
    report = value.report if isinstance(value, BatchIncomplete) else value
    statuses: dict[str, int] = {}
    for item in report.items:
        statuses[item.status] = statuses.get(item.status, 0) + 1
    latencies = sorted(item.latency_seconds or 0.0 for item in report.items)
    print(
        json.dumps(
            {
                "import_seconds": imported - started,
                "startup_seconds": warmed - imported,
                "batch_seconds": t1 - t0,
                "client_cpu_seconds": cpu,
                "batch_started_at": t0_wall,
                "state": state.type.value,
                "statuses": statuses,
                "item_latency_p50": latencies[len(latencies) // 2] if latencies else None,
                "item_latency_max": latencies[-1] if latencies else None,
                "work_dir": str(work),
            }
        )
    )


if __name__ == "__main__":
    main()
