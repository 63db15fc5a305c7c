"""batch_flow at its defaults: the API kept busy within every bound, overlapping runs paying once,
and progress told as it happens."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.exceptions import ObjectNotFound

from prefect_oxen.engine import watching_items
from prefect_oxen.flows import batch_flow
from prefect_oxen.tasks import GenerationJournal
from tests.support import FAST

from .reports import report_of


def _items(n: int, tag: str) -> list[dict]:
    return [
        {"id": f"p{i:03d}", "model": FAST, "prompt": f"{tag} {i}", "duration": 1} for i in range(n)
    ]


def _max_unfinished(generations: list[dict]) -> int:
    """The most generations queued or running at once, from the API's (emulator's) own log."""
    changes = sorted(
        [(g["enqueued_at"], 1) for g in generations]
        + [(g["completed_at"], -1) for g in generations]
    )
    peak = current = 0
    for _, step in changes:
        current += step
        peak = max(peak, current)
    return peak


async def test_the_run_keeps_no_more_than_its_bound_unfinished_on_the_api(
    credentials, emulator, workdir: Path, unique: str
) -> None:
    emulator.configure(latency=0.3, concurrency=16)
    state = await batch_flow(
        _items(12, unique),
        credentials,
        archive=str(workdir / "archive"),
        concurrency=3,
        return_state=True,
    )
    report = await report_of(state)
    assert report.count("archived") == 12
    assert _max_unfinished(emulator.generations()) == 3  # reached, never passed


async def test_the_global_limit_bounds_two_runs_together_and_is_given_back(
    credentials, emulator, workdir: Path, unique: str
) -> None:
    emulator.configure(latency=0.3, concurrency=16)
    name = f"oxen-test-{uuid.uuid4().hex[:8]}"
    async with get_client() as client:
        await client.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(name=name, limit=3)
        )

    runs = await asyncio.gather(
        *(
            batch_flow(
                _items(6, f"{unique} {side}"),
                credentials,
                archive=str(workdir / side),
                concurrency_limit=name,
                return_state=True,
            )
            for side in ("left", "right")
        )
    )

    for state in runs:
        assert (await report_of(state)).count("archived") == 6
    assert emulator.stats()["billed_generations"] == 12
    assert _max_unfinished(emulator.generations()) <= 3
    async with get_client() as client:
        limit = await client.read_global_concurrency_limit_by_name(name)
    assert limit.active_slots == 0  # every lease went back


async def test_a_missing_global_limit_is_honoured_if_created_and_never_created_unasked(
    credentials, emulator, workdir: Path, unique: str
) -> None:
    name = f"oxen-test-{uuid.uuid4().hex[:8]}"
    state = await batch_flow(
        _items(2, unique),
        credentials,
        archive=str(workdir / "archive"),
        concurrency_limit=name,
        return_state=True,
    )
    assert state.is_completed()
    async with get_client() as client:
        try:
            await client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            pass
        else:
            raise AssertionError(f"batch_flow created the limit {name!r} though nobody asked")


async def test_two_overlapping_runs_of_one_batch_pay_once_per_item(
    credentials, emulator, workdir: Path, unique: str
) -> None:
    emulator.configure(latency=0.3, concurrency=16)
    items = _items(8, unique)
    archive = workdir / "archive"

    first, second = await asyncio.gather(
        *(batch_flow(items, credentials, archive=str(archive), return_state=True) for _ in range(2))
    )

    reports = [await report_of(first), await report_of(second)]
    assert emulator.stats()["billed_generations"] == 8
    for key in (item["id"] for item in items):
        statuses = sorted(
            next(i.status for i in report.items if i.key == key) for report in reports
        )
        assert statuses == ["archived", "skipped"], (key, statuses)
    assert len(list(archive.rglob("*.mp4"))) == 8
    journal = GenerationJournal(archive / ".oxen-journal.jsonl")
    assert all(len(entry.generation_ids) == 1 for entry in journal.latest().values())


async def test_progress_is_announced_as_items_end_not_at_the_end(
    credentials, emulator, workdir: Path, unique: str
) -> None:
    emulator.configure(latency=0.2, concurrency=1)  # items end one after another
    unfinished_at_each: list[int] = []

    def on_item(_event) -> None:
        unfinished_at_each.append(
            sum(1 for g in emulator.generations() if g["status"] in ("queued", "processing"))
        )

    with watching_items(on_item):
        state = await batch_flow(
            _items(4, unique), credentials, archive=str(workdir / "archive"), return_state=True
        )

    assert state.is_completed()
    assert len(unfinished_at_each) == 4
    assert unfinished_at_each[0] > 0  # told while the API still had work of this batch


async def test_the_per_item_deadline_counts_from_when_the_api_starts_the_generation(
    credentials, emulator, workdir: Path, unique: str
) -> None:
    # One API slot, 0.5 s each: the fifth item waits 2 s in the queue behind its own batch,
    # longer than the 1.5 s it is given to run.
    emulator.configure(latency=0.5, concurrency=1)
    state = await batch_flow(
        _items(5, unique),
        credentials,
        archive=str(workdir / "archive"),
        timeout_per_item=1.5,
        return_state=True,
    )
    report = await report_of(state)
    assert report.count("archived") == 5, [(i.key, i.error) for i in report.items]
    assert emulator.stats()["billed_generations"] == 5
