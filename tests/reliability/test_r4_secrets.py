"""R4: a batch archived to S3 leaves the API key and the signed result URLs nowhere: not in logs,
console output, artifacts, the Prefect database, result storage, manifests, S3 objects or their
metadata, nor the run state (kept in the bucket with an S3 archive)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from urllib.parse import urlparse

import boto3
import pytest
from moto import mock_aws
from prefect.client.orchestration import get_client
from prefect.events.worker import EventsWorker
from prefect.logging.handlers import APILogHandler
from prefect.settings import PREFECT_HOME, PREFECT_SERVER_DATABASE_CONNECTION_URL

from prefect_oxen.flows import batch_flow
from tests.support import FAST

from ..conftest import API_KEY
from .corpus import O3
from .helpers import report_of

BUCKET = "r4-videos"


@pytest.fixture
def issued_signatures(emulator, emulator_server, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every URL signature the emulator computes from now on (what a leaked signed URL shows)."""
    signer = emulator_server.emulator.signer
    seen: list[str] = []
    original = signer._signature

    def recording(path: str, expires: int) -> str:
        value = original(path, expires)
        seen.append(value)
        return value

    monkeypatch.setattr(signer, "_signature", recording)
    return seen


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        yield s3


def _database_files() -> list[Path]:
    url = PREFECT_SERVER_DATABASE_CONNECTION_URL.value()
    assert url and url.startswith("sqlite"), url
    path = Path(urlparse(url.replace("sqlite+aiosqlite", "sqlite")).path)
    files = [p for p in (path, Path(f"{path}-wal"), Path(f"{path}-journal")) if p.exists()]
    assert path in files
    return files


def _occurrences(blob: bytes, needles: dict[str, bytes]) -> list[str]:
    return [name for name, needle in needles.items() if needle in blob]


async def test_no_secret_is_left_anywhere(
    credentials, emulator, issued_signatures, aws, workdir: Path, unique: str, caplog, capfd
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("prefect", "prefect_oxen", "httpx", "httpcore", "botocore", "boto3", "s3transfer"):
        caplog.set_level(logging.DEBUG, logger=name)
    batch = [
        *(
            {"id": f"scene-{i}", "model": FAST, "prompt": f"R4 {unique} scene {i}", "duration": 2}
            for i in range(4)
        ),
        {
            "id": "multi",
            "model": O3,
            "multi_prompt": [
                {"prompt": f"R4 {unique} a", "duration": 2},
                {"prompt": "b", "duration": 2},
            ],
        },
        {
            "id": "bad",
            "model": FAST,
            "prompt": "too long",
            "duration": 99,
        },  # rejected: its error is reported too
    ]
    emulator.configure(faults={"expired_url": 0.3})  # refreshed URLs too: more signatures in play

    state = await batch_flow(
        batch,
        credentials,
        archive=f"s3://{BUCKET}/team",
        concurrency=3,
        concurrency_limit=None,
        return_state=True,
    )
    report = await report_of(state)
    assert report.count("archived") == 5 and report.count("rejected") == 1
    await APILogHandler.aflush()
    await asyncio.to_thread(EventsWorker.drain_all, timeout=10)

    assert issued_signatures, "the emulator issued no signed URL: nothing was tested"
    needles = {
        "api key": API_KEY.encode(),
        **{f"signature {s[:8]}": s.encode() for s in set(issued_signatures)},
    }
    leaks: dict[str, list[str]] = {}

    def check(where: str, blob: bytes) -> None:
        found = _occurrences(blob, needles)
        if found:
            leaks[where] = found

    # Logs (every logger at DEBUG) and the console.
    check(
        "log records",
        "\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in caplog.records).encode(),
    )
    out, err = capfd.readouterr()
    check("stdout/stderr", (out + err).encode())
    assert any(
        "prefect_oxen" in r.name or "task_runs" in r.name for r in caplog.records
    )  # logs were captured

    # Prefect: artifacts, logs and the flow run as the API returns them, then the database files.
    async with get_client() as client:
        flow_run = await client.read_flow_run(state.state_details.flow_run_id)
        artifacts = await client.read_artifacts()
        logs = await client.read_logs()
    check("flow run", flow_run.model_dump_json().encode())
    check("artifacts", b"".join(a.model_dump_json().encode() for a in artifacts))
    check("API logs", b"".join(entry.model_dump_json().encode() for entry in logs))
    assert logs and artifacts
    for path in _database_files():
        check(f"database {path.name}", path.read_bytes())

    # Result storage and work files under PREFECT_HOME, and the test's own directory.
    home = Path(PREFECT_HOME.value())
    files = [p for root in (home, workdir) for p in root.rglob("*") if p.is_file()]
    for path in files:
        check(str(path), path.read_bytes())

    # S3: every object (videos, manifests and the run state kept with an S3 archive: one object
    # per item, one per holder) and its metadata.
    listed = aws.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    assert sum(o["Key"].endswith(".mp4") for o in listed) == 5 and any(
        o["Key"].endswith(".json") for o in listed
    )
    state_objects = [o["Key"] for o in listed if "/.oxen-state/items/" in o["Key"]]
    assert len(state_objects) == 5, state_objects  # one per accepted item (not the rejected one)
    for entry in listed:
        obj = aws.get_object(Bucket=BUCKET, Key=entry["Key"])
        check(f"s3 {entry['Key']}", obj["Body"].read())
        check(
            f"s3 metadata {entry['Key']}",
            repr((obj.get("Metadata"), obj.get("ContentType"), obj.get("TagCount"))).encode(),
        )

    # The report itself (what a user would paste into a ticket).
    check("report", report.model_dump_json().encode())

    assert not leaks, f"secrets found: {leaks}"
