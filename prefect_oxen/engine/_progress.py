"""Telling whoever started a batch in this process that an item has ended.

The flow announces each item as it ends; a terminal front end (the CLI's progress bar) or a
notebook subscribes with `watching_items` around the flow call. The subscription lives in a
context variable, so it reaches the flow's tasks in this process and nothing else: no log
parsing, no API round trip, and two batches in one process never see each other's items.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass

__all__ = ["ItemFinished", "announce_item", "watching_items"]

logger = logging.getLogger("prefect_oxen.engine")


@dataclass(frozen=True)
class ItemFinished:
    """One item's end: its key, its status (archived, skipped, failed, rejected, not_submitted,
    validated) and whether it counts as a success."""

    key: str
    status: str

    @property
    def ok(self) -> bool:
        """True unless the item failed or was rejected."""
        return self.status not in ("failed", "rejected", "not_submitted")


Listener = Callable[[ItemFinished], None]

_listeners: ContextVar[tuple[Listener, ...]] = ContextVar("prefect_oxen_item_listeners", default=())


@contextlib.contextmanager
def watching_items(listener: Listener) -> Iterator[None]:
    """Call `listener` for every item that ends in a batch started inside the block."""
    reset = _listeners.set((*_listeners.get(), listener))
    try:
        yield
    finally:
        _listeners.reset(reset)


def announce_item(key: str, status: str) -> None:
    """Tell the current listeners that item `key` ended with `status` (never raises)."""
    event = ItemFinished(key, status)
    for listener in _listeners.get():
        try:
            listener(event)
        except Exception:  # a broken progress bar must not fail a paid batch
            logger.debug("progress listener failed", exc_info=True)
