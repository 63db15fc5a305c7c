"""Reliability suite: faults, crashes, bad input, secrets and cancellation, end to end.

Every test runs flows on the session's Prefect test server against the session emulator.
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _prefect(prefect_harness) -> None:
    """Flows run on the session's Prefect test server."""
