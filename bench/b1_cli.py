"""B1 as users run it: ``prefect-oxen batch FILE`` with no tuning flag, 200 jobs, latency 2 s.

For each server size (16 and 64 slots; ideal ceil(200/slots) x 2 s) and each round, a fresh
emulator process and a fresh archive; the CLI runs on Prefect's ephemeral server as a newcomer's
would (one PREFECT_HOME for the benchmark, so rounds after the first skip the database migrations).

The makespan window starts when the batch flow run starts (its ``start_time`` in Prefect's
database: everything before it is Prefect's start-up, which the target excludes) and ends when the
last mp4 lands in the archive. Also reported, from the emulator's own log: the most generations
unfinished (queued or running) at any moment, and the server-side makespan.

    .venv/bin/python bench/b1_cli.py [--rounds 3] [--slots 16 64] [--jobs 200]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    API_KEY,
    emulator_process,
    ideal_makespan,
    items,
    max_unfinished,
    server_makespan,
    write_result,
)

LATENCY = 2.0
TARGETS = {16: 1.10, 64: 1.25}


def _flow_start(home: Path) -> float:
    """The newest batch flow run's start time, from the ephemeral server's SQLite database."""
    with sqlite3.connect(home / "prefect.db") as db:
        (start,) = db.execute(
            "SELECT start_time FROM flow_run WHERE name IS NOT NULL AND flow_id IN "
            "(SELECT id FROM flow WHERE name = 'oxen-batch') ORDER BY created DESC LIMIT 1"
        ).fetchone()
    return datetime.fromisoformat(start.replace("Z", "+00:00")).timestamp()


def cli_round(base_url: str, jobs: int, home: Path, tag: str) -> dict[str, Any]:
    """One ``prefect-oxen batch`` run; its timings and outcome."""
    work = Path(tempfile.mkdtemp(prefix="bench-b1-cli-"))
    source = work / "batch.jsonl"
    source.write_text("".join(json.dumps(item) + "\n" for item in items(jobs, tag)))
    archive = work / "archive"
    env = {**os.environ, "OXEN_API_KEY": API_KEY, "PREFECT_HOME": str(home)}
    env.pop("PREFECT_API_URL", None)
    started = time.time()
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("prefect-oxen")),
            "batch",
            str(source),
            "--base-url",
            base_url,
            "--archive",
            str(archive),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=work,
        timeout=1800,
    )
    ended = time.time()
    videos = list(archive.rglob("*.mp4"))
    last = max((p.stat().st_mtime for p in videos), default=ended)
    flow_start = _flow_start(home)
    return {
        "exit_code": done.returncode,
        "archived": len(videos),
        "command_seconds": ended - started,
        "startup_excluded_seconds": flow_start - started,
        "makespan_seconds": last - flow_start,
        "stderr_tail": done.stderr[-600:] if done.returncode else "",
    }


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--slots", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--jobs", type=int, default=200)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="bench-b1-cli-home-"))
    result: dict[str, Any] = {
        "benchmark": "B1_cli",
        "jobs": args.jobs,
        "latency_seconds": LATENCY,
        "command": "prefect-oxen batch FILE --base-url URL --archive DIR (no tuning flag)",
        "by_slots": {},
    }
    for slots in args.slots:
        ideal = ideal_makespan(args.jobs, slots, LATENCY)
        rounds = []
        for number in range(args.rounds):
            with emulator_process(latency=LATENCY, concurrency=slots) as emu:
                run = cli_round(emu.base_url, args.jobs, home, f"b1cli-{slots}-{number}")
                log = emu.generations()
                run["billed_generations"] = emu.stats()["billed_generations"]
            run["max_unfinished_on_api"] = max_unfinished(log)
            run["server_makespan_seconds"] = server_makespan(log)
            run["ratio"] = run["makespan_seconds"] / ideal
            rounds.append(run)
            print(
                f"B1 CLI {slots} slots round {number + 1}: {run['makespan_seconds']:.1f} s = {run['ratio']:.3f} x ideal "
                f"{ideal:.0f} s (exit {run['exit_code']}, {run['archived']} archived, billed {run['billed_generations']}, "
                f"start-up excluded {run['startup_excluded_seconds']:.1f} s, max unfinished {run['max_unfinished_on_api']})",
                flush=True,
            )
        ratio = statistics.median(r["ratio"] for r in rounds)
        result["by_slots"][str(slots)] = {
            "ideal_seconds": ideal,
            "target_ratio": TARGETS.get(slots),
            "median_ratio": round(ratio, 3),
            "rounds": rounds,
        }
        print(
            f"B1 CLI {slots} slots: median {ratio:.3f} x ideal (target <= {TARGETS.get(slots)})",
            flush=True,
        )
    write_result("b1_cli", result)
    return result


if __name__ == "__main__":
    main()
