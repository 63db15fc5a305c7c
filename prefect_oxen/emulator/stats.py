"""Counters behind GET /_emulator/stats (zeroed by POST /_emulator/reset)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal


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

    def request_started(self, route: str) -> None:
        """Count a request to `route` ("METHOD /template") and track concurrency."""
        self.requests[route] += 1
        self.in_flight_requests += 1
        self.max_in_flight_requests = max(self.max_in_flight_requests, self.in_flight_requests)

    def request_finished(self) -> None:
        """A request handler returned (its body may still be streaming)."""
        self.in_flight_requests -= 1

    def reset(self) -> None:
        """Zero every counter except requests still in flight."""
        self.requests.clear()
        self.bytes_served = 0
        self.billed_generations = 0
        self.billed_cost = Decimal(0)
        self.max_in_flight = 0
        self.max_in_flight_requests = self.in_flight_requests
