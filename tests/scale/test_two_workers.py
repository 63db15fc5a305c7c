"""The scale path at small scale: `bench/scale.py` with 40 jobs, two workers, one SIGKILL.

The same script as the 5,000-video benchmark (`make bench-scale`): `prefect server start` (here on
SQLite), a process work pool with two `prefect worker start` processes, the emulator, and the
package's `sharded_batch_flow` splitting the batch into two `batch_flow` deployment runs, on the
production shape: one S3 archive (a moto server) and two workers that share no directory (each
its own working directory and PREFECT_HOME, no journal given), with `oxen-generations` equal to
the API's slots. Once half
the batch is billed, a worker still running its shard (A, else B: under load one shard run can
start seconds after the other and finish first) is SIGKILLed with its flow-run process; the
heartbeat automation marks that shard run Crashed, the parent runs the shard again on the other
worker, and that run reattaches from the run state kept in the archive. Nothing may be paid twice or lost.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
JOBS = 40


@pytest.mark.slow
def test_a_killed_worker_costs_nothing_twice_and_loses_nothing(tmp_path: Path) -> None:
    out = tmp_path / "scale.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "OXEN_"))}
    command = [
        sys.executable,
        str(REPO / "bench" / "scale.py"),
        "--jobs",
        str(JOBS),
        "--latency",
        "2",
        "--slots",
        "8",
        "--shard-size",
        str(JOBS // 2),
        "--database",
        "sqlite",
        "--kill",
        "--crashed-after",
        "35",
        "--results",
        str(out),
    ]
    started = time.monotonic()
    done = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=280)
    elapsed = time.monotonic() - started
    assert done.returncode == 0 and out.exists(), done.stdout[-4000:] + done.stderr[-4000:]
    result = json.loads(out.read_text())
    summary = f"{elapsed:.0f} s wall; {result}"
    assert result["parent_state"] == "COMPLETED", summary
    assert result["archive"] == "s3" and result["oxen_generations_limit"] == 8, summary
    assert result["billed_generations"] == JOBS, summary  # nothing paid twice
    assert result["generations_created"] == JOBS, summary  # nor even enqueued twice
    assert result["archived"] == result["archived_distinct_keys"] == JOBS, summary  # none lost
    # Prefect split the batch: each worker ran a shard; the killed one's shard ran again on B.
    runs = result["flow_runs_by_worker"]
    assert runs.get("worker-a") and runs.get("worker-b"), summary
    assert result["kill"]["flow_runs_killed"], summary
    assert result["recovery"]["shards_rerun"] == 1, summary
    assert result["shard_attempts"] == [2, 1] or result["shard_attempts"] == [1, 2], summary
    print(
        f"scale test: {elapsed:.0f} s wall (set-up {result['setup_seconds']} s, load "
        f"{result['load_1min_during']}), recovery {result['recovery']}"
    )
