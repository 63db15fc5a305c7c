"""The run state every run of an archive shares: one journal and one claim per item, the same
behaviour whether it lives in a file next to a local archive or as objects in an S3 archive."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from botocore.exceptions import ClientError

from prefect_oxen.engine import JournalEntry
from prefect_oxen.engine._run_state import RunState
from prefect_oxen.engine._s3_run_state import S3RunState


def entry(identity: str, state: str, *ids: str, run: str = "run-1") -> JournalEntry:
    return JournalEntry(
        identity=identity,
        state=state,  # type: ignore[arg-type]
        mode="queue",
        model="m",
        generation_ids=list(ids),
        detail={"flow_run_id": run, "key": identity},
    )


# --- the journal ----------------------------------------------------------------------------


async def test_the_newest_record_is_an_items_state_and_ids_are_carried_forward(
    run_state: RunState,
) -> None:
    assert await run_state.alookup("a") is None
    await run_state.arecord(entry("a", "submitting"))
    await run_state.arecord(entry("a", "enqueued", "gen-1"))
    await run_state.arecord(entry("a", "archived"))  # written without ids: they are kept
    current = await run_state.alookup("a")
    assert current is not None
    assert (current.state, current.generation_ids) == ("archived", ["gen-1"])


async def test_another_machine_reads_what_one_recorded(make_store: Any) -> None:
    machine_a, machine_b = make_store(), make_store()
    await machine_a.arecord(entry("a", "enqueued", "gen-1"))
    seen = machine_b.lookup("a")
    assert seen is not None and seen.generation_ids == ["gen-1"]
    assert machine_b.exists()


async def test_open_entries_are_those_of_one_run_that_may_still_be_on_the_api(
    make_store: Any,
) -> None:
    writer = make_store()
    await writer.arecord(entry("a", "enqueued", "gen-a", run="run-1"))
    await writer.arecord(entry("b", "archived", "gen-b", run="run-1"))
    await writer.arecord(entry("c", "submitting", run="run-1"))
    await writer.arecord(entry("d", "enqueued", "gen-d", run="run-2"))
    mine = {e.identity for e in writer.open_entries("run-1")}
    assert mine == {"a", "c"}
    # Another machine (prefect-oxen cancel) finds them too, without having written them.
    assert {e.identity for e in make_store().open_entries(None)} == {"a", "c", "d"}


async def test_a_fresh_store_has_nothing(run_state: RunState) -> None:
    assert not run_state.exists()
    assert run_state.open_entries(None) == []


# --- claims ---------------------------------------------------------------------------------


async def test_a_claimed_item_waits_for_its_holder_then_says_it_waited(make_store: Any) -> None:
    machine_a, machine_b = make_store(), make_store()
    order: list[str] = []
    release = asyncio.Event()

    async def holder() -> None:
        async with machine_a.claim("item") as waited:
            order.append(f"a waited={waited}")
            await release.wait()
            await machine_a.arecord(entry("item", "archived", "gen-1"))
            order.append("a done")

    async def latecomer() -> None:
        async with machine_b.claim("item") as waited:
            order.append(f"b waited={waited}")
            # Inside the claim the state is current: the holder's work is visible.
            seen = await machine_b.alookup("item")
            order.append(f"b sees {seen.state if seen else None}")

    first = asyncio.create_task(holder())
    while not order:
        await asyncio.sleep(0.01)
    second = asyncio.create_task(latecomer())
    with pytest.raises(TimeoutError):  # it must not get in while the holder holds
        await asyncio.wait_for(asyncio.shield(second), timeout=0.5)
    assert order == ["a waited=False"]
    release.set()
    await asyncio.gather(first, second)
    assert order == ["a waited=False", "a done", "b waited=True", "b sees archived"]


async def test_two_tasks_of_one_process_never_hold_an_item_together(run_state: RunState) -> None:
    inside = 0
    most = 0

    async def worker() -> None:
        nonlocal inside, most
        async with run_state.claim("item"):
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.05)
            inside -= 1

    await asyncio.gather(*(worker() for _ in range(4)))
    assert most == 1


async def test_racing_machines_pay_for_a_fresh_item_exactly_once(make_store: Any) -> None:
    machines = [make_store() for _ in range(6)]
    inside = 0
    most = 0
    payers: list[int] = []

    async def contend(number: int) -> None:
        nonlocal inside, most
        machine = machines[number]
        async with machine.claim("item"):
            inside += 1
            most = max(most, inside)
            # What a batch item does inside its claim: pay only if no run has it archived.
            if await machine.alookup("item") is None:
                payers.append(number)
                await asyncio.sleep(0.02)
                # Recording "archived" frees an S3 claim at once (the item is done): the next
                # machine may enter before this one leaves the block, and must find it archived.
                inside -= 1
                await machine.arecord(entry("item", "archived", f"gen-{number}"))
            else:
                inside -= 1

    await asyncio.gather(*(contend(n) for n in range(6)))
    assert most == 1  # never two holders at once
    assert len(payers) == 1  # and whoever came later found it archived


# --- S3 specifics: a dead machine's claim lapses, a live one is renewed -----------------------


@pytest.mark.parametrize("store_kind", ["s3"])
async def test_a_dead_machines_claim_is_taken_over_once_it_lapses(
    make_store: Any, caplog: pytest.LogCaptureFixture
) -> None:
    dead = make_store(claim_seconds=0.5)
    assert dead._try_claim("item") is None  # claimed, then the machine died: no renewal
    await dead.arecord(entry("item", "enqueued", "gen-1", run="dead-run"))
    survivor = make_store(claim_seconds=0.5)  # every machine of an archive agrees
    with caplog.at_level(logging.INFO, logger="prefect_oxen.engine"):
        async with survivor.claim("item") as waited:
            seen = await survivor.alookup("item")
    assert waited
    assert seen is not None and seen.generation_ids == ["gen-1"]  # it reattaches, not pays
    assert "Taking over" in caplog.text


@pytest.mark.parametrize("store_kind", ["s3"])
async def test_a_live_holder_renews_its_claim_so_nobody_takes_it(make_store: Any) -> None:
    holder = make_store(claim_seconds=0.6)  # its heartbeat is renewed every 0.2 s while held
    contender = make_store()
    async with holder.claim("item"), holder.claim("other"):
        beats_before, puts_before = holder.requests["beat"], holder.requests["put"]
        with pytest.raises(TimeoutError):
            # Lifetimes and skew several times over: without renewals it would have lapsed.
            async with asyncio.timeout(4.0), contender.claim("item"):
                pass  # pragma: no cover - must not get here
        # One heartbeat per process renews every claim it holds: no write per item.
        assert holder.requests["beat"] - beats_before >= 5
        assert holder.requests["put"] == puts_before
    assert holder.held() == set()  # released on exit: the contender gets it at once
    async with asyncio.timeout(5), contender.claim("item") as waited:
        assert not waited


@pytest.mark.parametrize("store_kind", ["s3"])
async def test_a_fresh_item_costs_four_writes_and_no_read(make_store: Any) -> None:
    store: S3RunState = make_store()
    async with store.claim("item"):
        assert await store.alookup("item") is None  # known from the claim's write
        await store.arecord(entry("item", "submitting"))
        await store.arecord(entry("item", "enqueued", "gen-1"))
        await store.arecord(entry("item", "archived"))  # frees the claim in the same write
    # Per item: four writes, no read (the process's heartbeat is its own, not the item's).
    assert store.requests["put"] == 4 and store.requests["get"] == 0
    assert store.requests["beat"] == 1
    reader = make_store()
    current = reader.lookup("item")
    assert current is not None and current.state == "archived"
    async with asyncio.timeout(5), reader.claim("item") as waited:
        assert not waited  # nobody holds an archived item


class _Conflicting:
    """An S3 client whose first conditional write answers 409 ConditionalRequestConflict, as
    real S3 may when writes race."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.conflicts = 0

    def put_object(self, **kwargs: Any) -> Any:
        if self.conflicts == 0:
            self.conflicts += 1
            raise ClientError(
                {"Error": {"Code": "ConditionalRequestConflict", "Message": "try again"}},
                "PutObject",
            )
        return self._client.put_object(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


async def test_a_conditional_request_conflict_is_read_again_and_retried(s3: Any) -> None:
    from tests.engine.conftest import BUCKET

    client = _Conflicting(s3)
    store = S3RunState(client, BUCKET, "conflicts/.oxen-state")  # type: ignore[arg-type]
    await store.arecord(entry("item", "enqueued", "gen-1"))
    assert client.conflicts == 1
    fresh = S3RunState(s3, BUCKET, "conflicts/.oxen-state").lookup("item")
    assert fresh is not None and fresh.generation_ids == ["gen-1"]
