"""A FIFO pool of generation slots whose size can change while the server runs."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class SlotPool:
    """At most `capacity` holders at once; waiters are served strictly first come, first served.

    asyncio.Semaphore is not used because its capacity is fixed and, before Python 3.12, a
    released slot can be taken by a newcomer ahead of older waiters.
    """

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._in_use = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def in_use(self) -> int:
        """Slots currently held."""
        return self._in_use

    @property
    def waiting(self) -> int:
        """Callers waiting for a slot."""
        return sum(1 for waiter in self._waiters if not waiter.done())

    def resize(self, capacity: int) -> None:
        """Change the capacity; a bigger pool wakes waiters at once, a smaller one drains."""
        self._capacity = capacity
        self._wake()

    async def acquire(self) -> None:
        """Wait for a free slot, in arrival order."""
        if self._in_use < self._capacity and not self._waiters:
            self._in_use += 1
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                # The slot was granted just as we were cancelled: hand it on.
                self.release()
            else:
                self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        """Give a slot back and wake the oldest waiter."""
        self._in_use -= 1
        self._wake()

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        """Hold one slot for the duration of the block."""
        await self.acquire()
        try:
            yield
        finally:
            self.release()

    def _wake(self) -> None:
        """Give free slots to waiters in arrival order."""
        while self._waiters and self._in_use < self._capacity:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._in_use += 1
                waiter.set_result(None)
