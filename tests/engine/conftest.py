"""Run-state stores for the engine's tests: every journal, claim and stop-hook behaviour is
specified once and checked against both stores (a journal file, and objects in moto's S3)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from prefect_oxen.engine._run_state import FileRunState, RunState
from prefect_oxen.engine._s3_run_state import S3RunState
from tests.support.moto_s3 import BUCKET, aws_env, s3

__all__ = ["BUCKET", "aws_env", "s3"]  # pytest finds fixtures by their names in the conftest


@pytest.fixture(params=["file", "s3"])
def store_kind(request: pytest.FixtureRequest) -> str:
    """Which store a test runs against."""
    return str(request.param)


@pytest.fixture
def make_store(store_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Any:
    """Opens the store of one archive as a separate machine would (its own object, for S3 its
    own holder token; for files, the same journal path)."""
    client = request.getfixturevalue("s3") if store_kind == "s3" else None
    prefix = f"archive-{uuid.uuid4().hex[:8]}/.oxen-state"

    def opened(**options: Any) -> RunState:
        if client is not None:
            return S3RunState(client, BUCKET, prefix, **options)
        return FileRunState(tmp_path / "archive" / ".oxen-journal.jsonl")

    return opened


@pytest.fixture
def run_state(make_store: Any) -> RunState:
    """One store of a fresh archive."""
    return make_store()
