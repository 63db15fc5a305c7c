"""Pacing without Prefect: the run's own bound on generations, and starts in order."""

from __future__ import annotations

import asyncio

from prefect_oxen.engine import GenerationSlots, ItemPacing
from prefect_oxen.engine._admission import current_pacing, pacing_scope


async def test_no_more_generations_than_the_local_bound_hold_a_slot() -> None:
    holding = peak = 0
    async with GenerationSlots(3) as slots:

        async def item() -> None:
            nonlocal holding, peak
            pacing = ItemPacing(slots)
            async with pacing.generating():
                holding += 1
                peak = max(peak, holding)
                await asyncio.sleep(0)
                await asyncio.sleep(0)
                holding -= 1

        await asyncio.gather(*(item() for _ in range(12)))
    assert peak == 3


async def test_a_finished_generation_frees_its_slot_once_even_if_finished_twice() -> None:
    async with GenerationSlots(1) as slots:
        pacing = ItemPacing(slots)
        await pacing.admit()
        pacing.finish_generation()
        pacing.finish_generation()  # idempotent: must not add a second permit
        other, third = ItemPacing(slots), ItemPacing(slots)
        await other.admit()
        waiting = asyncio.create_task(third.admit())
        for _ in range(10):  # many turns of the loop: it must still wait
            await asyncio.sleep(0)
        assert not waiting.done()
        other.finish_generation()
        await asyncio.wait_for(waiting, 1)


async def test_starting_places_let_items_submit_in_admission_order() -> None:
    submitted: list[int] = []
    starts = asyncio.Semaphore(1)
    async with GenerationSlots(10) as slots:

        async def item(number: int) -> None:
            pacing = ItemPacing(slots, starts=starts)
            await pacing.admit()
            with pacing_scope(pacing):
                await asyncio.sleep(0.001 * (5 - number))  # later items would be quicker
                submitted.append(number)
                current_pacing().submitted()
            pacing.finish_generation()

        await asyncio.gather(*(item(n) for n in range(5)))
    assert submitted == [0, 1, 2, 3, 4]


def test_outside_a_batch_pacing_bounds_nothing() -> None:
    async def body() -> None:
        pacing = current_pacing()
        async with pacing.generating(), pacing.delivering():
            pass

    asyncio.run(body())
