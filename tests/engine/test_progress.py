"""Item announcements reach the listeners of the context that started the batch, and only them."""

from __future__ import annotations

import asyncio

from prefect_oxen.engine import ItemFinished, announce_item, watching_items


def test_listeners_hear_items_in_their_context_only() -> None:
    heard: list[ItemFinished] = []
    with watching_items(heard.append):
        announce_item("a", "archived")
        announce_item("b", "failed")
    announce_item("c", "archived")  # nobody listens any more
    assert [(e.key, e.status, e.ok) for e in heard] == [
        ("a", "archived", True),
        ("b", "failed", False),
    ]


def test_a_broken_listener_does_not_break_the_batch() -> None:
    def broken(_: ItemFinished) -> None:
        raise RuntimeError("bar went away")

    heard: list[str] = []
    with watching_items(broken), watching_items(lambda e: heard.append(e.key)):
        announce_item("a", "skipped")
    assert heard == ["a"]


def test_tasks_of_the_batch_inherit_the_listener() -> None:
    heard: list[str] = []

    async def batch() -> None:
        await asyncio.gather(asyncio.create_task(_item("x")), asyncio.create_task(_item("y")))

    async def _item(key: str) -> None:
        announce_item(key, "archived")

    with watching_items(lambda e: heard.append(e.key)):
        asyncio.run(batch())
    assert sorted(heard) == ["x", "y"]
