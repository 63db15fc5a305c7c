from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _prefect(prefect_harness) -> None:
    """Tasks run inside real flows on the session's Prefect test server."""
