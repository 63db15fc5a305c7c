"""R5: cancelling a running deployment run cancels its remote generations (not billed)."""

from __future__ import annotations

import contextlib
import inspect
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

from prefect.client.orchestration import get_client
from prefect.deployments import run_deployment
from prefect.settings import PREFECT_API_URL
from prefect.states import Cancelling

from prefect_oxen import OxenCredentials
from prefect_oxen.client import OxenClient, RetryPolicy, VideoRequest
from prefect_oxen.engine import cancel_remote_generations
from prefect_oxen.tasks import GenerationJournal, JournalEntry
from tests.support import FAST, wait_for

from ..conftest import FAST_POLL
from .helpers import journal_states

SERVE = Path(__file__).with_name("serve_child.py")


def _enqueued_ids(journal: Path) -> list[str]:
    from prefect_oxen.tasks import GenerationJournal

    latest = GenerationJournal(journal).latest().values()
    return [gid for entry in latest if entry.state == "enqueued" for gid in entry.generation_ids]


async def _flow_run(flow_run_id):
    async with get_client() as client:
        return await client.read_flow_run(flow_run_id)


def _kill_pid(text: str | None) -> None:
    pid = text.rsplit(":", 1)[-1] if text else ""
    if pid.isdigit():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(int(pid), signal.SIGKILL)


async def test_cancelling_a_deployment_run_cancels_its_generations(
    api_key, emulator, workdir: Path, unique: str
) -> None:
    emulator.configure(latency=60)  # generations stay in flight until cancelled
    name = f"r5-{uuid.uuid4().hex[:8]}"
    archive = workdir / "archive"
    journal = archive / ".oxen-journal.jsonl"
    items = [
        {"id": f"c{i}", "model": FAST, "prompt": f"R5 {unique} {i}", "duration": 1}
        for i in range(4)
    ]

    # The worker's environment holds the Oxen credentials (the flow and its hook read them there).
    env = {
        **os.environ,
        "PREFECT_API_URL": PREFECT_API_URL.value(),
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
        "OXEN_API_KEY": api_key,
        "OXEN_BASE_URL": emulator.base_url,
    }
    runner = subprocess.Popen(
        [sys.executable, str(SERVE), name],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    flow_run = None
    try:
        async with get_client() as client:

            async def deployment_exists():
                with contextlib.suppress(Exception):
                    return await client.read_deployment_by_name(f"oxen-batch/{name}")
                return None

            deadline = 90
            start = time.monotonic()
            while not await deployment_exists():
                assert runner.poll() is None, "the runner died"
                assert time.monotonic() - start < deadline, "the deployment never appeared"
                await _sleep_a_tick()

        flow_run = await run_deployment(
            f"oxen-batch/{name}",
            timeout=0,
            parameters={
                "items": items,
                "archive": str(archive),
                "concurrency": 4,
                "mode": "queue",
                "concurrency_limit": None,
            },
        )
        await _wait_async(
            lambda: len(_enqueued_ids(journal)) == len(items) or None,
            120,
            "all generations enqueued",
            runner,
        )
        ids = _enqueued_ids(journal)
        status = {g["id"]: g["status"] for g in emulator.generations()}
        assert {status[i] for i in ids} <= {"queued", "processing"}

        async with get_client() as client:
            await client.set_flow_run_state(flow_run.id, Cancelling(), force=True)

        async def cancelled():
            run = await _flow_run(flow_run.id)
            return run.state is not None and run.state.is_cancelled()

        await _wait_async(cancelled, 120, "the flow run to be Cancelled", runner)
        wait_for(
            lambda: all(
                g["status"] == "cancelled" for g in emulator.generations() if g["id"] in ids
            ),
            timeout=30,
            what="the generations to be cancelled remotely",
        )
        log = {g["id"]: g for g in emulator.generations()}
        assert {log[i]["status"] for i in ids} == {"cancelled"}
        assert not any(log[i]["billed"] for i in ids)
        assert emulator.stats()["billed_generations"] == 0
        assert emulator.stats()["requests"].get("DELETE /api/ai/queue/{generation_id}", 0) >= len(
            ids
        )
        assert set(journal_states(journal).values()) == {"failed"}  # a later run will not reattach
    finally:
        if flow_run is not None:
            with contextlib.suppress(Exception):
                _kill_pid((await _flow_run(flow_run.id)).infrastructure_pid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(runner.pid, signal.SIGKILL)
        runner.wait(timeout=30)


async def _sleep_a_tick() -> None:
    import anyio

    await anyio.sleep(0.2)


async def _wait_async(condition, timeout: float, what: str, runner) -> None:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return
        assert runner.poll() is None, f"the runner died while waiting for {what}"
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        await _sleep_a_tick()


def test_the_cancellation_hook_resolves_a_credentials_block_reference(
    api_key, emulator, workdir: Path, unique: str, monkeypatch
) -> None:
    monkeypatch.delenv("OXEN_API_KEY", raising=False)
    block = f"r5-{uuid.uuid4().hex[:8]}"
    OxenCredentials(
        api_key=api_key, base_url=emulator.base_url, retry=RetryPolicy.immediate(), poll=FAST_POLL
    ).save(block)
    emulator.configure(latency=60)
    archive = workdir / "archive"
    journal = GenerationJournal(archive / ".oxen-journal.jsonl")
    with OxenClient(api_key=api_key, base_url=emulator.base_url) as oxen:
        generation = oxen.enqueue(VideoRequest(model=FAST, prompt=f"R5 ref {unique}", duration=1))[
            0
        ]
    journal.record(
        JournalEntry(
            identity="one",
            state="enqueued",
            mode="queue",
            generation_ids=[generation.generation_id],
            detail={"flow_run_id": "run-ref"},
        )
    )
    # What the Runner passes to the hook of a deployment run whose credentials are a block $ref.
    parameters = {
        "credentials": {"$ref": {"block_document_slug": f"oxen-credentials/{block}"}},
        "archive": str(archive),
    }
    try:
        cancel_remote_generations(
            None,
            SimpleNamespace(id="run-ref", parameters=parameters),
            SimpleNamespace(name="Cancelling"),
        )
        assert {g["id"]: g["status"] for g in emulator.generations()}[
            generation.generation_id
        ] == "cancelled"
    finally:
        with OxenClient(api_key=api_key, base_url=emulator.base_url) as oxen:
            oxen.cancel_generation(generation.generation_id)


async def test_a_batch_runs_with_a_saved_credentials_block_loaded_by_name(
    api_key, emulator, workdir: Path, unique: str
) -> None:
    from prefect_oxen.flows import batch_flow

    from .helpers import report_of

    block = f"r5-{uuid.uuid4().hex[:8]}"
    await OxenCredentials(
        api_key=api_key, base_url=emulator.base_url, retry=RetryPolicy.immediate(), poll=FAST_POLL
    ).save(block)
    items = [{"id": "named", "model": FAST, "prompt": f"R5 named {unique}", "duration": 1}]
    # The parameter is the block itself (so the UI offers a block picker); a name is loaded first.
    credentials = await OxenCredentials.aload(block)
    state = await batch_flow(
        items,
        credentials,
        archive=str(workdir / "archive"),
        concurrency_limit=None,
        return_state=True,
    )
    assert state.is_completed(), state.message
    assert (await report_of(state)).count("archived") == 1
