"""Shared plumbing of the B1/B4/B5 benchmarks: an emulator in its own process, results on disk.

The emulator runs as ``python -m prefect_oxen.emulator`` in a child process (its own GIL and, on a
2-core machine, mostly its own core), so what the benchmarks time is the client, not the server
fighting the client for the interpreter.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"
API_KEY = "bench-key"
FAST = "oxen-emu-fast-video"


def machine() -> dict[str, Any]:
    return {
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def ideal_makespan(jobs: int, concurrency: int, latency: float) -> float:
    return math.ceil(jobs / concurrency) * latency


def write_result(name: str, data: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(
        json.dumps({**data, "machine": machine(), "measured_at": now()}, indent=2) + "\n"
    )
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Emulator:
    """Handle on an emulator child process: its URL plus its control routes."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._http = httpx.Client(base_url=base_url, timeout=30)

    def stats(self) -> dict[str, Any]:
        return self._http.get("/_emulator/stats").raise_for_status().json()

    def generations(self) -> list[dict[str, Any]]:
        return self._http.get("/_emulator/generations").raise_for_status().json()["generations"]

    def configure(self, **changes: Any) -> None:
        self._http.patch("/_emulator/config", json=changes).raise_for_status()

    def reset(self) -> None:
        self._http.post("/_emulator/reset", params={"generations": "true"}).raise_for_status()

    def close(self) -> None:
        self._http.close()


@contextlib.contextmanager
def emulator_process(
    *, latency: float, concurrency: int, seed: int = 7, extra: list[str] | None = None
) -> Iterator[Emulator]:
    """``python -m prefect_oxen.emulator`` on a free port, stopped (whole process group) on exit."""
    port = free_port()
    log = tempfile.NamedTemporaryFile(prefix="bench-emulator-", suffix=".log", delete=False)  # noqa: SIM115 (closed in finally)
    command = [
        sys.executable,
        "-m",
        "prefect_oxen.emulator",
        "--port",
        str(port),
        "--latency",
        str(latency),
        "--concurrency",
        str(concurrency),
        "--seed",
        str(seed),
        "--api-key",
        API_KEY,
        "--keepalive-interval",
        "5",
        *(extra or []),
    ]
    child = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT
    )
    emulator = Emulator(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 60
        while True:
            if child.poll() is not None:
                raise RuntimeError(f"emulator exited with {child.returncode}; see {log.name}")
            with contextlib.suppress(httpx.HTTPError):
                emulator.stats()
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"emulator did not answer within 60 s; see {log.name}")
            time.sleep(0.1)
        yield emulator
    finally:
        emulator.close()
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGINT)
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait(timeout=15)
        log.close()
        with contextlib.suppress(OSError):
            os.unlink(log.name)


def api_calls(stats: dict[str, Any]) -> dict[str, int]:
    """Requests per route the client made (API routes and downloads; the emulator's own excluded)."""
    return {route: n for route, n in stats["requests"].items() if "/_emulator" not in route}


def server_makespan(log: list[dict[str, Any]]) -> float:
    """First enqueue accepted to last generation finished, as the emulator recorded them."""
    return max(g["completed_at"] for g in log) - min(g["enqueued_at"] for g in log)


def items(jobs: int, tag: str, duration: int = 2) -> list[dict[str, Any]]:
    return [
        {"id": f"b{i:04d}", "model": FAST, "prompt": f"{tag} clip {i}", "duration": duration}
        for i in range(jobs)
    ]


def prefect_env(home: Path) -> None:
    """A fresh PREFECT_HOME (ephemeral server, results, caches) for one benchmark process."""
    os.environ["PREFECT_HOME"] = str(home)
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    os.environ["DO_NOT_TRACK"] = "1"
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.pop("PREFECT_API_URL", None)


def run_json(command: list[str], timeout: float = 3600) -> dict[str, Any]:
    """Run a benchmark helper in a child process and parse the JSON its last stdout line holds."""
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{command[1]} failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(lines[-1])


def prefect_batch(
    base_url: str,
    jobs: int,
    concurrency: int | None = None,
    *,
    home: Path | None = None,
    tag: str = "bench",
) -> dict[str, Any]:
    """`batch_flow` in a child process, with its default parameters unless `concurrency` is given."""
    command = [
        sys.executable,
        str(ROOT / "bench" / "prefect_batch.py"),
        base_url,
        str(jobs),
        "--tag",
        tag,
    ]
    if concurrency is not None:
        command += ["--concurrency", str(concurrency)]
    if home is not None:
        command += ["--home", str(home)]
    return run_json(command)


def raw_httpx(
    base_url: str, jobs: int, concurrency: int, out: Path, *, tag: str = "raw"
) -> dict[str, Any]:
    return run_json(
        [
            sys.executable,
            str(ROOT / "bench" / "raw_httpx.py"),
            base_url,
            str(jobs),
            str(concurrency),
            str(out),
            "--tag",
            tag,
        ]
    )


def naive(base_url: str, jobs: int, variant: str, out: Path) -> dict[str, Any]:
    return run_json(
        [
            sys.executable,
            str(ROOT / "bench" / "naive_script.py"),
            base_url,
            str(jobs),
            variant,
            str(out),
            API_KEY,
        ]
    )


def shared_home() -> Path:
    """One PREFECT_HOME for every prefect-oxen run of a benchmark session (migrated once)."""
    home = Path(
        os.environ.get("BENCH_PREFECT_HOME") or tempfile.mkdtemp(prefix="bench-prefect-home-")
    )
    os.environ["BENCH_PREFECT_HOME"] = str(home)
    return home


def max_unfinished(log: list[dict[str, Any]]) -> int:
    """The most generations unfinished (queued or running) at any moment, from the emulator's log."""
    changes = sorted(
        [(g["enqueued_at"], 1) for g in log]
        + [(g["completed_at"], -1) for g in log if g.get("completed_at")],
        key=lambda change: (change[0], change[1]),
    )  # at a tie, a finish counts before a start
    peak = current = 0
    for _, step in changes:
        current += step
        peak = max(peak, current)
    return peak


def unfinished_timeline(log: list[dict[str, Any]], start: float) -> list[int]:
    """Generations unfinished on the API at each whole second after `start` (the emulator's log)."""
    end = max(g["completed_at"] or g["enqueued_at"] for g in log)
    return [
        sum(
            1
            for g in log
            if g["enqueued_at"] <= start + second < (g["completed_at"] or float("inf"))
        )
        for second in range(int(end - start) + 1)
    ]
