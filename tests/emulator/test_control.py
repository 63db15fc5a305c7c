"""Emulator-only routes, run-time config, server lifecycle, persistence, CLI and isolation."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from prefect_oxen.emulator import EmulatorConfig, EmulatorServer, FaultConfig, running_emulator
from tests.emulator.conftest import AUTH, configure, enqueue, stats, wait_terminal
from tests.support import FAST, KLING, wait_for

ROOT = Path(__file__).resolve().parents[2]


def test_stats_count_requests_by_route_template(client: httpx.Client) -> None:
    [gid] = enqueue(client, model=FAST, prompt="x", duration=1)
    wait_terminal(client, gid)
    client.get("/api/ai/queue/not-there")
    s = stats(client)
    assert s["requests"]["POST /api/ai/queue"] == 1
    assert s["requests"]["GET /api/ai/queue/{generation_id}"] >= 2
    assert s["billed_generations"] == 1
    assert s["billed_cost_usd"] == pytest.approx(0.01)
    assert s["generations_by_status"] == {
        "queued": 0,
        "processing": 0,
        "succeeded": 1,
        "failed": 0,
        "cancelled": 0,
    }
    assert set(s["faults_injected"]) >= {
        "rate_limit",
        "server_error",
        "unavailable",
        "connection_reset",
        "truncated_download",
        "slow_body",
        "expired_url",
        "generation_failure",
    }
    assert s["in_flight"] == 0
    assert s["bytes_served"] == 0


def test_reset_zeroes_counters_and_optionally_forgets(client: httpx.Client) -> None:
    [gid] = enqueue(client, model=FAST, prompt="x", duration=1)
    wait_terminal(client, gid)
    assert client.post("/_emulator/reset").status_code == 200
    s = stats(client)
    assert (s["billed_generations"], s["billed_cost_usd"]) == (0, 0)
    assert s["requests"] == {}
    assert client.get(f"/api/ai/queue/{gid}").status_code == 200
    client.post("/_emulator/reset", params={"generations": "true"})
    assert client.get(f"/api/ai/queue/{gid}").status_code == 404
    assert client.get("/_emulator/generations").json() == {"count": 0, "generations": []}


def test_generation_log(client: httpx.Client) -> None:
    client.post(
        "/api/ai/videos/generate", json={"model": FAST, "prompt": "s", "duration": 2, "seed": 5}
    )
    [gid] = enqueue(client, model=KLING, prompt="q", duration=3)
    wait_terminal(client, gid)
    log = client.get("/_emulator/generations").json()
    assert log["count"] == 2
    sync, queued = log["generations"]
    assert sync["source"] == "sync"
    assert sync["request"] == {"model": FAST, "prompt": "s", "duration": 2, "seed": 5}
    assert (sync["status"], sync["billed"], sync["cost"]) == ("succeeded", True, 0.02)
    assert len(sync["sha256"]) == 64 and sync["size"] > 0
    assert (queued["id"], queued["status"], queued["billed"], queued["sha256"]) == (
        gid,
        "failed",
        False,
        None,
    )


def test_patch_config(client: httpx.Client) -> None:
    body = configure(client, faults={"rate_limit": 0.5}, latency=0.25)
    assert body["latency"] == 0.25
    body = configure(client, faults={"server_error": 0.1})
    assert (body["faults"]["rate_limit"], body["faults"]["server_error"]) == (0.5, 0.1)
    assert client.get("/_emulator/config").json() == body
    for bad in (
        {"seed": 3},
        {"port": 1},
        {"faults": {"rate_limit": 2}},
        {"nonsense": 1},
        {"concurrency": 0},
    ):
        response = client.patch("/_emulator/config", json=bad)
        assert response.status_code == 422, bad
        assert response.json()["error"]["type"] == "invalid_params"


def test_convenience_methods_match_the_routes(
    reset_emulator: EmulatorServer, client: httpx.Client
) -> None:
    client.post("/api/ai/videos/generate", json={"model": FAST, "prompt": "x", "duration": 1})
    over_http = client.get("/_emulator/stats").json()
    direct = reset_emulator.stats()
    for key in (
        "billed_generations",
        "billed_cost_usd",
        "generations_by_status",
        "faults_injected",
    ):
        assert direct[key] == over_http[key]
    assert (
        reset_emulator.generations() == client.get("/_emulator/generations").json()["generations"]
    )
    assert reset_emulator.configure(latency=0.5).latency == 0.5
    assert reset_emulator.config.latency == 0.5
    reset_emulator.reset(generations=True)
    assert reset_emulator.generations() == []


def _threads() -> set[str]:
    return {t.name for t in threading.enumerate() if t.name.startswith("oxen-emulator")}


def test_start_stop_is_fast_and_clean_even_with_open_streams() -> None:
    before = _threads()
    started = time.monotonic()
    server = EmulatorServer(EmulatorConfig(latency=30, concurrency=1)).start()
    assert time.monotonic() - started < 1.0
    port = server.port
    with socket.create_connection(("127.0.0.1", port), timeout=1):
        pass

    async def hold_stream_and_stop() -> float:
        async with (
            httpx.AsyncClient(base_url=server.base_url, headers=AUTH) as http,
            http.stream("GET", "/api/events") as response,
        ):
            assert response.status_code == 200
            with httpx.Client(base_url=server.base_url, headers=AUTH) as sync:
                enqueue(sync, model=FAST, prompt="busy", duration=1)  # keeps a slot busy
            t0 = time.monotonic()
            await asyncio.to_thread(server.stop)
            elapsed = time.monotonic() - t0
            lines = [line async for line in response.aiter_lines()]  # the stream has ended
            assert lines[-1:] in ([""], [])
            return elapsed

    elapsed = asyncio.run(hold_stream_and_stop())
    # Below uvicorn's 2 s graceful-shutdown timeout: the stream ended, it was not killed.
    assert elapsed < 1.5
    assert _threads() == before
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    # Restartable, on a fresh port.
    with server:
        assert httpx.get(server.base_url + "/_emulator/stats").status_code == 200


def test_running_emulator_maps_keyword_arguments() -> None:
    with running_emulator(latency=0.5, faults={"server_error": 0.05}, seed=3) as emu:
        assert emu.config.latency == 0.5
        assert emu.config.faults == FaultConfig(server_error=0.05)
        assert emu.config.seed == 3
        assert emu.base_url.startswith("http://127.0.0.1:")


def test_state_dir_survives_a_restart(tmp_path: Path) -> None:
    config = EmulatorConfig(state_dir=tmp_path, concurrency=1)
    with (
        EmulatorServer(config) as first,
        httpx.Client(base_url=first.base_url, headers=AUTH) as http,
    ):
        [done] = enqueue(http, model=FAST, prompt="done", duration=2)
        old_url = wait_terminal(http, done)["result_url"]
        video = httpx.get(old_url).content
        http.patch("/_emulator/config", json={"latency": 60})
        running, waiting = enqueue(http, model=FAST, prompt="later", duration=1, num_generations=2)
        wait_for(lambda: http.get(f"/api/ai/queue/{running}").json()["status"] == "processing")
    with (
        EmulatorServer(config) as second,
        httpx.Client(base_url=second.base_url, headers=AUTH) as http,
    ):
        row = http.get(f"/api/ai/queue/{done}").json()
        assert row["status"] == "succeeded"
        assert httpx.get(row["result_url"]).content == video
        # The URL handed out by the first process still verifies (same seed, same key).
        path_and_query = old_url.split("/", 3)[3]
        assert httpx.get(f"{second.base_url}/{path_and_query}").content == video
        for gid in (running, waiting):
            assert wait_terminal(http, gid)["status"] == "succeeded"
        log = http.get("/_emulator/generations").json()["generations"]
        assert [g["id"] for g in log] == [done, running, waiting]
        [fresh] = enqueue(http, model=FAST, prompt="new", duration=1)
        assert fresh not in (done, running, waiting)


def test_python_dash_m_serves_until_interrupted() -> None:
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        port = probe_socket.getsockname()[1]
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "prefect_oxen.emulator",
            "--port",
            str(port),
            "--latency",
            "0",
            "--rate-limit",
            "0.0",
            "--seed",
            "5",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:

        def up() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/_emulator/config").json()["seed"] == 5
            except httpx.TransportError:
                return False

        wait_for(up, timeout=20, interval=0.1)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=20)
        assert process.returncode == 0, stderr
        assert b"Traceback" not in stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_cli_command_exposes_every_fault_flag() -> None:
    import typer
    from typer.testing import CliRunner

    from prefect_oxen.emulator._cli import emulator_command

    app = typer.Typer()
    app.command()(emulator_command)
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    scoping = {"routes": "--fault-route", "limit": "--fault-limit"}
    for name in FaultConfig.model_fields:
        flag = scoping.get(name, f"--{name.replace('_', '-')}")
        assert flag in result.output, name
    for flag in (
        "--port",
        "--host",
        "--latency",
        "--concurrency",
        "--seed",
        "--url-ttl",
        "--state-dir",
    ):
        assert flag in result.output


def test_the_emulator_imports_neither_the_client_nor_prefect() -> None:
    code = (
        "import sys, prefect_oxen.emulator; prefect_oxen.emulator.main;"
        "bad = [m for m in sys.modules if m == 'prefect' or m.startswith('prefect.')"
        " or (m.startswith('prefect_oxen.') and not m.startswith('prefect_oxen.emulator'))];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    sources = (ROOT / "prefect_oxen" / "emulator").glob("*.py")
    for source in sources:
        for line in source.read_text().splitlines():
            if line.startswith(("import ", "from ")) and "prefect" in line:
                assert line.startswith(
                    ("from prefect_oxen.emulator", "import prefect_oxen.emulator")
                ), line


def test_only_the_emulator_imports_its_extra() -> None:
    """Starlette and uvicorn come with the `emulator` extra: no other package imports them."""
    extra = tuple(
        f"{verb} {name}" for verb in ("import", "from") for name in ("starlette", "uvicorn")
    )
    package = ROOT / "prefect_oxen"
    for source in package.rglob("*.py"):
        if source.relative_to(package).parts[0] != "emulator":
            for line in source.read_text().splitlines():
                assert not line.strip().startswith(extra), f"{source}: {line}"


def test_generation_ids_and_latency_jitter_replay_from_the_seed() -> None:
    def run() -> tuple[list[str], list[float]]:
        config = EmulatorConfig(seed=7, latency=0.2, latency_jitter=0.15)
        with (
            EmulatorServer(config) as emu,
            httpx.Client(base_url=emu.base_url, headers=AUTH) as http,
        ):
            ids = enqueue(http, model=FAST, prompt="j", duration=1, num_generations=4)
            for gid in ids:
                wait_terminal(http, gid)
            log = emu.generations()
        return ids, [g["completed_at"] - g["started_at"] for g in log]

    first_ids, durations = run()
    second_ids, _ = run()
    assert first_ids == second_ids
    assert min(durations) >= 0.05  # latency - jitter
    assert max(durations) - min(durations) >= 0.03  # the jitter really varies the latency
