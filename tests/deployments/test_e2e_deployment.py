"""End to end: `prefect server start`, a process work pool, `prefect deploy --all` from
deployments/prefect.yaml, a process worker, and a deployment run against the emulator."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from ..conftest import API_KEY
from .processes import BIN, REPO, background, run, wait_for

pytestmark = pytest.mark.slow

TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def test_on_demand_deployment_runs_on_a_process_worker(
    prefect_server, emulator, tmp_path: Path
) -> None:
    # Blocks and deployments are created through the same commands a user types.
    run(
        [str(BIN / "prefect-oxen"), "blocks", "create", "--name", "oxen"],
        env=prefect_server.env(OXEN_API_KEY=API_KEY, OXEN_BASE_URL=emulator.base_url),
        cwd=tmp_path,
    )
    run(
        [str(BIN / "prefect"), "work-pool", "create", "oxen-process", "--type", "process"],
        env=prefect_server.env(),
    )
    deployed = run(
        [str(BIN / "prefect"), "--no-prompt", "deploy", "--all"],
        env=prefect_server.env(),
        cwd=REPO / "deployments",
    )
    assert "nightly-batch" in deployed.stdout and "generate-video" in deployed.stdout

    api = httpx.Client(base_url=prefect_server.api_url, timeout=10)
    nightly = api.get("/deployments/name/oxen-batch/nightly-batch").raise_for_status().json()
    on_demand = (
        api.get("/deployments/name/oxen-generate-video/generate-video").raise_for_status().json()
    )
    for deployment in (nightly, on_demand):
        assert API_KEY not in json.dumps(deployment)

    # The server's scheduler (absent from the ephemeral server) books the nightly runs at 02:30 London.
    def scheduled() -> list[dict]:
        body = {
            "flow_runs": {
                "deployment_id": {"any_": [nightly["id"]]},
                "state": {"type": {"any_": ["SCHEDULED"]}},
            }
        }
        return api.post("/flow_runs/filter", json=body).raise_for_status().json()

    runs = wait_for(scheduled, timeout=60, what="scheduled nightly runs")
    for flow_run in runs:
        local = datetime.fromisoformat(
            flow_run["expected_start_time"].replace("Z", "+00:00")
        ).astimezone(ZoneInfo("Europe/London"))
        assert (local.hour, local.minute) == (2, 30)

    # The worker gets no Oxen key: the flow run loads it from the saved block.
    worker_env = prefect_server.env(
        PREFECT_WORKER_QUERY_SECONDS="1", PREFECT_WORKER_PREFETCH_SECONDS="5"
    )
    archive = tmp_path / "archive"
    request = {
        "model": "oxen-emu-fast-video",
        "prompt": "a fox crossing a frozen river",
        "duration": 2,
    }
    with background(
        [str(BIN / "prefect"), "worker", "start", "--pool", "oxen-process"],
        env=worker_env,
        log=tmp_path / "worker.log",
    ) as worker:
        created = (
            api.post(
                f"/deployments/{on_demand['id']}/create_flow_run",
                json={
                    "parameters": {"request": request, "archive": str(archive), "key": "e2e-fox"}
                },
            )
            .raise_for_status()
            .json()
        )

        def finished() -> dict | None:
            flow_run = api.get(f"/flow_runs/{created['id']}").raise_for_status().json()
            return flow_run if flow_run["state_type"] in TERMINAL else None

        flow_run = wait_for(
            finished,
            timeout=240,
            what=f"flow run {created['id']} to finish\n{worker.output()[-3000:]}",
            interval=0.5,
        )
        log = worker.output()
    assert flow_run["state_type"] == "COMPLETED", log[-4000:]
    assert API_KEY not in log

    [video] = archive.rglob("e2e-fox.mp4")
    manifest = json.loads(video.with_suffix(".json").read_text())
    assert manifest["request"]["prompt"] == request["prompt"]
    [generation] = emulator.generations()
    assert generation["request"]["prompt"] == request["prompt"] and generation["billed"]
