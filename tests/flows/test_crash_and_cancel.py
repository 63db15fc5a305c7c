"""A batch killed mid-way is finished by the next run without paying twice; a cancelled run
cancels the generations it left running."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

from prefect.settings import PREFECT_API_URL

from prefect_oxen.client import OxenClient, VideoRequest
from prefect_oxen.engine import cancel_remote_generations
from prefect_oxen.flows import batch_flow
from prefect_oxen.tasks import GenerationJournal, JournalEntry
from tests.support import FAST, wait_for

from ..conftest import API_KEY
from .reports import report_of

CHILD = Path(__file__).with_name("batch_child.py")


def _states(journal: Path) -> dict[str, str]:
    return {
        identity: entry.state for identity, entry in GenerationJournal(journal).latest().items()
    }


async def test_a_batch_killed_mid_way_is_completed_by_the_next_run(
    credentials, emulator, workdir: Path, unique: str
) -> None:
    emulator.configure(latency=0.5, concurrency=16)
    items = [
        {"id": f"k{i:02d}", "model": FAST, "prompt": f"killed {unique} {i}", "duration": 1}
        for i in range(12)
    ]
    archive = workdir / "archive"
    journal = archive / ".oxen-journal.jsonl"
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
    child = subprocess.Popen(
        [sys.executable, str(CHILD), emulator.base_url, API_KEY, str(archive), json.dumps(items)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        # Kill it while some generations are paid for and in flight, and before all are archived.
        wait_for(
            lambda: child.poll() is None and list(_states(journal).values()).count("enqueued") >= 2,
            timeout=120,
            what="the child to have generations in flight",
        )
        os.killpg(child.pid, signal.SIGKILL)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    before = _states(journal)
    assert "enqueued" in before.values() and list(before.values()).count("archived") < 12

    state = await batch_flow(
        items,
        credentials,
        archive=str(archive),
        concurrency=4,
        concurrency_limit=None,
        return_state=True,
    )
    assert state.is_completed(), state.message
    report = await report_of(state)
    assert {item.status for item in report.items} <= {"archived", "skipped"}
    assert len(report.items) == 12
    assert emulator.stats()["billed_generations"] == 12
    assert len({g["id"] for g in emulator.generations() if g.get("billed")}) == 12
    assert any(item.reattached for item in report.items) or report.count("skipped") > 0


def test_the_cancellation_hook_cancels_what_the_run_left_running(
    credentials, emulator, workdir: Path
) -> None:
    emulator.configure(latency=60)
    archive = workdir / "archive"
    journal = GenerationJournal(archive / ".oxen-journal.jsonl")
    with OxenClient(api_key=API_KEY, base_url=emulator.base_url) as oxen:
        mine = [
            oxen.enqueue(VideoRequest(model=FAST, prompt=f"mine {i}", duration=1))[0]
            for i in range(3)
        ]
        other = oxen.enqueue(VideoRequest(model=FAST, prompt="another run's", duration=1))[0]
    for i, generation in enumerate(mine):
        journal.record(
            JournalEntry(
                identity=f"mine-{i}",
                state="enqueued",
                mode="queue",
                generation_ids=[generation.generation_id],
                detail={"flow_run_id": "run-1"},
            )
        )
    journal.record(
        JournalEntry(
            identity="other",
            state="enqueued",
            mode="queue",
            generation_ids=[other.generation_id],
            detail={"flow_run_id": "run-2"},
        )
    )

    flow_run = SimpleNamespace(
        id="run-1", parameters={"archive": str(archive), "credentials": credentials}
    )
    cancel_remote_generations(None, flow_run, SimpleNamespace(name="Cancelling"))

    status = {g["id"]: g["status"] for g in emulator.generations()}
    assert all(status[g.generation_id] == "cancelled" for g in mine)
    assert status[other.generation_id] != "cancelled"
    assert emulator.stats()["billed_generations"] == 0
    states = _states(archive / ".oxen-journal.jsonl")
    assert [states[f"mine-{i}"] for i in range(3)] == ["failed"] * 3 and states[
        "other"
    ] == "enqueued"
    with OxenClient(api_key=API_KEY, base_url=emulator.base_url) as oxen:
        oxen.cancel_generation(other.generation_id)


async def test_a_batch_stopped_in_its_process_reports_every_item_and_what_it_cost(
    credentials, emulator, workdir: Path, unique: str
) -> None:
    """Ctrl-C in a terminal (the flow run's coroutine cancelled): the run's report says which
    items were already archived and which were cancelled unbilled, instead of a run with no
    report."""
    import asyncio
    import contextlib
    import uuid

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    items = [
        {"id": f"v{i}", "model": FAST, "prompt": f"{unique} {i}", "duration": 1} for i in range(3)
    ]
    archive = workdir / "archive"
    await batch_flow(items[:1], credentials, archive=str(archive), concurrency_limit=None)
    emulator.configure(latency=60)  # the other two stay on the API until cancelled
    name = f"stopped-{uuid.uuid4().hex[:8]}"
    run = asyncio.create_task(
        batch_flow.with_options(flow_run_name=name)(
            items, credentials, archive=str(archive), concurrency_limit=None
        )
    )
    await asyncio.to_thread(
        wait_for,
        lambda: sum(g["status"] in ("queued", "processing") for g in emulator.generations()) == 2,
        timeout=120,
        what="two generations on the API",
    )
    run.cancel()  # what Ctrl-C does to the coroutine of a flow run in a terminal
    with contextlib.suppress(asyncio.CancelledError, BaseException):
        await run

    async with get_client() as client:
        [flow_run] = [r for r in await client.read_flow_runs() if r.name == name]
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run.id]))
        )
    [report] = [a for a in artifacts if a.key == "oxen-batch-report"]
    status = {row["id"]: row["status"] for row in report.data}  # type: ignore[union-attr]
    assert status == {"v0": "skipped", "v1": "cancelled", "v2": "cancelled"}
    assert "1 skipped, 2 cancelled" in (report.description or "")
    assert "paid $0.00 this run" in (report.description or "")
    assert emulator.stats()["billed_generations"] == 1
    # A stop is not a crash: the run reads Cancelled and says what the stop did.
    async with get_client() as client:
        final = (await client.read_flow_run(flow_run.id)).state
    assert final is not None and final.is_cancelled()
    assert (final.message or "").startswith(
        "Batch cancelled: 2 unfinished item(s) cancelled, 1 already archived"
    )
