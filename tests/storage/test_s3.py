"""S3Archive against moto's in-process S3 with a real boto3 client."""

from __future__ import annotations

import base64
import hashlib
import os
import time
import urllib.parse
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from prefect_oxen.storage import (
    ArchiveConflict,
    ArchiveTarget,
    ChecksumMismatch,
    InvalidObjectKey,
    InvalidS3Uri,
    S3Archive,
    composite_sha256,
    parse_s3_prefix,
    parse_s3_uri,
    sha256_file,
    sha256_parts,
)

from .conftest import BUCKET, MiB, make_manifest

KEY = "oxen/2026-08-01/kling/abc.mp4"


def count_calls(client: Any) -> Counter[str]:
    """Count S3 operations the client sends from now on (via botocore's event system)."""
    calls: Counter[str] = Counter()

    def record(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    client.meta.events.register("before-call.s3.*", record)
    return calls


def head(s3: Any, key: str) -> dict[str, Any]:
    response: dict[str, Any] = s3.head_object(Bucket=BUCKET, Key=key, ChecksumMode="ENABLED")
    return response


def test_is_an_archive_target(s3: Any) -> None:
    assert isinstance(S3Archive(s3, BUCKET), ArchiveTarget)


def test_put_uploads_video_and_manifest(s3: Any, video_file: Path) -> None:
    archive = S3Archive(s3, BUCKET)
    record = archive.put(video_file, KEY, make_manifest(model="kling-vidéo"))
    digest = hashlib.sha256(video_file.read_bytes()).digest()
    assert record.uploaded and record.sha256 == digest.hex()
    assert record.uri == f"s3://{BUCKET}/{KEY}" == archive.uri_for(KEY)
    assert record.manifest_uri == f"s3://{BUCKET}/oxen/2026-08-01/kling/abc.json"
    stored = head(s3, KEY)
    assert stored["ContentType"] == "video/mp4"
    assert stored["ChecksumSHA256"] == base64.b64encode(digest).decode()
    assert stored["Metadata"]["sha256"] == digest.hex()
    assert stored["Metadata"]["model"] == "kling-vid%C3%A9o"  # ASCII-safe
    assert "api" not in str(stored["Metadata"]).lower()
    manifest_head = head(s3, "oxen/2026-08-01/kling/abc.json")
    assert manifest_head["ContentType"] == "application/json"
    manifest = archive.read_manifest(KEY)
    assert manifest is not None
    assert manifest["video_uri"] == record.uri and manifest["sha256"] == record.sha256
    assert manifest["size_bytes"] == video_file.stat().st_size
    assert archive.exists(KEY, record.sha256) and not archive.exists(KEY, "0" * 64)
    assert f"/{BUCKET}/{KEY}" in record.view_url or f"{BUCKET}.s3" in record.view_url
    assert presigned_lifetime(record.view_url) == pytest.approx(3600, abs=60)


def presigned_lifetime(url: str) -> float:
    """Seconds a presigned URL stays valid (SigV4 X-Amz-Expires or SigV2 absolute Expires)."""
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    assert "Signature" in query or "X-Amz-Signature" in query
    if "X-Amz-Expires" in query:
        return float(query["X-Amz-Expires"][0])
    return float(query["Expires"][0]) - time.time()


def test_second_put_sends_no_upload(s3: Any, video_file: Path) -> None:
    archive = S3Archive(s3, BUCKET)
    first = archive.put(video_file, KEY, make_manifest())
    before = head(s3, KEY)
    calls = count_calls(s3)
    second = archive.put(video_file, KEY, make_manifest(), sha256=first.sha256)
    assert second.uploaded is False
    assert calls == Counter({"HeadObject": 2})  # the video, then its manifest
    after = head(s3, KEY)
    assert (after["ETag"], after["LastModified"]) == (before["ETag"], before["LastModified"])


def test_missing_manifest_is_restored(s3: Any, video_file: Path) -> None:
    archive = S3Archive(s3, BUCKET)
    archive.put(video_file, KEY, make_manifest())
    s3.delete_object(Bucket=BUCKET, Key="oxen/2026-08-01/kling/abc.json")
    assert archive.read_manifest(KEY) is None
    calls = count_calls(s3)
    record = archive.put(video_file, KEY, make_manifest())
    assert record.uploaded is False and calls["PutObject"] == 1
    assert (archive.read_manifest(KEY) or {}).get("sha256") == record.sha256


def test_conflict_then_overwrite(s3: Any, video_file: Path, tmp_path: Path) -> None:
    archive = S3Archive(s3, BUCKET)
    archive.put(video_file, KEY, make_manifest())
    other = tmp_path / "other.mp4"
    other.write_bytes(b"another video")
    with pytest.raises(ArchiveConflict, match="overwrite=True"):
        archive.put(other, KEY, make_manifest())
    record = archive.put(other, KEY, make_manifest(), overwrite=True)
    assert record.uploaded
    assert s3.get_object(Bucket=BUCKET, Key=KEY)["Body"].read() == b"another video"


def test_wrong_precomputed_sha_is_caught_and_the_object_removed(s3: Any, video_file: Path) -> None:
    archive = S3Archive(s3, BUCKET)
    with pytest.raises(ChecksumMismatch, match="was deleted"):
        archive.put(video_file, KEY, make_manifest(), sha256="ab" * 32)
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0


def test_multipart_upload_is_verified_with_the_composite_checksum(s3: Any, tmp_path: Path) -> None:
    path = tmp_path / "big.mp4"
    data = os.urandom(12 * MiB + 123)
    path.write_bytes(data)
    archive = S3Archive(s3, BUCKET, multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)
    calls = count_calls(s3)
    record = archive.put(path, KEY, make_manifest())  # hashes parts and whole in one read
    assert calls["UploadPart"] == 3 and calls["CompleteMultipartUpload"] == 1
    parts = [hashlib.sha256(data[i : i + 5 * MiB]).digest() for i in range(0, len(data), 5 * MiB)]
    assert sha256_parts(path, 5 * MiB) == parts
    stored = head(s3, KEY)["ChecksumSHA256"]
    assert composite_sha256(parts).split("-")[0] == stored.split("-")[0]
    assert record.sha256 == hashlib.sha256(data).hexdigest()
    assert head(s3, KEY)["Metadata"]["sha256"] == record.sha256


def test_multipart_mismatch_is_caught(
    s3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "big.mp4"
    path.write_bytes(os.urandom(11 * MiB))
    archive = S3Archive(s3, BUCKET, multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)
    # The composite is computed in a thread alongside the upload (sha256 given): corrupt it.
    monkeypatch.setattr("prefect_oxen.storage._s3.sha256_parts", lambda p, size: [b"\0" * 32] * 3)
    with pytest.raises(ChecksumMismatch):
        archive.put(path, KEY, make_manifest(), sha256=sha256_file(path))
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0


def test_prefix_and_server_side_encryption(s3: Any, video_file: Path) -> None:
    archive = S3Archive(s3, BUCKET, prefix="/videos/prod/", server_side_encryption="AES256")
    record = archive.put(video_file, KEY, make_manifest())
    assert record.uri == f"s3://{BUCKET}/videos/prod/{KEY}"
    assert record.key == KEY
    assert head(s3, f"videos/prod/{KEY}")["ServerSideEncryption"] == "AES256"
    assert head(s3, "videos/prod/oxen/2026-08-01/kling/abc.json")["ServerSideEncryption"] == (
        "AES256"
    )


def test_invalid_configuration(s3: Any) -> None:
    with pytest.raises(ValueError, match="server_side_encryption"):
        S3Archive(s3, BUCKET, server_side_encryption="rot13")
    with pytest.raises(ValueError, match="aws:kms"):
        S3Archive(s3, BUCKET, sse_kms_key_id="key")
    with pytest.raises(ValueError, match="presign_expires_in"):
        S3Archive(s3, BUCKET, presign_expires_in=8 * 24 * 3600)
    with pytest.raises(InvalidObjectKey):
        S3Archive(s3, BUCKET).uri_for("../x.mp4")


@pytest.mark.parametrize(
    ("uri", "parsed"),
    [("s3://b/k.mp4", ("b", "k.mp4")), ("s3://bucket/a/b/c.json", ("bucket", "a/b/c.json"))],
)
def test_parse_s3_uri(uri: str, parsed: tuple[str, str]) -> None:
    assert parse_s3_uri(uri) == parsed


@pytest.mark.parametrize("uri", ["https://b/k", "s3:///k", "s3://bucket", "s3://bucket/"])
def test_parse_s3_uri_rejects(uri: str) -> None:
    with pytest.raises(InvalidS3Uri, match="s3://bucket/key"):
        parse_s3_uri(uri)


@pytest.mark.parametrize(
    ("destination", "parsed"),
    [("s3://b", ("b", "")), ("s3://b/", ("b", "")), ("s3://b/team/videos/", ("b", "team/videos"))],
)
def test_an_archive_destination_may_be_a_whole_bucket(
    destination: str, parsed: tuple[str, str]
) -> None:
    assert parse_s3_prefix(destination) == parsed


@pytest.mark.parametrize("destination", ["s3://", "/local/dir", "https://b/x"])
def test_an_archive_destination_needs_an_s3_bucket(destination: str) -> None:
    with pytest.raises(InvalidS3Uri):
        parse_s3_prefix(destination)
