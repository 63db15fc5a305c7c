"""Counters behind GET /_emulator/stats (zeroed by POST /_emulator/reset)."""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import dataclass, field
from decimal import Decimal

#: Request arrivals kept in `Stats.arrivals` (a few thousand-item runs; older ones drop off).
ARRIVALS_KEPT = 100_000


@dataclass
class Stats:
    """Traffic and billing counters since the last reset."""

    requests: Counter[str] = field(default_factory=Counter)
    bytes_served: int = 0
    billed_generations: int = 0
    billed_cost: Decimal = Decimal(0)
    max_in_flight: int = 0
    in_flight_requests: int = 0
    max_in_flight_requests: int = 0
    #: ``(time.monotonic(), route)`` of each request on arrival, oldest first: when each call
    #: really reached the server (e.g. to check that a client waited out a Retry-After).
    arrivals: deque[tuple[float, str]] = field(default_factory=lambda: deque(maxlen=ARRIVALS_KEPT))

    def request_started(self, route: str) -> None:
        """Count a request to `route` ("METHOD /template") and track concurrency."""
        self.requests[route] += 1
        self.arrivals.append((time.monotonic(), route))
        self.in_flight_requests += 1
        self.max_in_flight_requests = max(self.max_in_flight_requests, self.in_flight_requests)

    def request_finished(self) -> None:
        """A request handler returned (its body may still be streaming)."""
        self.in_flight_requests -= 1

    def reset(self) -> None:
        """Zero every counter except requests still in flight."""
        self.requests.clear()
        self.arrivals.clear()
        self.bytes_served = 0
        self.billed_generations = 0
        self.billed_cost = Decimal(0)
        self.max_in_flight = 0
        self.max_in_flight_requests = self.in_flight_requests
