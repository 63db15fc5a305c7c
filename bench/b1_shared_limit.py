"""B1 shared: two batches of 100 started together on one ``prefect server start``, sharing the
global concurrency limit ``oxen-generations`` set to 16 with ``prefect gcl``.

Each batch is ``prefect-oxen batch FILE`` with no tuning flag (PREFECT_API_URL points at the
server, as a team's would). The emulator has 64 slots, so the only thing holding the API to 16
unfinished generations is the shared limit. Reported per round: makespan from the first flow
run's start to the last archived mp4 of either batch (ideal ceil(200/16) x 2 s = 26 s; target
<= 1.15x), the most generations unfinished on the API at any moment (target <= 16), and the
Prefect API calls admission cost per item (each run logs its own count).

    .venv/bin/python bench/b1_shared_limit.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    API_KEY,
    emulator_process,
    free_port,
    ideal_makespan,
    items,
    max_unfinished,
    server_makespan,
    unfinished_timeline,
    write_result,
)
from _postgres import postgres_server

JOBS_PER_BATCH, LATENCY, LIMIT, TARGET = 100, 2.0, 16, 1.15
BIN = Path(sys.executable).parent


@contextlib.contextmanager
def prefect_server(home: Path, database_url: str | None = None) -> Iterator[str]:
    """``prefect server start`` on a free port with its own PREFECT_HOME (and database, if
    given; else SQLite in the home); yields the API URL."""
    port = free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_UI_ENABLED": "false",
    }
    if database_url:
        env["PREFECT_API_DATABASE_CONNECTION_URL"] = database_url
    env.pop("PREFECT_API_URL", None)
    log = open(home / "server.log", "w")  # noqa: SIM115 (closed below)
    server = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start", "--port", str(port), "--host", "127.0.0.1"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 180
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"prefect server did not start; see {home / 'server.log'}")
            time.sleep(0.2)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


def _admission_calls(api: str, flow_run_id: str) -> int | None:
    body = {"logs": {"flow_run_id": {"any_": [flow_run_id]}}, "limit": 50, "sort": "TIMESTAMP_DESC"}
    for log in httpx.post(f"{api}/logs/filter", json=body, timeout=30).raise_for_status().json():
        if log["message"].startswith("Admission through"):
            return int(log["message"].split(" cost ")[1].split()[0])
    return None


def one_round(api: str, base_url: str, number: int, work: Path) -> dict[str, Any]:
    env = {**os.environ, "OXEN_API_KEY": API_KEY, "PREFECT_API_URL": api}
    runs = []
    for side in ("a", "b"):
        source = work / f"round{number}-{side}.jsonl"
        source.write_text(
            "".join(json.dumps(i) + "\n" for i in items(JOBS_PER_BATCH, f"shared-{number}-{side}"))
        )
        archive = work / f"archive-{number}-{side}"
        child = subprocess.Popen(
            [
                str(BIN / "prefect-oxen"),
                "batch",
                str(source),
                "--base-url",
                base_url,
                "--archive",
                str(archive),
            ],
            env=env,
            cwd=work,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        runs.append((archive, child))
    outcomes = [
        (archive, child.communicate(timeout=1800), child.returncode) for archive, child in runs
    ]
    flows = (
        httpx.post(
            f"{api}/flow_runs/filter", json={"sort": "START_TIME_DESC", "limit": 2}, timeout=30
        )
        .raise_for_status()
        .json()
    )
    starts = [
        datetime.fromisoformat(f["start_time"].replace("Z", "+00:00")).timestamp() for f in flows
    ]
    videos = [p for archive, _, _ in outcomes for p in archive.rglob("*.mp4")]
    last = max(p.stat().st_mtime for p in videos)
    calls = [_admission_calls(api, f["id"]) for f in flows]
    return {
        "flow_starts": sorted(starts),
        "exit_codes": [code for _, _, code in outcomes],
        "archived": len(videos),
        "makespan_seconds": last - min(starts),
        "admission_prefect_api_calls": calls,
        "admission_calls_per_item": round(sum(c or 0 for c in calls) / (2 * JOBS_PER_BATCH), 3),
    }


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--database",
        choices=["sqlite", "postgres"],
        default="sqlite",
        help="the Prefect server's database (postgres: a throwaway local cluster)",
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-shared-"))
    home = work / "prefect-home"
    home.mkdir()
    ideal = ideal_makespan(2 * JOBS_PER_BATCH, LIMIT, LATENCY)
    result: dict[str, Any] = {
        "benchmark": "B1_shared_limit",
        "database": args.database,
        "jobs": 2 * JOBS_PER_BATCH,
        "batches": 2,
        "limit": LIMIT,
        "latency_seconds": LATENCY,
        "ideal_seconds": ideal,
        "target_ratio": TARGET,
        "rounds": [],
    }
    with contextlib.ExitStack() as stack:
        database_url = (
            stack.enter_context(postgres_server()) if args.database == "postgres" else None
        )
        api = stack.enter_context(prefect_server(home, database_url))
        env = {**os.environ, "PREFECT_API_URL": api}
        subprocess.run(
            [str(BIN / "prefect"), "gcl", "create", "oxen-generations", "--limit", str(LIMIT)],
            env=env,
            check=True,
            capture_output=True,
        )
        for number in range(args.rounds):
            with emulator_process(latency=LATENCY, concurrency=64) as emu:
                run = one_round(api, emu.base_url, number, work)
                log = emu.generations()
                run["billed_generations"] = emu.stats()["billed_generations"]
            run["max_unfinished_on_api"] = max_unfinished(log)
            first = min(run["flow_starts"])
            run["flow_start_offsets"] = [round(t - first, 2) for t in run.pop("flow_starts")]
            run["first_enqueue_offset"] = round(min(g["enqueued_at"] for g in log) - first, 2)
            run["unfinished_by_second"] = unfinished_timeline(log, first)
            run["server_makespan_seconds"] = server_makespan(log)
            run["ratio"] = run["makespan_seconds"] / ideal
            result["rounds"].append(run)
            print(
                f"  flows started at +{run['flow_start_offsets']} s, first enqueue +{run['first_enqueue_offset']} s; "
                f"unfinished by second {run['unfinished_by_second']}"
            )
            print(
                f"B1 shared round {number + 1}: {run['makespan_seconds']:.1f} s = {run['ratio']:.3f} x ideal {ideal:.0f} s "
                f"(target <= {TARGET}); max unfinished {run['max_unfinished_on_api']} (<= {LIMIT}); "
                f"billed {run['billed_generations']}; admission {run['admission_calls_per_item']} Prefect API calls/item; "
                f"exits {run['exit_codes']}",
                flush=True,
            )
    result["median_ratio"] = round(statistics.median(r["ratio"] for r in result["rounds"]), 3)
    result["max_unfinished_on_api"] = max(r["max_unfinished_on_api"] for r in result["rounds"])
    result["admission_calls_per_item"] = statistics.median(
        r["admission_calls_per_item"] for r in result["rounds"]
    )
    print(
        f"B1 shared: median {result['median_ratio']} x ideal, max unfinished {result['max_unfinished_on_api']}, "
        f"{result['admission_calls_per_item']} admission calls/item",
        flush=True,
    )
    write_result(f"b1_shared_limit_{args.database}", result)
    return result


if __name__ == "__main__":
    main()
