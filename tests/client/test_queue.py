"""The async queue: enqueue, wait (events or polling), outcomes, deadlines and cancellation."""

from __future__ import annotations

import asyncio

import pytest

from prefect_oxen.client import (
    AsyncOxenClient,
    DeadlineExceeded,
    GenerationCancelled,
    GenerationFailed,
    GenerationStatus,
    PollPolicy,
    RequestValidationError,
    RetryPolicy,
    VideoRequest,
)
from tests.support import FAST

from ..conftest import API_KEY


async def test_enqueue_then_wait_returns_the_result_url(oxen: AsyncOxenClient, emulator) -> None:
    [generation] = await oxen.enqueue(VideoRequest(model=FAST, prompt="a fox", duration=2))
    assert generation.status in (GenerationStatus.QUEUED, GenerationStatus.PROCESSING)
    done = await oxen.wait_for_generation(generation.generation_id, timeout=30)
    assert done.status == GenerationStatus.SUCCEEDED
    assert done.result_url and done.result_url.startswith(emulator.base_url)


async def test_many_waits_share_one_event_stream(emulator) -> None:
    emulator.configure(latency=0.2, concurrency=8)
    poll = PollPolicy(initial=5, maximum=5, safety_interval=60)
    async with AsyncOxenClient(
        api_key=API_KEY, base_url=emulator.base_url, retry=RetryPolicy.immediate(), poll=poll
    ) as oxen:
        generations = []
        for i in range(20):
            generations += await oxen.enqueue(
                VideoRequest(model=FAST, prompt=f"shot {i}", duration=1)
            )
        done = await asyncio.gather(
            *(oxen.wait_for_generation(g.generation_id, timeout=30) for g in generations)
        )
        assert oxen.tracker.stream_connects == 1
    assert all(d.result_url for d in done)
    requests = emulator.stats()["requests"]
    # One event stream and 20 enqueues; no per-generation polling while events flow.
    assert requests.get("GET /api/events") == 1
    assert requests.get("GET /api/ai/queue/{generation_id}", 0) == 0


async def test_waiting_without_events_polls_until_done(emulator) -> None:
    emulator.configure(latency=0.2)
    poll = PollPolicy(initial=0.05, maximum=0.2, use_events=False)
    async with AsyncOxenClient(
        api_key=API_KEY, base_url=emulator.base_url, retry=RetryPolicy.immediate(), poll=poll
    ) as oxen:
        [generation] = await oxen.enqueue(VideoRequest(model=FAST, prompt="a fox", duration=1))
        done = await oxen.wait_for_generation(generation.generation_id, timeout=30)
    assert done.result_url
    assert "GET /api/events" not in emulator.stats()["requests"]


async def test_invalid_parameters_accepted_at_enqueue_fail_later(
    oxen: AsyncOxenClient, emulator
) -> None:
    # The documented quirk: the queue takes a bad duration, then fails the generation.
    [generation] = await oxen.enqueue(
        VideoRequest(model=FAST, prompt="a fox", duration=60), validate=False
    )
    with pytest.raises(GenerationFailed) as caught:
        await oxen.wait_for_generation(generation.generation_id, timeout=30)
    assert caught.value.generation_id == generation.generation_id
    assert "duration" in (caught.value.error_message or "")
    assert emulator.stats()["billed_generations"] == 0


async def test_generation_failure_is_typed(oxen: AsyncOxenClient, emulator) -> None:
    emulator.configure(faults={"generation_failure": 1.0})
    [generation] = await oxen.enqueue(VideoRequest(model=FAST, prompt="a fox", duration=1))
    with pytest.raises(GenerationFailed) as caught:
        await oxen.wait_for_generation(generation.generation_id, timeout=30)
    assert caught.value.error_message


async def test_cancelled_generation_ends_the_wait(oxen: AsyncOxenClient, emulator) -> None:
    emulator.configure(latency=30)
    [generation] = await oxen.enqueue(VideoRequest(model=FAST, prompt="a fox", duration=1))
    waiter = asyncio.create_task(oxen.wait_for_generation(generation.generation_id, timeout=60))
    await oxen.cancel_generation(generation.generation_id)
    with pytest.raises(GenerationCancelled):
        await waiter
    assert emulator.stats()["billed_generations"] == 0


async def test_start_deadline_reports_a_still_queued_generation(
    oxen: AsyncOxenClient, emulator
) -> None:
    emulator.configure(latency=30, concurrency=1)
    first, second = [
        (await oxen.enqueue(VideoRequest(model=FAST, prompt=p, duration=1)))[0]
        for p in ("first", "second")
    ]
    with pytest.raises(DeadlineExceeded) as caught:
        await oxen.wait_for_generation(second.generation_id, start_timeout=0.3, timeout=60)
    assert caught.value.stage == "start"
    assert caught.value.generation_id == second.generation_id
    row = await oxen.get_generation(second.generation_id)
    assert row.status == GenerationStatus.QUEUED  # kept, not abandoned: it can be collected later
    for g in (first, second):
        await oxen.cancel_generation(g.generation_id)


async def test_finish_deadline_keeps_the_generation_id(oxen: AsyncOxenClient, emulator) -> None:
    emulator.configure(latency=30)
    [generation] = await oxen.enqueue(VideoRequest(model=FAST, prompt="a fox", duration=1))
    with pytest.raises(DeadlineExceeded) as caught:
        await oxen.wait_for_generation(generation.generation_id, timeout=0.3)
    assert caught.value.stage == "finish"
    assert caught.value.generation_id == generation.generation_id
    await oxen.cancel_generation(generation.generation_id)


async def test_num_generations_is_checked_before_sending(oxen: AsyncOxenClient, emulator) -> None:
    for n in (0, 5):
        with pytest.raises(RequestValidationError) as caught:
            await oxen.enqueue(
                VideoRequest(model=FAST, prompt="a fox", duration=1), num_generations=n
            )
        assert "num_generations must be an integer between 1 and 4" in str(caught.value)
    assert emulator.api_requests() == 0


async def test_one_enqueue_can_queue_several_generations(oxen: AsyncOxenClient, emulator) -> None:
    generations = await oxen.enqueue(
        VideoRequest(model=FAST, prompt="a fox", duration=1), num_generations=3
    )
    assert len({g.generation_id for g in generations}) == 3
    done = await asyncio.gather(
        *(oxen.wait_for_generation(g.generation_id, timeout=30) for g in generations)
    )
    assert all(d.result_url for d in done)
    assert emulator.stats()["billed_generations"] == 3


async def test_list_queue_shows_active_rows_by_default(oxen: AsyncOxenClient, emulator) -> None:
    emulator.configure(latency=30)
    [generation] = await oxen.enqueue(VideoRequest(model=FAST, prompt="a fox", duration=1))
    active = await oxen.list_queue()
    assert generation.generation_id in {row.generation_id for row in active}
    await oxen.cancel_generation(generation.generation_id)
    assert generation.generation_id not in {row.generation_id for row in await oxen.list_queue()}
    cancelled = await oxen.list_queue(status="cancelled")
    assert generation.generation_id in {row.generation_id for row in cancelled}


async def test_actual_costs_are_read_back_from_the_history(oxen: AsyncOxenClient, emulator) -> None:
    generations = []
    for duration in (1, 3):
        generations += await oxen.enqueue(
            VideoRequest(model=FAST, prompt="costed", duration=duration)
        )
    for g in generations:
        await oxen.wait_for_generation(g.generation_id, timeout=30)
    costs = await oxen.generation_costs([g.generation_id for g in generations] + ["unknown-id"])
    assert costs == {generations[0].generation_id: 0.01, generations[1].generation_id: 0.03}
    assert sum(costs.values()) == emulator.stats()["billed_cost_usd"]
