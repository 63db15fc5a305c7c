"""The stop hooks' reach: a generation whose enqueue was still in flight at the stop is cancelled.

The journal says ``submitting`` (announced before the POST) with no id yet when a stop lands
between the POST and its answer; the API may already hold the paid generation. The hook finds it
in the queue by the journaled request and cancels it, instead of reporting nothing left running.
"""

from __future__ import annotations

import time
from pathlib import Path

from prefect_oxen.client import VideoRequest
from prefect_oxen.engine import GenerationJournal, JournalEntry, cancel_unfinished
from tests.support import FAST


async def test_an_enqueue_in_flight_at_the_stop_is_found_and_cancelled(
    emulator, oxen, credentials, tmp_path: Path, unique: str
) -> None:
    emulator.configure(latency=60)  # the generation stays on the API until cancelled
    request = VideoRequest(model=FAST, prompt=f"in flight {unique}", duration=1)
    journal = GenerationJournal(tmp_path / "journal.jsonl")
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
    assert journal.latest()["item-in-flight"].state == "failed"
