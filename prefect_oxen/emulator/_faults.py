"""Seeded, replayable fault draws: one random stream per fault kind, in request-arrival order."""

from __future__ import annotations

import random
import time
from collections import Counter, deque

from prefect_oxen.emulator._config import FaultConfig

#: API faults in the order they win when several fire on the same request.
API_FAULTS = ("connection_reset", "rate_limit", "unavailable", "server_error")
#: Download faults, same rule.
DOWNLOAD_FAULTS = ("expired_url", "truncated_download", "slow_body")
ALL_FAULTS = (*API_FAULTS, *DOWNLOAD_FAULTS, "generation_failure")
#: Injected faults kept in `FaultInjector.log` (older ones drop off).
LOG_KEPT = 100_000


class FaultInjector:
    """Draws faults from per-kind generators seeded from `seed`, and counts what it injected.

    Every eligible request of a class draws from *every* generator of that class, fired or
    not, so the sequence of one fault kind does not depend on the rates of the others.
    """

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self.injected: Counter[str] = Counter()
        #: ``(time.monotonic(), route, fault)`` of each injected API or download fault, oldest
        #: first: which request got what, and when (generation failures have no route: "").
        self.log: deque[tuple[float, str, str]] = deque(maxlen=LOG_KEPT)
        self._budget_used = 0
        self.reseed()

    def reseed(self) -> None:
        """Restart every generator from the seed and zero the counters (replays a run)."""
        self._rngs = {name: random.Random(f"{self._seed}:{name}") for name in ALL_FAULTS}
        self.injected.clear()
        self.log.clear()
        self._budget_used = 0

    def restart_budget(self) -> None:
        """Start counting toward `FaultConfig.limit` afresh (the fault settings changed)."""
        self._budget_used = 0

    def _draw(self, names: tuple[str, ...], faults: FaultConfig, route: str) -> str | None:
        """Draw every fault of `names` and return the first that fires within the limit."""
        fired = [name for name in names if self._rngs[name].random() < getattr(faults, name)]
        if not fired or (faults.limit is not None and self._budget_used >= faults.limit):
            return None
        self._budget_used += 1
        self.injected[fired[0]] += 1
        self.log.append((time.monotonic(), route, fired[0]))
        return fired[0]

    @staticmethod
    def _eligible(faults: FaultConfig, route: str) -> bool:
        """True when `route` is one the fault settings apply to."""
        return faults.routes is None or route in faults.routes

    def draw_api(self, faults: FaultConfig, route: str) -> str | None:
        """The API fault to inject into this request to `route` ("METHOD /template"), if any."""
        return self._draw(API_FAULTS, faults, route) if self._eligible(faults, route) else None

    def draw_download(self, faults: FaultConfig, route: str) -> str | None:
        """The download fault to inject into this file download, if any."""
        return self._draw(DOWNLOAD_FAULTS, faults, route) if self._eligible(faults, route) else None

    def draw_generation_failure(self, faults: FaultConfig) -> bool:
        """Whether a newly accepted generation is doomed to fail (not limited by `routes`)."""
        return self._draw(("generation_failure",), faults, "") is not None
