"""Scale: one batch of N videos over two workers of a Prefect server (optionally on PostgreSQL).

Sets up and tears down everything: a throwaway PostgreSQL cluster (``--database postgres``;
SQLite in the server's home otherwise), ``prefect server start`` on it, a process work pool,
the global concurrency limit ``oxen-generations`` (= the API's slots), the emulator (in its cheap
``--reuse-renders`` mode), an S3 archive (moto's server in a process of its own, counting
requests; ``--archive local`` for a directory instead), two ``prefect worker start`` processes
standing in for two machines (each with its own working directory and PREFECT_HOME: they share
nothing but the archive and the Prefect API), and a ``batch_flow`` deployment ``oxen-batch/shard``
on the pool. The batch itself is ``sharded_batch_flow`` (the package's flow) run by a separate parent
process: it cuts the batch into shards of ``--shard-size`` and starts one deployment run per
shard with ``run_deployment``; the workers take them.

``--kill`` SIGKILLs worker A and every process it started (a dead machine takes its flow runs
with it) once half the batch is billed. The automation ``sharded_batch_flow`` creates marks the
silent shard runs Crashed when their heartbeats stop; the parent re-submits them; worker B runs
them and they reattach from the run state kept in the archive.

Reported: makespan (parent flow start to the last archived mp4) against the ideal
ceil(N/slots) x latency, items archived and lost, emulator billed generations (and generations
created), peak RSS of every process (psutil, sampled every second over each process tree), the
Prefect database's size, the latency of a probe request to the Prefect API (p50/p95/max), the
emulator's CPU per generation, ``uptime`` load, and for ``--kill`` the detection and recovery
times.

    .venv/bin/python bench/scale.py --jobs 5000 --database postgres [--kill]
    .venv/bin/python bench/scale.py --jobs 40 --latency 2 --slots 8 --shard-size 20 --kill
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import API_KEY, RESULTS_DIR, ROOT, emulator_process, items, write_result
from _postgres import postgres_server
from _s3_server import counts as s3_counts
from _s3_server import s3_server
from b1_shared_limit import prefect_server

BIN = Path(sys.executable).parent
POOL = "oxen-scale"
DEPLOYMENT = "oxen-batch/shard"
LIMIT_NAME = "oxen-generations"
BUCKET = "scale-archive"
TARGET_RATIO = 1.20
HEARTBEAT_SECONDS = 30  # Prefect's minimum (PREFECT_FLOWS_HEARTBEAT_FREQUENCY)


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


class Sampler(threading.Thread):
    """Samples, every `interval` s, the RSS of every process of each role's process tree."""

    def __init__(self, interval: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.roots: dict[str, int] = {}
        self.peaks: dict[int, dict[str, Any]] = {}
        self.loads: list[float] = []
        self.flow_runs: dict[str, list[str]] = {}  # worker role -> flow runs its children ran
        self._stop_event = threading.Event()

    def watch(self, role: str, pid: int) -> None:
        self.roots[role] = pid

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            self.sample()

    def sample(self) -> None:
        self.loads.append(os.getloadavg()[0])
        for role, pid in list(self.roots.items()):
            with contextlib.suppress(psutil.Error):
                root = psutil.Process(pid)
                self._record(root, role, role)
                if role == "driver":  # this script: its children are the other roles
                    continue
                for child in root.children(recursive=True):
                    kind = "shard-run" if role.startswith("worker") else f"{role}-child"
                    self._record(child, kind, role)
                if role.startswith("worker"):
                    runs = self.flow_runs.setdefault(role, [])
                    runs += [r for r in _flow_runs_on(pid) if r not in runs]

    def _record(self, process: psutil.Process, kind: str, role: str) -> None:
        with contextlib.suppress(psutil.Error):
            rss = process.memory_info().rss
            entry = self.peaks.setdefault(
                process.pid, {"kind": kind, "tree": role, "name": process.name(), "peak_rss": 0}
            )
            entry["peak_rss"] = max(entry["peak_rss"], rss)
            entry["cpu"] = sum(process.cpu_times()[:2])
            # USS (memory only this process holds): PostgreSQL backends' RSS counts the shared
            # buffers they touched, which grows with the database up to shared_buffers.
            if kind.startswith("postgres"):
                uss = process.memory_full_info().uss
                entry["peak_uss"] = max(entry.get("peak_uss", 0), uss)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)

    def report(self) -> dict[str, Any]:
        by_kind: dict[str, list[dict[str, Any]]] = {}
        for entry in self.peaks.values():
            by_kind.setdefault(entry["kind"], []).append(entry)
        return {
            kind: {
                "processes": len(v),
                "max_peak_rss_mb": round(max(e["peak_rss"] for e in v) / 2**20, 1),
                "cpu_seconds": round(sum(e.get("cpu", 0.0) for e in v), 1),
                **(
                    {"max_peak_uss_mb": round(max(e.get("peak_uss", 0) for e in v) / 2**20, 1)}
                    if kind.startswith("postgres")
                    else {}
                ),
            }
            for kind, v in sorted(by_kind.items())
        }


class ApiProbe(threading.Thread):
    """Times one database-backed Prefect API request every `interval` s."""

    def __init__(self, api: str, interval: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.api, self.interval = api, interval
        self.seconds: list[float] = []
        self.errors = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        body = {"limit": 5, "sort": "EXPECTED_START_TIME_DESC"}
        with httpx.Client(timeout=60) as http:
            while not self._stop_event.wait(self.interval):
                start = time.perf_counter()
                try:
                    http.post(f"{self.api}/flow_runs/filter", json=body).raise_for_status()
                    http.post(f"{self.api}/task_runs/count", json={}).raise_for_status()
                except httpx.HTTPError:
                    self.errors += 1
                    continue
                self.seconds.append((time.perf_counter() - start) / 2)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=65)

    def report(self) -> dict[str, Any]:
        if not self.seconds:
            return {"samples": 0, "errors": self.errors}
        ordered = sorted(self.seconds)
        return {
            "samples": len(ordered),
            "errors": self.errors,
            "p50_ms": round(1000 * statistics.median(ordered), 1),
            "p95_ms": round(1000 * ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 1),
            "max_ms": round(1000 * ordered[-1], 1),
        }


def _set_up_server_objects(api: str, slots: int) -> None:
    """The work pool, the global limit and the shard deployment, through Prefect's client."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from prefect_oxen.flows import batch_flow

    with temporary_settings(updates={PREFECT_API_URL: api}):
        with get_client(sync_client=True) as client:
            with contextlib.suppress(ObjectAlreadyExists):  # a worker may have created it
                client.create_work_pool(WorkPoolCreate(name=POOL, type="process"))
            client.upsert_global_concurrency_limit_by_name(LIMIT_NAME, slots)
        flow = batch_flow.from_source(
            source=str(ROOT / "deployments"), entrypoint="flows.py:batch_flow"
        )
        flow.deploy(  # type: ignore[union-attr]
            name="shard",
            work_pool_name=POOL,
            build=False,
            push=False,
            print_next_steps=False,
            ignore_warnings=True,
        )


def _worker_env(
    home: Path, api: str, base_url: str, s3_endpoint: str | None = None
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "OXEN_"))}
    if s3_endpoint:  # every machine reaches the same S3 archive, and nothing else in common
        env.update(
            AWS_ENDPOINT_URL=s3_endpoint,
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_DEFAULT_REGION="us-east-1",
        )
    home.mkdir(parents=True, exist_ok=True)
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_API_URL=api,
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY=str(HEARTBEAT_SECONDS),
        PREFECT_WORKER_QUERY_SECONDS="2",
        PREFECT_LOGGING_EXTRA_LOGGERS="prefect_oxen",
        OXEN_API_KEY=API_KEY,
        OXEN_BASE_URL=base_url,
        PYTHONUNBUFFERED="1",
    )
    return env


@contextlib.contextmanager
def _workers(
    work: Path, api: str, base_url: str, limit: int, s3_endpoint: str | None
) -> Iterator[dict[str, subprocess.Popen]]:
    started: dict[str, subprocess.Popen] = {}
    logs = []
    try:
        for name in ("a", "b"):
            log = (work / f"worker-{name}.log").open("wb")
            logs.append(log)
            command = [
                str(BIN / "prefect"),
                "worker",
                "start",
                "--pool",
                POOL,
                "--type",
                "process",
                "--name",
                f"scale-worker-{name}",
                "--limit",
                str(limit),
            ]
            machine = work / f"machine-{name}"  # a directory of its own, shared with nobody
            machine.mkdir(exist_ok=True)
            started[name] = subprocess.Popen(
                command,
                env=_worker_env(machine / "prefect-home", api, base_url, s3_endpoint),
                cwd=machine,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        yield started
    finally:
        trees = [_kill_tree(process.pid, signal.SIGTERM) for process in started.values()]
        alive = []
        for pid in (pid for tree in trees for pid in tree):
            with contextlib.suppress(psutil.Error):
                alive.append(psutil.Process(pid))
        psutil.wait_procs(alive, timeout=3)
        for process in started.values():
            _kill_tree(process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(10)
        for log in logs:
            log.close()


def _kill_tree(pid: int, sig: int) -> list[int]:
    """Signal `pid` and every process it started (collected first: orphans get reparented)."""
    try:
        root = psutil.Process(pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.Error:
        return []
    for process in tree:
        with contextlib.suppress(psutil.Error):
            process.send_signal(sig)
    return [process.pid for process in tree]


def _flow_runs_on(pid: int) -> list[str]:
    """Flow run ids of the flow-run processes under worker `pid` (from their environment)."""
    found = []
    with contextlib.suppress(psutil.Error):
        for child in psutil.Process(pid).children(recursive=True):
            with contextlib.suppress(psutil.Error):
                run_id = child.environ().get("PREFECT__FLOW_RUN_ID")
                if run_id and run_id not in found:
                    found.append(run_id)
    return found


def _start_parent(
    work: Path, api: str, args: argparse.Namespace, source: Path, s3_endpoint: str | None
) -> subprocess.Popen:
    archive = f"s3://{BUCKET}/batch" if s3_endpoint else str(work / "archive")
    spec = {
        "items": str(source),
        "deployment": DEPLOYMENT,
        "shard_size": args.shard_size,
        "crashed_after": args.crashed_after,
        "poll_seconds": 1.0,
        "parameters": {"archive": archive, "concurrency": args.slots},
    }
    (work / "parent.json").write_text(json.dumps(spec))
    env = _worker_env(work / "home-parent", api, "http://unused.invalid", s3_endpoint)
    log = (work / "parent.log").open("wb")
    return subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).with_name("_scale_parent.py")),
            str(work / "parent.json"),
        ],
        env=env,
        cwd=work,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _unpaid_items(api: str, flow_run_ids: list[str], billed_prompts: set[str]) -> int:
    """How many of these shard runs' items the API has not billed yet (from their parameters)."""
    unpaid = 0
    for run_id in flow_run_ids:
        with contextlib.suppress(httpx.HTTPError):
            run = httpx.get(f"{api}/flow_runs/{run_id}", timeout=30).raise_for_status().json()
            items = run.get("parameters", {}).get("items") or []
            unpaid += sum(1 for item in items if item.get("prompt") not in billed_prompts)
    return unpaid


def _watch_for_kill(
    emu: Any, api: str, jobs: int, parent: subprocess.Popen, workers: dict[str, subprocess.Popen]
) -> dict[str, Any]:
    """Wait until half the batch is billed, then SIGKILL a worker and its flow runs.

    Worker A, unless its shard runs have nothing left to pay for at that moment (under load
    one shard can be billed whole before the other starts, and a run that only archives
    what it has may finish as the signal lands): then worker B, as soon as it has. Killing a
    machine with no generation left to pay for would prove nothing.
    """
    while parent.poll() is None:
        billed = emu.stats()["billed_generations"]
        busy = [(name, _flow_runs_on(w.pid)) for name, w in sorted(workers.items())]
        busy = [(name, runs) for name, runs in busy if runs]
        if billed >= jobs / 2 and busy:
            paid = {g["request"].get("prompt") for g in emu.generations() if g.get("billed")}
            busy = [(name, runs) for name, runs in busy if _unpaid_items(api, runs, paid)]
        if billed >= jobs / 2 and busy:
            name, runs = busy[0]
            unfinished = sum(1 for g in emu.generations() if not g.get("completed_at"))
            killed = _kill_tree(workers[name].pid, signal.SIGKILL)
            return {
                "at": time.time(),
                "worker": f"worker-{name}",
                "billed_at_kill": billed,
                "killed_pids": len(killed),
                "flow_runs_killed": runs,
                "unfinished_on_api_at_kill": unfinished,
                "load_at_kill": _load(),
            }
        time.sleep(0.5)
    return {}


def _state_times(api: str, flow_run_id: str) -> dict[str, float]:
    states = (
        httpx.get(f"{api}/flow_run_states/", params={"flow_run_id": flow_run_id}, timeout=30)
        .raise_for_status()
        .json()
    )
    times: dict[str, float] = {}
    for state in states:
        stamp = datetime.fromisoformat(state["timestamp"].replace("Z", "+00:00")).timestamp()
        times.setdefault(state["type"], stamp)
    return times


def _recovery(api: str, kill: dict[str, Any], report: dict[str, Any]) -> dict[str, Any]:
    """Kill -> Crashed (detection) and kill -> the replacement run Running/Completed."""
    detected, resumed, finished = [], [], []
    for shard in report.get("shards", []):
        runs = shard["flow_run_ids"]
        if not any(run in kill["flow_runs_killed"] for run in runs[:-1]):
            continue
        for old, new in itertools.pairwise(runs):
            if old not in kill["flow_runs_killed"]:
                continue
            crashed = _state_times(api, old).get("CRASHED")
            new_times = _state_times(api, new)
            if crashed:
                detected.append(crashed - kill["at"])
            if "RUNNING" in new_times:
                resumed.append(new_times["RUNNING"] - kill["at"])
            if "COMPLETED" in new_times:
                finished.append(new_times["COMPLETED"] - kill["at"])
    return {
        "shard_runs_killed": len(kill["flow_runs_killed"]),
        "shards_rerun": len(detected),
        "kill_to_crashed_seconds": [round(x, 1) for x in detected],
        "kill_to_rerun_running_seconds": [round(x, 1) for x in resumed],
        "kill_to_rerun_completed_seconds": [round(x, 1) for x in finished],
    }


def _db_size(database_url: str | None, home: Path) -> int:
    if database_url is None:
        return sum(p.stat().st_size for p in home.glob("prefect.db*"))
    port = database_url.rsplit(":", 1)[1].split("/")[0]
    psql = sorted(Path("/usr/lib/postgresql").glob("*/bin/psql"))[-1]
    done = subprocess.run(
        [
            str(psql),
            "-h",
            "127.0.0.1",
            "-p",
            port,
            "-U",
            "prefect",
            "-tAc",
            "select pg_database_size('prefect')",
            "prefect",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout.strip())


def _postgres_pid(database_url: str) -> int | None:
    port = database_url.rsplit(":", 1)[1].split("/")[0]
    for process in psutil.process_iter(["name", "cmdline"]):
        cmdline = process.info["cmdline"] or []
        if process.info["name"] == "postgres" and f"-p {port}" in " ".join(cmdline):
            return process.pid
    return None


def _parent_start(api: str) -> float:
    body = {"flows": {"name": {"any_": ["oxen-sharded-batch"]}}, "limit": 1}
    runs = httpx.post(f"{api}/flow_runs/filter", json=body, timeout=30).raise_for_status().json()
    return datetime.fromisoformat(runs[0]["start_time"].replace("Z", "+00:00")).timestamp()


def run(args: argparse.Namespace) -> dict[str, Any]:
    """One scale run; returns the measured record."""
    work = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    (work / "home-server").mkdir()
    source = work / "items.jsonl"
    source.write_text(
        "".join(json.dumps(i) + "\n" for i in items(args.jobs, "scale", args.duration))
    )
    shards = math.ceil(args.jobs / args.shard_size)
    limit = math.ceil(shards / 2)
    ideal = math.ceil(args.jobs / args.slots) * args.latency
    result: dict[str, Any] = {
        "benchmark": "scale",
        "jobs": args.jobs,
        "latency_seconds": args.latency,
        "slots": args.slots,
        "oxen_generations_limit": args.limit or args.slots,
        "archive": args.archive,
        "shard_size": args.shard_size,
        "shards": shards,
        "worker_limit": limit,
        "database": args.database,
        "kill": args.kill,
        "reuse_renders": not args.full_renders,
        "ideal_seconds": ideal,
        "target_ratio": TARGET_RATIO,
        "load_before": _load(),
    }
    os.environ["PREFECT_HOME"] = str(work / "home-driver")
    os.environ.pop("PREFECT_API_URL", None)
    sampler = Sampler(interval=2.0)
    sampler.watch("driver", os.getpid())
    with contextlib.ExitStack() as stack, ThreadPoolExecutor(2) as pool:
        t0 = time.monotonic()
        # Start-up in parallel: Prefect's import and the emulator while the server migrates.
        importing = pool.submit(_import_prefect)
        extra = [] if args.full_renders else ["--reuse-renders"]
        emulator_cm = emulator_process(latency=args.latency, concurrency=args.slots, extra=extra)
        starting_emulator = pool.submit(emulator_cm.__enter__)
        stack.push(emulator_cm.__exit__)
        database_url = (
            stack.enter_context(postgres_server()) if args.database == "postgres" else None
        )
        if database_url and (pid := _postgres_pid(database_url)):
            sampler.watch("postgres", pid)
        api = stack.enter_context(prefect_server(work / "home-server", database_url))
        if server_pid := _server_pid(api):
            sampler.watch("prefect-server", server_pid)
        emu = starting_emulator.result()
        sampler.watch("emulator", _listener_pid(emu.base_url))
        s3_endpoint = None
        if args.archive == "s3":
            s3_endpoint, s3_pid = stack.enter_context(s3_server(BUCKET))
            sampler.watch("s3", s3_pid)
        workers = stack.enter_context(_workers(work, api, emu.base_url, limit, s3_endpoint))
        for name, process in workers.items():
            sampler.watch(f"worker-{name}", process.pid)
        emu_process = psutil.Process(_listener_pid(emu.base_url))
        emu_cpu = sum(emu_process.cpu_times()[:2])
        # The parent imports Prefect while the deployment is made; it waits for the deployment.
        parent = _start_parent(work, api, args, source, s3_endpoint)
        sampler.watch("parent", parent.pid)
        importing.result()
        _set_up_server_objects(api, args.limit or args.slots)
        result["setup_seconds"] = round(time.monotonic() - t0, 1)
        sampler.start()
        probe = ApiProbe(api)
        probe.start()
        kill = _watch_for_kill(emu, api, args.jobs, parent, workers) if args.kill else {}
        parent.wait(timeout=args.timeout)
        probe.stop()
        sampler.stop()
        result["emulator_cpu_seconds_per_generation"] = round(
            (sum(emu_process.cpu_times()[:2]) - emu_cpu) / max(1, args.jobs), 5
        )
        result.update(_outcome(work, api, emu, parent, database_url, kill, s3_endpoint))
        result["memory"] = sampler.report()
        result["flow_runs_by_worker"] = sampler.flow_runs
        result["prefect_api_probe"] = probe.report()
        result["load_1min_during"] = {
            "mean": round(statistics.mean(sampler.loads), 2) if sampler.loads else None,
            "max": round(max(sampler.loads), 2) if sampler.loads else None,
        }
        result["makespan_ratio"] = round(result["makespan_seconds"] / ideal, 3)
    result["load_after"] = _load()
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return result


def _import_prefect() -> None:
    import prefect_oxen.flows  # noqa: F401 (Prefect's import takes seconds: done off the main thread)


def _outcome(
    work: Path,
    api: str,
    emu: Any,
    parent: subprocess.Popen,
    database_url: str | None,
    kill: dict[str, Any],
    s3_endpoint: str | None = None,
) -> dict[str, Any]:
    lines = [
        line
        for line in (work / "parent.log").read_text(errors="replace").splitlines()
        if line.startswith("{")
    ]
    report = json.loads(lines[-1]) if lines else {}
    videos = _s3_videos(s3_endpoint) if s3_endpoint else _local_videos(work / "archive")
    keys = {Path(key).stem for key in videos}
    stats = emu.stats()
    log = emu.generations()
    out: dict[str, Any] = {
        "parent_exit": parent.returncode,
        "parent_state": report.get("state"),
        "shard_attempts": [
            len(s["flow_run_ids"]) for s in report.get("report", {}).get("shards", [])
        ],
        "archived": len(videos),
        "archived_distinct_keys": len(keys),
        "billed_generations": stats["billed_generations"],
        "generations_created": len(log),
        "makespan_seconds": round(max(videos.values()) - _parent_start(api), 1) if videos else None,
        "emulator_server_makespan_seconds": round(
            max(g["completed_at"] or 0 for g in log) - min(g["enqueued_at"] for g in log), 1
        )
        if log
        else None,
        "prefect_db_bytes": _db_size(database_url, work / "home-server"),
        "work_dir": str(work),
    }
    if s3_endpoint:
        requests = s3_counts(s3_endpoint)
        state = sum(n for kind, n in requests.items() if kind.startswith("state"))
        out["s3_requests"] = requests
        out["s3_state_requests_per_video"] = round(state / max(1, len(keys)), 2)
    if kill:
        out["kill"] = {**kill, "at_offset_seconds": round(kill["at"] - _parent_start(api), 1)}
        out["recovery"] = _recovery(api, kill, report.get("report", {}))
    return out


def _local_videos(root: Path) -> dict[str, float]:
    """Archived mp4s of a local archive and when each was written."""
    return {str(p): p.stat().st_mtime for p in root.rglob("*.mp4")}


def _s3_videos(endpoint: str) -> dict[str, float]:
    """Archived mp4s of the S3 archive and when each was written."""
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    found: dict[str, float] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="batch/"):
        for obj in page.get("Contents", []):
            if obj["Key"].endswith(".mp4"):
                found[obj["Key"]] = obj["LastModified"].timestamp()
    return found


def _listener_pid(url: str) -> int:
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    for conn in psutil.net_connections("tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port and conn.pid:
            return conn.pid
    raise RuntimeError(f"nothing listens on {url}")


def _server_pid(api: str) -> int | None:
    with contextlib.suppress(RuntimeError):
        pid = _listener_pid(api.removesuffix("/api"))
        # The listener may be a uvicorn child: report the tree of `prefect server start` itself.
        process = psutil.Process(pid)
        while process.parent() and "prefect" in " ".join(process.parent().cmdline()):
            process = process.parent()
        return process.pid
    return None


def _ensure_postgres() -> None:
    if sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        return
    if os.geteuid() != 0:
        raise SystemExit("PostgreSQL is not installed: apt-get install -y postgresql (as root)")
    subprocess.run(["apt-get", "update"], check=True)
    subprocess.run(
        ["apt-get", "install", "-y", "postgresql"],
        check=True,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )


def _print(result: dict[str, Any]) -> None:
    memory = ", ".join(f"{k} {v['max_peak_rss_mb']} MB" for k, v in result["memory"].items())
    print(
        f"scale N={result['jobs']} ({result['database']}{', worker killed' if result['kill'] else ''}): "
        f"makespan {result['makespan_seconds']} s = {result['makespan_ratio']} x ideal "
        f"{result['ideal_seconds']:.0f} s (target <= {TARGET_RATIO}); archived {result['archived']}, "
        f"lost {result['jobs'] - result['archived_distinct_keys']} (target 0); billed "
        f"{result['billed_generations']} (target {result['jobs']}); generations created "
        f"{result['generations_created']}; Prefect DB {result['prefect_db_bytes'] / 2**20:.1f} MB; "
        f"API probe {result['prefect_api_probe']}; emulator "
        f"{1000 * result['emulator_cpu_seconds_per_generation']:.2f} ms CPU/generation; "
        f"load {result['load_1min_during']}",
        flush=True,
    )
    print(f"  peak RSS per process: {memory} (target < 1024 MB each)", flush=True)
    if result.get("recovery"):
        print(f"  kill: {result['kill']} \n  recovery: {result['recovery']}", flush=True)


def _growth(small: dict[str, Any], large: dict[str, Any]) -> dict[str, Any]:
    """Peak RSS growth per kind of process from the small run to the large one."""
    growth = {}
    for kind, entry in large["memory"].items():
        if kind in small["memory"] and kind != "driver":
            before, after = small["memory"][kind]["max_peak_rss_mb"], entry["max_peak_rss_mb"]
            growth[kind] = {
                "small_mb": before,
                "large_mb": after,
                "growth_pct": round(100 * (after - before) / before, 1),
            }
    return growth


def _suite(args: argparse.Namespace) -> dict[str, Any]:
    """`make bench-scale`: N = 1,000, N = 5,000, N = 5,000 with worker A killed halfway."""
    runs = {}
    for jobs, kill in ((args.small_jobs, False), (args.jobs, False), (args.jobs, True)):
        one = argparse.Namespace(**{**vars(args), "jobs": jobs, "kill": kill})
        print(f"scale suite: N={jobs}{' with a worker killed' if kill else ''} ...", flush=True)
        result = run(one)
        _print(result)
        name = f"scale_{args.database}_{jobs}{'_kill' if kill else ''}"
        write_result(name, result)
        runs[name] = result
    small = runs[f"scale_{args.database}_{args.small_jobs}"]
    large = runs[f"scale_{args.database}_{args.jobs}"]
    summary = {
        "runs": list(runs),
        "rss_growth": _growth(small, large),
        "rss_growth_target_pct": 20,
        "rss_target_mb": 1024,
    }
    write_result(f"scale_{args.database}_summary", summary)
    print(
        f"peak RSS growth N={args.small_jobs} -> {args.jobs}: {summary['rss_growth']} (target <= 20 %)"
    )
    return summary


_RECOVERY_KEYS = (
    "kill_to_crashed_seconds",
    "kill_to_rerun_running_seconds",
    "kill_to_rerun_completed_seconds",
)


def _spread(values: list[float]) -> str:
    return f"{min(values):.0f}-{max(values):.0f}" if values else "-"


def _mb(run: dict[str, Any], kind: str) -> str:
    entry = run["memory"].get(kind, {})
    return f"{entry.get('max_peak_rss_mb', '-')}"


def _largest_growth(small: dict[str, Any], large: dict[str, Any]) -> float:
    kinds = ("prefect-server", "shard-run", "worker-a", "worker-b", "parent", "emulator")
    return max(v["growth_pct"] for k, v in _growth(small, large).items() if k in kinds)


def table(database: str = "postgres", jobs: int = 5000) -> str:
    """The README's table from bench/results/scale_<database>_{1000,<jobs>,<jobs>_kill}.json.

    Returns:
        Markdown: one row per figure, one column per run, then the target.
    """
    names = [f"scale_{database}_1000", f"scale_{database}_{jobs}", f"scale_{database}_{jobs}_kill"]
    runs = [json.loads((RESULTS_DIR / f"{n}.json").read_text()) for n in names]
    rows = [
        (
            "makespan / ideal",
            [
                f"**{r['makespan_ratio']}** ({r['makespan_seconds']:.0f} s / "
                f"{r['ideal_seconds']:.0f} s)"
                for r in runs
            ],
            "≤ 1.20",
        ),
        (
            "archived / lost",
            [
                f"{r['archived_distinct_keys']} / {r['jobs'] - r['archived_distinct_keys']}"
                for r in runs
            ],
            "N / 0",
        ),
        (
            "emulator billed_generations (generations created)",
            [f"**{r['billed_generations']}** ({r['generations_created']})" for r in runs],
            "= N",
        ),
        (
            "archive (every machine's run state is in it) / oxen-generations",
            [f"{r.get('archive', 'local')} / {r['oxen_generations_limit']}" for r in runs],
            "S3 / = API slots",
        ),
        (
            "run-state S3 requests per video",
            [
                f"**{r['s3_state_requests_per_video']}**"
                if "s3_state_requests_per_video" in r
                else ""
                for r in runs
            ],
            "≤ 4 (report with a kill)",
        ),
        (
            "shard runs per worker (A / B)",
            [
                f"{len(r['flow_runs_by_worker'].get('worker-a', []))} / "
                f"{len(r['flow_runs_by_worker'].get('worker-b', []))}"
                for r in runs
            ],
            "both",
        ),
    ]
    for kind, label in (
        ("prefect-server", "Prefect server"),
        ("shard-run", "a shard run"),
        ("worker-a", "worker A"),
        ("worker-b", "worker B"),
        ("parent", "parent"),
        ("emulator", "emulator"),
        ("postgres-child", "a PostgreSQL backend"),
        ("s3", "the S3 stand-in (moto server)"),
    ):
        rows.append((f"peak RSS, {label} (MB)", [_mb(r, kind) for r in runs], "< 1024, flat"))
    rows.append(
        (
            "peak RSS growth N = 1,000 -> 5,000, largest of server / shard run / workers / parent "
            "/ emulator",
            ["", f"{_largest_growth(runs[0], runs[1]):.1f} %", ""],
            "≤ 10 %",
        )
    )
    rows += [
        (
            "Prefect database size (MB)",
            [f"{r['prefect_db_bytes'] / 2**20:.0f}" for r in runs],
            "(report)",
        ),
        (
            "Prefect API probe p50 / p95 (ms)",
            [
                f"{r['prefect_api_probe']['p50_ms']:.0f} / **{r['prefect_api_probe']['p95_ms']:.0f}**"
                for r in runs
            ],
            "(report)",
        ),
        (
            "emulator CPU per generation (ms)",
            [f"{1000 * r['emulator_cpu_seconds_per_generation']:.1f}" for r in runs],
            "(report)",
        ),
        (
            "machine load (1-min average: mean / max)",
            [f"{r['load_1min_during']['mean']} / {r['load_1min_during']['max']}" for r in runs],
            "2 cores",
        ),
    ]
    kill = runs[2].get("recovery", {})
    if kill:
        rows.append(
            (
                "worker A killed at / in flight on the API then",
                [
                    "",
                    "",
                    (
                        f"+{runs[2]['kill']['at_offset_seconds']:.0f} s, {runs[2]['kill']['billed_at_kill']} billed / "
                        f"{runs[2]['kill']['unfinished_on_api_at_kill']} unfinished, "
                        f"{kill['shard_runs_killed']} shard runs killed"
                    ),
                ],
                "halfway",
            )
        )
        rows.append(
            (
                "recovery, seconds after the kill (fastest-slowest shard): run marked Crashed / "
                "re-run Running / re-run Completed",
                ["", "", " / ".join(_spread(kill[key]) for key in _RECOVERY_KEYS)],
                "(report)",
            )
        )
    head = "| figure | N = 1,000 | N = 5,000 | N = 5,000, worker A SIGKILLed | target |"
    lines = [head, "|---|---|---|---|---|"]
    lines += [f"| {label} | {' | '.join(cells)} | {target} |" for label, cells, target in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument(
        "--suite",
        action="store_true",
        help="--small-jobs, then --jobs, then --jobs with a worker killed",
    )
    parser.add_argument("--small-jobs", type=int, default=1000, help="--suite's first run")
    parser.add_argument("--table", action="store_true", help="print the README table and exit")
    parser.add_argument("--latency", type=float, default=30.0)
    parser.add_argument("--slots", type=int, default=250)
    parser.add_argument("--limit", type=int, help="oxen-generations slots (default --slots)")
    parser.add_argument(
        "--archive",
        choices=["s3", "local"],
        default="s3",
        help="s3: one S3 archive (moto server) every machine reaches, nothing else shared",
    )
    parser.add_argument("--duration", type=int, default=2, help="seconds of each video")
    parser.add_argument("--shard-size", type=int, default=500)
    parser.add_argument("--database", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--kill", action="store_true", help="SIGKILL worker A halfway")
    parser.add_argument(
        "--crashed-after",
        type=float,
        default=45.0,
        help="seconds without a heartbeat before a shard run is marked Crashed",
    )
    parser.add_argument("--full-renders", action="store_true", help="encode every video")
    parser.add_argument("--timeout", type=float, default=3600.0)
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    parser.add_argument(
        "--results", type=Path, help="write the record here (default bench/results)"
    )
    args = parser.parse_args(argv)
    if args.table:
        print(table(args.database, args.jobs))
        return {}
    # SIGTERM (or SIGINT in a background job, where it is ignored) must still tear down.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.database == "postgres":
        _ensure_postgres()
    if args.suite:
        return _suite(args)
    result = run(args)
    _print(result)
    if args.results:
        args.results.write_text(json.dumps(result, indent=2) + "\n")
    else:
        write_result(f"scale_{args.database}_{args.jobs}{'_kill' if args.kill else ''}", result)
    return result


if __name__ == "__main__":
    main()
