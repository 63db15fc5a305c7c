"""Fetching a generation's reference inputs, as the real API does before it renders.

Only with the ``fetch_inputs`` knob on (tests hand the emulator URLs nobody serves, such as
``https://example.com/cat.png``): each http(s) `input_image` is fetched; one that cannot be
fetched fails the generation (unbilled) with an error message in the API's style.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

__all__ = ["InputFetches", "fetch_inputs"]

#: Seconds an input fetch may take.
FETCH_TIMEOUT = 10.0


@dataclass
class InputFetches:
    """What the emulator fetched since the last reset (for the stats)."""

    count: int = 0
    bytes: int = 0
    failures: int = 0
    hosts: list[str] = field(default_factory=list)

    def reset(self) -> None:
        """Forget every fetch."""
        self.count = self.bytes = self.failures = 0
        self.hosts.clear()

    def view(self) -> dict[str, Any]:
        """The counters as JSON."""
        return {
            "count": self.count,
            "bytes": self.bytes,
            "failures": self.failures,
            "hosts": list(self.hosts),
        }


def _urls(params: dict[str, Any]) -> list[str]:
    """The http(s) URLs of `input_image` (one or a list)."""
    value = params.get("input_image")
    values = value if isinstance(value, list) else [value]
    return [v for v in values if isinstance(v, str) and v.startswith(("http://", "https://"))]


async def fetch_inputs(params: dict[str, Any], fetches: InputFetches) -> str | None:
    """Fetch every input image of a generation; the failure message, or None if all arrived.

    Args:
        params: The generation's parameters.
        fetches: Where the fetches are counted.

    Returns:
        None, or the generation's `error_message` (never the URL's query: it may be signed).
    """
    async with httpx.AsyncClient(timeout=FETCH_TIMEOUT, follow_redirects=True) as client:
        for url in _urls(params):
            host = httpx.URL(url).host
            try:
                response = await client.get(url)
            except httpx.HTTPError as exc:
                fetches.failures += 1
                return f"Could not fetch input_image from {host}: {type(exc).__name__}"
            if response.status_code != 200 or not response.content:
                fetches.failures += 1
                return f"Could not fetch input_image from {host}: HTTP {response.status_code}"
            fetches.count += 1
            fetches.bytes += len(response.content)
            fetches.hosts.append(host)
    return None
