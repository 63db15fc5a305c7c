"""End to end over HTTP: moto's threaded server, a real boto3 client, httpx for the URL."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import boto3
import httpx

from prefect_oxen.storage import S3Archive, sha256_file

from .conftest import MiB, make_manifest
from .test_s3 import count_calls

KEY = "e2e/2026-08-01/kling/multipart.mp4"


def test_multipart_archive_over_http(aws_env: None, moto_server: str, tmp_path: Path) -> None:
    client = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1")
    client.create_bucket(Bucket="e2e-archive")
    path = tmp_path / "video.mp4"
    data = os.urandom(12 * MiB)
    path.write_bytes(data)
    sha = sha256_file(path)
    archive = S3Archive(
        client,
        "e2e-archive",
        multipart_threshold=5 * MiB,
        multipart_chunksize=5 * MiB,
        max_concurrency=4,
        presign_expires_in=300,
    )

    calls = count_calls(client)
    record = archive.put(path, KEY, make_manifest(), sha256=sha)
    assert record.uploaded and record.sha256 == sha
    assert calls["CreateMultipartUpload"] == 1 and calls["UploadPart"] == 3
    first = client.head_object(Bucket="e2e-archive", Key=KEY, ChecksumMode="ENABLED")
    assert first["ChecksumSHA256"]  # S3 computed and kept a SHA-256 checksum
    assert first["ContentLength"] == len(data)

    calls.clear()
    again = archive.put(path, KEY, make_manifest(), sha256=sha)
    assert again.uploaded is False
    assert not {"PutObject", "UploadPart", "CreateMultipartUpload"} & set(calls)
    second = client.head_object(Bucket="e2e-archive", Key=KEY)
    assert (second["ETag"], second["LastModified"]) == (first["ETag"], first["LastModified"])

    response = httpx.get(record.view_url, timeout=30)
    assert response.status_code == 200
    assert hashlib.sha256(response.content).hexdigest() == sha
    manifest: dict[str, Any] | None = archive.read_manifest(KEY)
    assert manifest is not None and manifest["sha256"] == sha
