"""Two runs sharing `oxen-generations` on a SQLite server lose a quarter of the bound to its
write queue (bench/b1_shared_limit.py): a run that shares the limit there says so, once."""

from __future__ import annotations

import logging

import pytest

from prefect_oxen.engine import GenerationSlots, log_admission
from prefect_oxen.engine._batch import database_is_sqlite


@pytest.mark.parametrize(
    ("database", "sqlite"),
    [
        ({"connection_url": None, "driver": None, "host": None}, True),  # `prefect server start`
        ({"connection_url": "**********", "driver": "sqlite+aiosqlite"}, True),
        ({"connection_url": None, "driver": "postgresql+asyncpg", "host": "db"}, False),
        ({"connection_url": None, "driver": None, "host": "db"}, False),
        ({"connection_url": "**********", "driver": None}, False),  # unreadable: no guess
    ],
)
def test_the_servers_database_is_read_from_its_settings(database: dict, sqlite: bool) -> None:
    assert database_is_sqlite(database) is sqlite


def _shared(slots: GenerationSlots) -> GenerationSlots:
    slots.shared_limit = 16  # what __aenter__ sets when the limit exists
    return slots


@pytest.mark.parametrize("sqlite", [True, False])
def test_a_run_sharing_the_limit_on_sqlite_says_why_it_is_slower(
    sqlite: bool, caplog: pytest.LogCaptureFixture
) -> None:
    logger = logging.getLogger("tests.admission")
    slots = _shared(GenerationSlots(128, "oxen-generations"))
    assert slots.shared
    with caplog.at_level(logging.INFO, logger="tests.admission"):
        log_admission(slots, logger, sqlite=sqlite)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    if sqlite:
        [warning] = warnings
        assert "SQLite" in warning and "PostgreSQL" in warning and "oxen-generations" in warning
    else:
        assert warnings == []
