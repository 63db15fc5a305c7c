"""Two task workers (`deployments/task_workers.py`) share the generate calls of one fan-out."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ..conftest import API_KEY
from .processes import BIN, REPO, background, run, wait_for

pytestmark = pytest.mark.slow

RECEIVED = re.compile(r"Received task run: ([0-9a-f-]{36})")


def test_two_task_workers_share_a_batch(prefect_server, emulator, tmp_path: Path, request) -> None:
    emulator.configure(latency=1.0)  # long enough that one worker (2 slots) cannot take them all
    python = str(BIN / "python")
    cwd = REPO / "deployments"
    requests = [
        {
            "id": f"clip-{i}",
            "model": "oxen-emu-fast-video",
            "prompt": f"clip {i} {request.node.name}",
            "duration": 1,
        }
        for i in range(8)
    ]
    batch = tmp_path / "requests.jsonl"
    batch.write_text("".join(json.dumps(r) + "\n" for r in requests))
    # Only the workers hold the key; the submitter sends the base URL alone.
    worker_env = prefect_server.env(OXEN_API_KEY=API_KEY)
    with (
        background(
            [python, "task_workers.py", "2"], env=worker_env, cwd=cwd, log=tmp_path / "w1.log"
        ) as one,
        background(
            [python, "task_workers.py", "2"], env=worker_env, cwd=cwd, log=tmp_path / "w2.log"
        ) as two,
    ):
        wait_for(
            lambda: all("Subscribing to runs" in w.output() for w in (one, two)),
            timeout=90,
            what="both task workers to subscribe",
        )
        done = run(
            [python, "task_workers.py", "fan-out", str(batch)],
            env=prefect_server.env(OXEN_BASE_URL=emulator.base_url),
            cwd=cwd,
            timeout=240,
        )
        logs = [one.output(), two.output()]

    results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert [r["key"] for r in results] == [r["id"] for r in requests]
    billed = {g["id"] for g in emulator.generations() if g["billed"]}
    assert {r["generation_id"] for r in results} == billed and len(billed) == len(requests)

    received = [set(RECEIVED.findall(log)) for log in logs]
    assert all(received), f"a worker took no work: {[len(r) for r in received]}"
    assert not received[0] & received[1]
    assert len(received[0] | received[1]) == len(requests)
    assert API_KEY not in done.stdout + done.stderr
