import pytest


@pytest.fixture(autouse=True)
def _prefect(prefect_harness) -> None:
    """Blocks are saved to and loaded from a real Prefect server."""
