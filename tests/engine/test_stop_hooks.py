"""The stop hooks' reach: a generation whose enqueue was still in flight at the stop is cancelled.

The journal says ``submitting`` (announced before the POST) with no id yet when a stop lands
between the POST and its answer; the API may already hold the paid generation. The hook finds it
in the queue by the journaled request and cancels it, instead of reporting nothing left running.
"""

from __future__ import annotations

import time

from prefect_oxen.client import VideoRequest
from prefect_oxen.engine import JournalEntry, cancel_unfinished
from prefect_oxen.engine._run_state import RunState
from tests.support import FAST


async def test_an_enqueue_in_flight_at_the_stop_is_found_and_cancelled(
    emulator, oxen, credentials, run_state: RunState, unique: str
) -> None:
    emulator.configure(latency=60)  # the generation stays on the API until cancelled
    request = VideoRequest(model=FAST, prompt=f"in flight {unique}", duration=1)
    journal = run_state
    journal.record(
        JournalEntry(
            identity="item-in-flight",
            state="submitting",
            at=time.time(),
            mode="queue",
            model=FAST,
            detail={"flow_run_id": "run-1", "key": "k", "request": request.to_payload()},
        )
    )
    [generation] = await oxen.enqueue(request)  # the POST the stopped run had sent

    outcome = cancel_unfinished(journal, credentials, flow_run_id="run-1")

    assert [c.generation_id for c in outcome.cancelled] == [generation.generation_id]
    [row] = [g for g in emulator.generations() if g["id"] == generation.generation_id]
    assert row["status"] == "cancelled"
    assert journal.lookup("item-in-flight").state == "failed"


async def test_a_generation_that_already_finished_is_reported_as_collectable_not_as_at_risk(
    emulator, oxen, credentials, run_state: RunState, unique: str
) -> None:
    request = VideoRequest(model=FAST, prompt=f"finished {unique}", duration=1)
    [generation] = await oxen.enqueue(request)
    await oxen.wait_for_generation(generation.generation_id, timeout=60)
    run_state.record(
        JournalEntry(
            identity="item-done",
            state="enqueued",
            mode="queue",
            model=FAST,
            generation_ids=[generation.generation_id],
            detail={"flow_run_id": "run-2", "key": "done"},
        )
    )

    outcome = cancel_unfinished(run_state, credentials, flow_run_id="run-2")

    # Stopped while downloading: nothing may still be billed, and the next run collects it.
    assert [g.generation_id for g in outcome.finished] == [generation.generation_id]
    assert outcome.not_cancelled == [] and outcome.cancelled == []
    assert run_state.lookup("item-done").state == "enqueued"
