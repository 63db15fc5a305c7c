from __future__ import annotations

import pytest
from prefect.testing.fixtures import asserting_events_worker, reset_worker_events  # noqa: F401


@pytest.fixture(autouse=True)
def _prefect(prefect_harness) -> None:
    """Flows run on the session's Prefect test server."""
