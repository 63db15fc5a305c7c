"""B1: makespan of 200 jobs (emulator latency 2 s, 16 server slots; ideal ceil(200/16) x 2 = 26 s).

Measured against an emulator in its own process (``python -m prefect_oxen.emulator``):
  prefect-oxen  `batch_flow`, queue mode, local archive, `concurrency` 32 by default: twice the
                server's 16 slots, so 16 more jobs wait in the server queue while finished ones are
                downloaded, verified and archived (at 16 a slot idles during each item's post-work).
                No global concurrency limit (it would cap the run at its default 16 slots and add
                two API calls per item). Prefect's ephemeral server start-up is excluded (timed
                separately as `startup_seconds`); the timed window starts at the batch_flow call.
  naive         the docs' walkthrough in a for-loop (`requests`, `response.json()`, 5 s polling,
                `response.content`): sequential, so a subset is run and extrapolated linearly.
  naive_enqueue_all  the wiser script: enqueue all, then poll in rounds 5 s apart (all 200 jobs).
  raw_httpx     async httpx, same concurrency, for reference (what any client could reach).
Target: prefect-oxen / ideal <= 1.10.

    .venv/bin/python bench/b1_makespan.py [--concurrency 32] [--naive-subset 8]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    api_calls,
    emulator_process,
    ideal_makespan,
    naive,
    prefect_batch,
    raw_httpx,
    server_makespan,
    shared_home,
    write_result,
)

JOBS, LATENCY, SLOTS, TARGET = 200, 2.0, 16, 1.10


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[32])
    parser.add_argument("--naive-subset", type=int, default=8)
    parser.add_argument("--skip-baselines", action="store_true")
    args = parser.parse_args()
    ideal = ideal_makespan(JOBS, SLOTS, LATENCY)
    out = Path(tempfile.mkdtemp(prefix="bench-b1-"))
    home = shared_home()
    result: dict = {"benchmark": "B1_makespan", "jobs": JOBS, "latency_seconds": LATENCY, "server_slots": SLOTS,
                    "ideal_seconds": ideal, "target_ratio": TARGET, "prefect_oxen": {}}

    for concurrency in args.concurrency:
        with emulator_process(latency=LATENCY, concurrency=SLOTS) as emu:
            run = prefect_batch(emu.base_url, JOBS, concurrency, home=home, tag=f"b1-{concurrency}")
            stats = emu.stats()
            run["server_makespan_seconds"] = server_makespan(emu.generations())
            run["requests"] = api_calls(stats)
            run["billed_generations"] = stats["billed_generations"]
            run["ratio"] = run["batch_seconds"] / ideal
        result["prefect_oxen"][str(concurrency)] = run
        print(f"B1 prefect-oxen concurrency {concurrency}: {run['batch_seconds']:.1f} s = {run['ratio']:.2f} x ideal "
              f"(target <= {TARGET}); server-side {run['server_makespan_seconds']:.1f} s; Prefect start-up "
              f"{run['startup_seconds']:.1f} s excluded; {run['statuses']}")
    chosen = str(args.concurrency[0])
    result["chosen_concurrency"] = int(chosen)
    result["B1_makespan_ratio"] = round(result["prefect_oxen"][chosen]["ratio"], 3)

    if not args.skip_baselines:
        with emulator_process(latency=LATENCY, concurrency=SLOTS) as emu:
            subset = naive(emu.base_url, args.naive_subset, "sequential", out / "naive")
        extrapolated = subset["seconds"] / args.naive_subset * JOBS
        result["naive_sequential"] = {**subset, "extrapolated_seconds": extrapolated, "ratio": extrapolated / ideal,
                                      "note": f"ran {args.naive_subset} of {JOBS} jobs; sequential, so extrapolated linearly"}
        result["B1_naive_ratio"] = round(extrapolated / ideal, 2)
        print(f"B1 naive script (sequential, {args.naive_subset} jobs run, extrapolated to {JOBS}): "
              f"{extrapolated:.0f} s = {extrapolated / ideal:.1f} x ideal")
        with emulator_process(latency=LATENCY, concurrency=SLOTS) as emu:
            wiser = naive(emu.base_url, JOBS, "enqueue_all", out / "naive-all")
        result["naive_enqueue_all"] = {**wiser, "ratio": wiser["seconds"] / ideal}
        result["B1_naive_enqueue_all_ratio"] = round(wiser["seconds"] / ideal, 3)
        print(f"B1 naive script (enqueue all, then 5 s polling rounds; all {JOBS} jobs): {wiser['seconds']:.1f} s = "
              f"{wiser['seconds'] / ideal:.2f} x ideal")
        with emulator_process(latency=LATENCY, concurrency=SLOTS) as emu:
            raw = raw_httpx(emu.base_url, JOBS, int(chosen), out / "raw")
        result["raw_httpx"] = {**raw, "ratio": raw["seconds"] / ideal}
        print(f"B1 raw async httpx (concurrency {chosen}, reference): {raw['seconds']:.1f} s = {raw['seconds'] / ideal:.2f} x ideal")

    path = write_result("b1_makespan", result)
    print(f"B1 makespan ratio {result['B1_makespan_ratio']} (target <= {TARGET}): "
          f"{'met' if result['B1_makespan_ratio'] <= TARGET else 'NOT met'}; wrote {path}")
    return result


if __name__ == "__main__":
    main()
