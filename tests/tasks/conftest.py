from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from prefect_oxen import OxenCredentials
from prefect_oxen.client import RetryPolicy

from ..conftest import API_KEY, FAST_POLL


@pytest.fixture(autouse=True)
def _prefect(prefect_harness) -> None:
    """Tasks run inside real flows on the session's Prefect test server."""


@pytest.fixture
def credentials(emulator) -> OxenCredentials:
    return OxenCredentials(api_key=API_KEY, base_url=emulator.base_url, retry=RetryPolicy.immediate(), poll=FAST_POLL)


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    """Output, archive and journal directories of one test."""
    for name in ("videos", "archive", "journal", "staging"):
        (tmp_path / name).mkdir()
    yield tmp_path


@pytest.fixture
def unique(request: pytest.FixtureRequest) -> str:
    """A prompt suffix unique to the test, so cached results never cross tests."""
    return request.node.nodeid
