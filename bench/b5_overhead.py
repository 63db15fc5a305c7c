"""B5: prefect-oxen's overhead per video over plain async httpx, with a zero-latency emulator.

200 jobs; per-video time = makespan / jobs. prefect-oxen runs `batch_flow` with its default
parameters; raw httpx (enqueue, wait by SSE, streamed download, nothing else) runs 16 at a time,
the emulator's slots. prefect-oxen adds validation, the journal, one Prefect task run per item,
PyAV verification, a poster frame for the first 24, the archive (hard link + manifest), progress,
events and artifacts. Measured with the emulator's tiny renders and with each video padded to
8 MB (realistic sizes: the download, hash and archive then matter). Target: <= 50 ms at 8 MB.
Three rounds each, a fresh emulator per run (so neither client finds the other's renders cached).

    .venv/bin/python bench/b5_overhead.py [--jobs 200] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import emulator_process, prefect_batch, raw_httpx, shared_home, write_result

TARGET_MS = 50.0
RAW_CONCURRENCY = 16
SIZES = {"tiny": 0, "8MB": 8 * 1024 * 1024}


def one_round(jobs: int, padding: int, tag: str, out: Path) -> dict:
    extra = ["--video-padding-bytes", str(padding)] if padding else []
    with emulator_process(latency=0, concurrency=16, extra=extra) as emu:
        raw = raw_httpx(
            emu.base_url, jobs, RAW_CONCURRENCY, out / f"raw-{tag}", tag=f"b5-raw-{tag}"
        )
    with emulator_process(latency=0, concurrency=16, extra=extra) as emu:
        run = prefect_batch(emu.base_url, jobs, home=shared_home(), tag=f"b5-{tag}")
    raw_ms = raw["seconds"] / jobs * 1000
    oxen_ms = run["batch_seconds"] / jobs * 1000
    return {
        "raw_httpx_seconds": raw["seconds"],
        "prefect_oxen_seconds": run["batch_seconds"],
        "bytes_per_video": raw["bytes"] / max(raw["files"], 1),
        "raw_ms_per_video": round(raw_ms, 1),
        "prefect_oxen_ms_per_video": round(oxen_ms, 1),
        "overhead_ms": round(oxen_ms - raw_ms, 1),
        "statuses": run["statuses"],
    }


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp(prefix="bench-b5-"))
    result: dict = {
        "benchmark": "B5_overhead",
        "jobs": args.jobs,
        "raw_concurrency": RAW_CONCURRENCY,
        "prefect_oxen": "batch_flow with its default parameters",
        "target_ms": TARGET_MS,
        "sizes": {},
    }
    for name, padding in SIZES.items():
        rounds = [one_round(args.jobs, padding, f"{name}-{n}", out) for n in range(args.rounds)]
        median = statistics.median(r["overhead_ms"] for r in rounds)
        result["sizes"][name] = {
            "padding_bytes": padding,
            "median_overhead_ms": median,
            "rounds": rounds,
        }
        for number, r in enumerate(rounds, 1):
            print(
                f"B5 {name} round {number}: prefect-oxen {r['prefect_oxen_ms_per_video']} ms/video, raw httpx "
                f"{r['raw_ms_per_video']} ms/video: overhead {r['overhead_ms']} ms ({r['bytes_per_video'] / 1e6:.1f} MB/video)",
                flush=True,
            )
        print(
            f"B5 {name}: median overhead {median} ms (target <= {TARGET_MS:g} at 8 MB)", flush=True
        )
    result["B5_overhead_ms"] = result["sizes"]["tiny"]["median_overhead_ms"]
    result["B5_overhead_ms_8mb"] = result["sizes"]["8MB"]["median_overhead_ms"]
    path = write_result("b5_overhead", result)
    print(f"wrote {path}")
    return result


if __name__ == "__main__":
    main()
