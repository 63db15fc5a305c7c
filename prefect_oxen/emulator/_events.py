"""Fan-out of completion events to the SSE subscribers connected right now (no replay)."""

from __future__ import annotations

import asyncio


class EventBroker:
    """Delivers generation ids that reached a terminal state to every live subscriber."""

    def __init__(self) -> None:
        self._subscribers: set[asyncio.Queue[str | None]] = set()
        self._closed = False

    @property
    def subscriber_count(self) -> int:
        """Streams currently connected."""
        return len(self._subscribers)

    def subscribe(self) -> asyncio.Queue[str | None]:
        """Register a subscriber; it sees only events published from now on. None means closed."""
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        if self._closed:
            queue.put_nowait(None)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[str | None]) -> None:
        """Forget a subscriber (its stream ended)."""
        self._subscribers.discard(queue)

    def publish(self, generation_id: str) -> None:
        """Announce that `generation_id` succeeded or failed."""
        for queue in self._subscribers:
            queue.put_nowait(generation_id)

    def close(self) -> None:
        """End every stream, now and for later subscribers (server shutdown)."""
        self._closed = True
        for queue in self._subscribers:
            queue.put_nowait(None)
