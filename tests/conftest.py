"""Shared fixtures: one emulator for the whole session, reset before each test that uses it.

Prefect's test harness is started only by the test packages that need it (see
tests/prefect_harness.py), so client, emulator, media and storage tests never pay its start-up.
"""

from __future__ import annotations

import os
import tempfile

# Before anything imports Prefect: results, caches and journals of this session live in a fresh
# PREFECT_HOME, so no run of the suite can see another's cached generations.
os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="prefect-oxen-tests-")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["DO_NOT_TRACK"] = "1"
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
# The client logs outside flow runs too (plain-client tests); that is not a reason to warn.
os.environ["PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW"] = "ignore"

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from prefect_oxen.client import AsyncOxenClient, OxenClient, PollPolicy, RetryPolicy
from tests.support import DEFAULT_KNOBS, EmulatorControl

if TYPE_CHECKING:
    from prefect_oxen.emulator import EmulatorServer

# Distinctive enough that finding it anywhere (logs, files, artifacts) can only mean a leak.
API_KEY = "oxk_live_ZZtestSECRETkey_7f3a9c2e1b"

FAST_POLL = PollPolicy(initial=0.05, maximum=0.25, factor=1.5, safety_interval=1.0)


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[EmulatorServer]:
    from prefect_oxen.emulator import running_emulator

    with running_emulator(api_keys=[API_KEY], seed=20261126, keepalive_interval=0.5) as server:
        yield server


@pytest.fixture
def emulator(emulator_server: EmulatorServer) -> Iterator[EmulatorControl]:
    """The session emulator with default knobs, zeroed counters and no generations."""
    control = EmulatorControl(emulator_server)
    control.configure(**DEFAULT_KNOBS)
    control.reset()
    yield control
    control.close()


@pytest.fixture
def api_key() -> str:
    return API_KEY


@pytest.fixture
async def oxen(emulator: EmulatorControl) -> AsyncIterator[AsyncOxenClient]:
    """An async client against the emulator with backoff switched off and fast polling."""
    async with AsyncOxenClient(
        api_key=API_KEY, base_url=emulator.base_url, retry=RetryPolicy.immediate(), poll=FAST_POLL
    ) as client:
        yield client


@pytest.fixture
def oxen_sync(emulator: EmulatorControl) -> Iterator[OxenClient]:
    with OxenClient(
        api_key=API_KEY, base_url=emulator.base_url, retry=RetryPolicy.immediate(), poll=FAST_POLL
    ) as client:
        yield client


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One Prefect test server for the whole session (it costs ~10 s to start).

    Requested (autouse) by the conftest of each test package that runs flows or saves blocks,
    so tests that need no Prefect never start it.
    """
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def credentials(emulator):
    """An OxenCredentials block for the emulator (backoff off, fast polling)."""
    from prefect_oxen import OxenCredentials

    return OxenCredentials(
        api_key=API_KEY, base_url=emulator.base_url, retry=RetryPolicy.immediate(), poll=FAST_POLL
    )


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
