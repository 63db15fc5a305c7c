"""What keeping the run state in an S3 archive costs: S3 requests per video, on the path users take.

``prefect-oxen batch FILE --archive s3://...`` with no tuning flag, 200 videos of the emulator's
fast model (16 slots, latency 2 s), against moto's S3 in a process of its own that counts every
request. Reported: the run state's requests per video (keys under ``.oxen-state/``: item claims
and records, and each process's heartbeat) beside the archive's own (video, manifest, checks),
for a fresh batch and for the same batch run again (everything skipped, nothing paid). Target:
at most 4 extra requests per video for a fresh batch.

    .venv/bin/python bench/s3_state_cost.py [--jobs 200]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import API_KEY, emulator_process, items, write_result
from _s3_server import counts, s3_server

BUCKET = "state-cost"
TARGET = 4.0


def _batch(source: Path, base_url: str, endpoint: str, home: Path) -> tuple[int, float]:
    """One `prefect-oxen batch` run in a directory of its own; exit code and seconds."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "OXEN_", "AWS_"))}
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        OXEN_API_KEY=API_KEY,
        OXEN_BASE_URL=base_url,
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
    )
    started = time.monotonic()
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("prefect-oxen")),
            "batch",
            str(source),
            "--archive",
            f"s3://{BUCKET}/videos",
        ],
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if done.returncode:
        print(done.stdout[-2000:], done.stderr[-2000:])
    return done.returncode, round(time.monotonic() - started, 1)


def _per_video(before: dict[str, int], after: dict[str, int], jobs: int) -> dict[str, float]:
    """Requests between two counts, per video, split into run state and archive."""
    delta = {kind: after.get(kind, 0) - before.get(kind, 0) for kind in after}
    state = sum(n for kind, n in delta.items() if kind.startswith("state"))
    archive = sum(n for kind, n in delta.items() if kind.startswith("archive"))
    return {
        "state_requests_per_video": round(state / jobs, 2),
        "archive_requests_per_video": round(archive / jobs, 2),
        "by_kind": delta,  # type: ignore[dict-item]
    }


def main() -> dict[str, Any]:
    """Measure a fresh batch and a re-run; print and record."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-s3-state-"))
    source = work / "batch.jsonl"
    source.write_text("".join(json.dumps(i) + "\n" for i in items(args.jobs, "s3state")))
    result: dict[str, Any] = {"benchmark": "s3_state_cost", "jobs": args.jobs, "target": TARGET}
    with emulator_process(latency=2, concurrency=16) as emu, s3_server(BUCKET) as (endpoint, _):
        for run, machine in (("fresh", "machine-a"), ("rerun", "machine-b")):
            home = work / machine
            home.mkdir()
            before = counts(endpoint)
            code, seconds = _batch(source, emu.base_url, endpoint, home)
            result[run] = {
                "exit_code": code,
                "seconds": seconds,
                "billed_total": emu.stats()["billed_generations"],
                **_per_video(before, counts(endpoint), args.jobs),
            }
    fresh, rerun = result["fresh"], result["rerun"]
    result["met"] = fresh["state_requests_per_video"] <= TARGET
    print(
        f"S3 run state, {args.jobs} videos: fresh batch {fresh['state_requests_per_video']} state "
        f"requests per video (target <= {TARGET}) beside {fresh['archive_requests_per_video']} "
        f"for the archive itself; a re-run on another machine {rerun['state_requests_per_video']} "
        f"per video, billed {rerun['billed_total']} in all (= {args.jobs}: nothing paid twice)"
    )
    write_result("s3_state_cost", result)
    return result


if __name__ == "__main__":
    main()
