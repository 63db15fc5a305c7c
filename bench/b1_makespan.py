"""B1 (flow): `batch_flow(...)` called with its default parameters, as from a user's own flow.

200 jobs, emulator latency 2 s, 16 and 64 server slots (ideal ceil(200/slots) x 2 s: 26 s and 8 s),
three rounds each with a fresh emulator. Measured against an emulator in its own process
(``python -m prefect_oxen.emulator``). Prefect's ephemeral server start-up is excluded (a trivial
flow starts it first; timed as `startup_seconds`); the timed window is the `batch_flow` call,
everything included (validation, every download and archive, the report). The CLI's figure, the
one users see first, is `b1_cli.py`.

Baselines at 16 slots:
  naive         the docs' walkthrough in a for-loop (`requests`, `response.json()`, 5 s polling,
                `response.content`): sequential, so a subset is run and extrapolated linearly.
  naive_enqueue_all  the wiser script: enqueue all, then poll in rounds 5 s apart (all 200 jobs).
  raw_httpx     async httpx, 32 at a time, for reference (what any client could reach).
Targets: <= 1.10 at 16 slots, <= 1.25 at 64.

    .venv/bin/python bench/b1_makespan.py [--rounds 3] [--slots 16 64] [--naive-subset 8]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    api_calls,
    emulator_process,
    ideal_makespan,
    max_unfinished,
    naive,
    prefect_batch,
    raw_httpx,
    server_makespan,
    shared_home,
    write_result,
)

JOBS, LATENCY, SLOTS = 200, 2.0, 16
TARGETS = {16: 1.10, 64: 1.25}


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--slots", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--naive-subset", type=int, default=8)
    parser.add_argument("--skip-baselines", action="store_true")
    args = parser.parse_args()
    ideal = ideal_makespan(JOBS, SLOTS, LATENCY)
    out = Path(tempfile.mkdtemp(prefix="bench-b1-"))
    home = shared_home()
    result: dict = {
        "benchmark": "B1_makespan",
        "jobs": JOBS,
        "latency_seconds": LATENCY,
        "prefect_oxen": "batch_flow with its default parameters",
        "by_slots": {},
    }
    for slots in args.slots:
        slot_ideal = ideal_makespan(JOBS, slots, LATENCY)
        rounds = []
        for number in range(args.rounds):
            with emulator_process(latency=LATENCY, concurrency=slots) as emu:
                run = prefect_batch(emu.base_url, JOBS, home=home, tag=f"b1-{slots}-{number}")
                stats, log = emu.stats(), emu.generations()
            run["server_makespan_seconds"] = server_makespan(log)
            run["max_unfinished_on_api"] = max_unfinished(log)
            run["requests"] = api_calls(stats)
            run["billed_generations"] = stats["billed_generations"]
            run["ratio"] = run["batch_seconds"] / slot_ideal
            rounds.append(run)
            print(
                f"B1 flow {slots} slots round {number + 1}: {run['batch_seconds']:.1f} s = {run['ratio']:.3f} x ideal "
                f"{slot_ideal:.0f} s; server-side {run['server_makespan_seconds']:.1f} s; start-up "
                f"{run['startup_seconds']:.1f} s excluded; {run['statuses']}",
                flush=True,
            )
        median = statistics.median(r["ratio"] for r in rounds)
        result["by_slots"][str(slots)] = {
            "ideal_seconds": slot_ideal,
            "target_ratio": TARGETS.get(slots),
            "median_ratio": round(median, 3),
            "rounds": rounds,
        }
        print(
            f"B1 flow {slots} slots: median {median:.3f} x ideal (target <= {TARGETS.get(slots)})",
            flush=True,
        )
    if "16" in result["by_slots"]:
        result["B1_makespan_ratio"] = result["by_slots"]["16"]["median_ratio"]
    if "64" in result["by_slots"]:
        result["B1_makespan_ratio_64"] = result["by_slots"]["64"]["median_ratio"]

    if not args.skip_baselines:
        with emulator_process(latency=LATENCY, concurrency=SLOTS) as emu:
            subset = naive(emu.base_url, args.naive_subset, "sequential", out / "naive")
        extrapolated = subset["seconds"] / args.naive_subset * JOBS
        result["naive_sequential"] = {
            **subset,
            "extrapolated_seconds": extrapolated,
            "ratio": extrapolated / ideal,
            "note": f"ran {args.naive_subset} of {JOBS} jobs; sequential, so extrapolated linearly",
        }
        result["B1_naive_ratio"] = round(extrapolated / ideal, 2)
        print(
            f"B1 naive script (sequential, {args.naive_subset} jobs run, extrapolated to {JOBS}): "
            f"{extrapolated:.0f} s = {extrapolated / ideal:.1f} x ideal"
        )
        with emulator_process(latency=LATENCY, concurrency=SLOTS) as emu:
            wiser = naive(emu.base_url, JOBS, "enqueue_all", out / "naive-all")
        result["naive_enqueue_all"] = {**wiser, "ratio": wiser["seconds"] / ideal}
        result["B1_naive_enqueue_all_ratio"] = round(wiser["seconds"] / ideal, 3)
        print(
            f"B1 naive script (enqueue all, then 5 s polling rounds; all {JOBS} jobs): {wiser['seconds']:.1f} s = "
            f"{wiser['seconds'] / ideal:.2f} x ideal"
        )
        with emulator_process(latency=LATENCY, concurrency=SLOTS) as emu:
            raw = raw_httpx(emu.base_url, JOBS, 32, out / "raw")
        result["raw_httpx"] = {**raw, "ratio": raw["seconds"] / ideal}
        print(
            f"B1 raw async httpx (concurrency 32, reference): {raw['seconds']:.1f} s = {raw['seconds'] / ideal:.2f} x ideal"
        )

    path = write_result("b1_makespan", result)
    print(f"wrote {path}")
    return result


if __name__ == "__main__":
    main()
