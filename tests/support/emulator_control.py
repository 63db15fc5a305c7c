"""The test-side handle on a running emulator's own routes, and the knobs every test starts from."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from prefect_oxen.emulator import EmulatorServer


class EmulatorControl:
    """Test-side handle on the emulator's own routes (stats, config, generations)."""

    def __init__(self, server: EmulatorServer) -> None:
        self.server = server
        self.base_url = server.base_url
        self._http = httpx.Client(base_url=server.base_url, timeout=10)

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = self._http.get("/_emulator/stats").raise_for_status().json()
        return stats

    def generations(self) -> list[dict[str, Any]]:
        body = self._http.get("/_emulator/generations").raise_for_status().json()
        rows: list[dict[str, Any]] = body["generations"] if isinstance(body, dict) else body
        return rows

    def configure(self, **changes: Any) -> None:
        self._http.patch("/_emulator/config", json=changes).raise_for_status()

    def reset(self) -> None:
        self._http.post("/_emulator/reset", params={"generations": "true"}).raise_for_status()

    def api_requests(self) -> int:
        """How many /api/* requests the emulator has seen since the last reset."""
        return sum(n for route, n in self.stats()["requests"].items() if " /api/" in route)

    def close(self) -> None:
        self._http.close()


DEFAULT_KNOBS: dict[str, Any] = {
    "latency": 0.0,
    "latency_jitter": 0.0,
    "concurrency": 16,
    "url_ttl": 3600.0,
    "credits_usd": None,
    "fetch_inputs": False,
    "faults": {
        "rate_limit": 0.0,
        "retry_after": 1.0,
        "server_error": 0.0,
        "unavailable": 0.0,
        "connection_reset": 0.0,
        "truncated_download": 0.0,
        "slow_body": 0.0,
        "expired_url": 0.0,
        "generation_failure": 0.0,
    },
}
