"""Item claims: one run at a time per item, released by closing (or by the process dying)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from prefect_oxen.engine._claims import ItemClaim, claim_item


def test_a_claimed_item_cannot_be_claimed_again_until_released(tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    first, second = ItemClaim(journal, "item-a"), ItemClaim(journal, "item-a")
    assert first.try_acquire()
    assert not second.try_acquire()
    assert ItemClaim(journal, "item-b").try_acquire()  # other items are free
    first.release()
    assert second.try_acquire()


def test_a_claim_dies_with_its_process(tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from prefect_oxen.engine._claims import ItemClaim\n"
            f"c = ItemClaim({str(journal)!r}, 'item'); assert c.try_acquire(); "
            "print('held', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        assert not ItemClaim(journal, "item").try_acquire()
    finally:
        holder.kill()
        holder.wait()
    assert ItemClaim(journal, "item").try_acquire()


async def test_a_waiting_claim_proceeds_once_the_holder_releases_and_says_it_waited(
    tmp_path: Path,
) -> None:
    journal = tmp_path / "journal.jsonl"
    order: list[str] = []
    release = asyncio.Event()

    async def holder() -> None:
        async with claim_item(journal, "item") as waited:
            order.append(f"holder waited={waited}")
            await release.wait()
            order.append("holder done")

    async def latecomer() -> None:
        async with claim_item(journal, "item") as waited:
            order.append(f"latecomer waited={waited}")

    first = asyncio.create_task(holder())
    while not order:
        await asyncio.sleep(0)
    second = asyncio.create_task(latecomer())
    for _ in range(20):  # the latecomer gets many turns, and must not get in
        await asyncio.sleep(0.01)
    assert order == ["holder waited=False"]
    release.set()
    await asyncio.gather(first, second)
    assert order == ["holder waited=False", "holder done", "latecomer waited=True"]
