"""Run-state stores for the engine's tests: every journal, claim and stop-hook behaviour is
specified once and checked against both stores (a journal file, and objects in moto's S3)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from prefect_oxen.engine._run_state import FileRunState, RunState
from prefect_oxen.engine._s3_run_state import S3RunState

BUCKET = "oxen-state-tests"


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials so boto3 never looks for (or uses) real ones."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture
def s3(aws_env: None) -> Iterator[Any]:
    """A boto3 client on moto's in-process S3 with `BUCKET` created."""
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


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
