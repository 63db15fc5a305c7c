"""R2: a batch process killed with SIGKILL, twice at different moments, is finished by a re-run
without paying for anything twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from prefect.settings import PREFECT_API_URL

from prefect_oxen.flows import batch_flow
from tests.support import wait_for

from ..conftest import API_KEY
from .helpers import items, journal_states, local_path, report_of, sha256_of

CHILD = Path(__file__).with_name("batch_child.py")
N = 12


def _run_and_kill(
    emulator, archive: Path, batch: list[dict], condition, what: str
) -> dict[str, str]:
    """Start a batch child, SIGKILL its process group as soon as `condition(states)` holds."""
    journal = archive / ".oxen-journal.jsonl"
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
    child = subprocess.Popen(
        [
            sys.executable,
            str(CHILD),
            emulator.base_url,
            API_KEY,
            str(archive),
            json.dumps(batch),
            "4",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(
            lambda: condition(journal_states(journal)) or child.poll() is not None,
            timeout=120,
            what=what,
            interval=0.005,
        )
        assert child.poll() is None, f"the batch finished (exit {child.returncode}) before: {what}"
        os.killpg(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    return journal_states(journal)


def _during_submission(states: dict[str, str]) -> bool:
    # Paid requests are being sent and nothing has finished generating yet.
    values = list(states.values())
    return "submitting" in values and "archived" not in values


def _during_downloads(states: dict[str, str]) -> bool:
    # Some videos are archived while paid generations are still on their way (generating or
    # being fetched: queued work is journaled "enqueued" until it is archived).
    values = list(states.values())
    return "archived" in values and "enqueued" in values and values.count("archived") < N


async def test_a_batch_killed_during_submission_and_during_downloads_pays_once(
    credentials, emulator, workdir: Path, unique: str
) -> None:
    batch = items(N, f"R2 {unique}")
    archive = workdir / "archive"

    # First life: long generations, killed while submissions are going out.
    emulator.configure(latency=1.0)
    first = _run_and_kill(emulator, archive, batch, _during_submission, "a submission in flight")
    assert "submitting" in first.values() and "archived" not in first.values()

    # Second life: short generations, killed while finished videos are being downloaded.
    emulator.configure(latency=0.3)
    second = _run_and_kill(emulator, archive, batch, _during_downloads, "downloads in progress")
    assert "enqueued" in second.values() and 0 < list(second.values()).count("archived") < N

    # Third life, to the end.
    state = await batch_flow(
        batch,
        credentials,
        archive=str(archive),
        concurrency=4,
        mode="queue",
        concurrency_limit=None,
        return_state=True,
    )
    assert state.is_completed(), state.message
    report = await report_of(state)
    assert len(report.items) == N
    assert {item.status for item in report.items} <= {"archived", "skipped"}
    assert report.count("skipped") >= 1  # the second life's archived videos were kept, not redone

    log = emulator.generations()
    billed = [g for g in log if g["billed"]]
    assert emulator.stats()["billed_generations"] == N
    assert Counter(g["request"]["prompt"] for g in billed) == Counter(
        item["prompt"] for item in batch
    )
    by_prompt = {g["request"]["prompt"]: g for g in billed}
    for item, request in zip(
        sorted(report.items, key=lambda i: i.key), sorted(batch, key=lambda i: i["id"]), strict=True
    ):
        assert sha256_of(local_path(item.archive_uri)) == by_prompt[request["prompt"]]["sha256"], (
            item.key
        )
    # No generation was left running or abandoned in the queue.
    assert not [g for g in log if g["status"] in ("queued", "processing")]
