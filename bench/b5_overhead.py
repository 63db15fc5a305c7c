"""B5: prefect-oxen's overhead per video over plain async httpx, with a zero-latency emulator.

200 jobs, the same concurrency (16) for both; per-video time = makespan / jobs. Raw httpx does
enqueue + wait (SSE) + streamed download only; prefect-oxen adds validation, the journal, three
Prefect task runs per item (generate, persist, archive), PyAV verification, a poster frame, the
archive (hard link + manifest), progress artifacts and events. Target: difference <= 50 ms.

    .venv/bin/python bench/b5_overhead.py [--jobs 200] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import emulator_process, prefect_batch, raw_httpx, shared_home, write_result

TARGET_MS = 50.0


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp(prefix="bench-b5-"))
    # Separate emulators, so neither run finds the other's renders cached.
    with emulator_process(latency=0, concurrency=16) as emu:
        raw = raw_httpx(emu.base_url, args.jobs, args.concurrency, out / "raw", tag="b5-raw")
    with emulator_process(latency=0, concurrency=16) as emu:
        run = prefect_batch(emu.base_url, args.jobs, args.concurrency, home=shared_home(), tag="b5")
    raw_ms = raw["seconds"] / args.jobs * 1000
    oxen_ms = run["batch_seconds"] / args.jobs * 1000
    overhead = oxen_ms - raw_ms
    result = {"benchmark": "B5_overhead", "jobs": args.jobs, "concurrency": args.concurrency,
              "raw_httpx_seconds": raw["seconds"], "prefect_oxen_seconds": run["batch_seconds"],
              "raw_ms_per_video": round(raw_ms, 1), "prefect_oxen_ms_per_video": round(oxen_ms, 1),
              "B5_overhead_ms": round(overhead, 1), "target_ms": TARGET_MS, "statuses": run["statuses"]}
    print(f"B5: prefect-oxen {oxen_ms:.1f} ms/video, raw httpx {raw_ms:.1f} ms/video: overhead {overhead:.1f} ms "
          f"(target <= {TARGET_MS:g}): {'met' if overhead <= TARGET_MS else 'NOT met'}")
    path = write_result("b5_overhead", result)
    print(f"wrote {path}")
    return result


if __name__ == "__main__":
    main()
