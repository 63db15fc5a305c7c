"""A pause shared by every call of one client after the API says "slow down".

When one of a batch's many concurrent calls gets a 429 with ``Retry-After``, the others would
otherwise keep hammering the API and collect 429s of their own. Since tasks on one event loop
share one client, a single pause here slows the whole batch, which is what the server asked for.
"""

from __future__ import annotations

import asyncio
import time

__all__ = ["SharedThrottle"]


class SharedThrottle:
    """Holds back every request until the latest server-requested pause is over."""

    def __init__(self) -> None:
        self._until = 0.0
        #: How many calls are currently held back (observable for tests and logs).
        self.waiting = 0

    def pause(self, seconds: float) -> None:
        """Hold back all calls for `seconds` from now (never shortens an existing pause).

        Args:
            seconds: Length of the pause.
        """
        self._until = max(self._until, time.monotonic() + max(0.0, seconds))

    @property
    def remaining(self) -> float:
        """Seconds left of the current pause (0 when none)."""
        return max(0.0, self._until - time.monotonic())

    async def wait(self) -> None:
        """Return once no pause is in force."""
        while (delay := self.remaining) > 0:
            self.waiting += 1
            try:
                await asyncio.sleep(delay)
            finally:
                self.waiting -= 1
