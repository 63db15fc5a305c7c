"""Run every benchmark and write `bench/results/latest.json` (the figures of the README table).

B1 (CLI and flow, 16 and 64 server slots), B1 shared (two batches on `prefect server start` with
PostgreSQL and with SQLite), B4 and B5 (tiny and 8 MB videos) run here, each against an emulator
in its own process and at the product's defaults, three rounds each (medians; every round kept in
its own JSON); B2 (b64_memory.py) and B3 (archive_throughput.py) are run too, or with ``--reuse``
their last results are read back (B3 moves 1 GB through moto several times and takes minutes).

    .venv/bin/python bench/run_all.py [--reuse]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS_DIR, ROOT, machine, now

TARGETS = {
    "B1_cli_ratio_16": ("<=", 1.10),
    "B1_cli_ratio_64": ("<=", 1.25),
    "B1_flow_ratio_16": ("<=", 1.10),
    "B1_flow_ratio_64": ("<=", 1.25),
    "B1_shared_ratio_postgres": ("<=", 1.15),
    "B1_shared_ratio_sqlite": ("<=", 1.15),
    "B1_shared_max_unfinished": ("<=", 16),
    "B2_peak_rss_growth_mb": ("<=", 64.0),
    "B3_throughput_ratio": (">=", 0.90),
    "B4_calls_per_job": ("<=", 3.0),
    "B5_overhead_ms_8mb": ("<=", 50.0),
    "S3_state_requests_per_video": ("<=", 4.0),
    "lease_recovery_seconds": ("<=", 90.0),
}


def _run(script: str, *args: str) -> None:
    print(f"--- {script} {' '.join(args)}", flush=True)
    subprocess.run([sys.executable, str(ROOT / "bench" / script), *args], check=True, cwd=ROOT)


def _read(name: str) -> dict:
    return json.loads((RESULTS_DIR / f"{name}.json").read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="read B2/B3 from their last results instead of running them",
    )
    args = parser.parse_args()
    import os

    os.environ.setdefault("BENCH_PREFECT_HOME", tempfile.mkdtemp(prefix="bench-prefect-home-"))
    _run("b1_cli.py")
    _run("b1_makespan.py")
    _run("b1_shared_limit.py", "--database", "postgres")
    _run("b1_shared_limit.py", "--database", "sqlite")
    _run("b4_api_calls.py")
    _run("b5_overhead.py")
    _run("s3_state_cost.py")
    _run("lease_recovery.py")
    if not args.reuse:
        _run("b64_memory.py")
        _run("archive_throughput.py")
    names = (
        "b1_cli",
        "b1_makespan",
        "b1_shared_limit_postgres",
        "b1_shared_limit_sqlite",
        "b64_memory",
        "archive_throughput",
        "b4_api_calls",
        "b5_overhead",
    )
    cli, b1, shared_pg, shared_lite, b2, b3, b4, b5 = (_read(n) for n in names)
    latest = {
        "B1_cli_ratio_16": cli["by_slots"]["16"]["median_ratio"],
        "B1_cli_ratio_64": cli["by_slots"]["64"]["median_ratio"],
        "B1_flow_ratio_16": b1["by_slots"]["16"]["median_ratio"],
        "B1_flow_ratio_64": b1["by_slots"]["64"]["median_ratio"],
        "B1_shared_ratio_postgres": shared_pg["median_ratio"],
        "B1_shared_ratio_sqlite": shared_lite["median_ratio"],
        "B1_shared_max_unfinished": max(
            shared_pg["max_unfinished_on_api"], shared_lite["max_unfinished_on_api"]
        ),
        "B1_shared_admission_calls_per_item": shared_pg["admission_calls_per_item"],
        "B1_naive_ratio": b1.get("B1_naive_ratio"),
        "B1_naive_enqueue_all_ratio": b1.get("B1_naive_enqueue_all_ratio"),
        "B2_peak_rss_growth_mb": b2["B2_peak_rss_growth_mb"],
        "B2_naive_growth_mb": b2["B2_naive_growth_mb"],
        "B3_throughput_ratio": b3["B3_throughput_ratio"],
        "B4_calls_per_job": b4["B4_calls_per_job"],
        "B4_calls_per_job_latency_2s": (b4.get("at_latency_2s") or {}).get("calls_per_job"),
        "B5_overhead_ms": b5["B5_overhead_ms"],
        "B5_overhead_ms_8mb": b5["B5_overhead_ms_8mb"],
        "S3_state_requests_per_video": _read("s3_state_cost")["fresh"]["state_requests_per_video"],
        "lease_recovery_seconds": _read("lease_recovery")["slots_back_seconds"],
        "rounds": "medians of 3 rounds; every round in results/<script>.json",
        "settings": "product defaults everywhere: the CLI with no tuning flag, batch_flow with default parameters",
        "B2_B3_reused": args.reuse,
        "machine": machine(),
        "date": now(),
    }
    met = {}
    for key, (op, target) in TARGETS.items():
        value = latest[key]
        met[key] = value <= target if op == "<=" else value >= target
    latest["met"] = met
    (RESULTS_DIR / "latest.json").write_text(json.dumps(latest, indent=2) + "\n")
    print("\nfigure                     value      target   met")
    for key, (op, target) in TARGETS.items():
        print(f"{key:34} {latest[key]!s:10} {op} {target:<6} {'yes' if met[key] else 'NO'}")
    print(
        f"B1_naive_ratio             {latest['B1_naive_ratio']}  (sequential naive script, extrapolated)"
    )
    print(f"B2_naive_growth_mb         {latest['B2_naive_growth_mb']}")
    print(f"wrote {RESULTS_DIR / 'latest.json'}")
    _run("render_tables.py")
    return 0


if __name__ == "__main__":
    sys.exit(main())
