"""LocalArchive: atomic copies, sidecar manifests, idempotency and conflicts."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from prefect_oxen.storage import (
    ArchiveConflict,
    ArchiveTarget,
    ChecksumMismatch,
    InvalidObjectKey,
    LocalArchive,
    sha256_file,
)

from .conftest import make_manifest

KEY = "oxen/2026-08-01/kling/abc.mp4"


@pytest.fixture
def archive(tmp_path: Path) -> LocalArchive:
    return LocalArchive(tmp_path / "archive")


def test_is_an_archive_target(archive: LocalArchive) -> None:
    assert isinstance(archive, ArchiveTarget)


def test_put_copies_and_writes_manifest(archive: LocalArchive, video_file: Path) -> None:
    record = archive.put(video_file, KEY, make_manifest())
    stored = archive.root / KEY
    assert stored.read_bytes() == video_file.read_bytes()
    assert record.uploaded is True
    assert record.sha256 == sha256_file(video_file)
    assert record.size_bytes == video_file.stat().st_size
    assert record.uri == record.view_url == stored.as_uri()
    assert record.uri.startswith("file://")
    sidecar = archive.root / "oxen/2026-08-01/kling/abc.json"
    assert record.manifest_uri == sidecar.as_uri()
    manifest = json.loads(sidecar.read_bytes())
    assert manifest == archive.read_manifest(KEY)
    assert manifest["key"] == KEY and manifest["video_uri"] == record.uri
    assert manifest["sha256"] == record.sha256 and manifest["size_bytes"] == record.size_bytes
    assert archive.exists(KEY, record.sha256)
    assert not archive.exists(KEY, "0" * 64)
    assert [p.name for p in stored.parent.iterdir() if p.name.startswith(".")] == []


def test_second_put_is_a_no_op(archive: LocalArchive, video_file: Path) -> None:
    first = archive.put(video_file, KEY, make_manifest())
    stored = archive.root / KEY
    before = (stored.stat().st_ino, stored.stat().st_mtime_ns)
    manifest_before = (archive.root / "oxen/2026-08-01/kling/abc.json").read_bytes()
    second = archive.put(video_file, KEY, make_manifest(cost_usd=9.0), sha256=first.sha256)
    assert second.uploaded is False and second.sha256 == first.sha256
    assert (stored.stat().st_ino, stored.stat().st_mtime_ns) == before
    assert (archive.root / "oxen/2026-08-01/kling/abc.json").read_bytes() == manifest_before


def test_missing_manifest_is_restored(archive: LocalArchive, video_file: Path) -> None:
    archive.put(video_file, KEY, make_manifest())
    (archive.root / "oxen/2026-08-01/kling/abc.json").unlink()
    record = archive.put(video_file, KEY, make_manifest())
    assert record.uploaded is False
    assert (archive.read_manifest(KEY) or {}).get("sha256") == record.sha256


def test_conflict_and_overwrite(archive: LocalArchive, video_file: Path, tmp_path: Path) -> None:
    archive.put(video_file, KEY, make_manifest())
    other = tmp_path / "other.mp4"
    other.write_bytes(b"different video")
    with pytest.raises(ArchiveConflict, match="overwrite=True") as info:
        archive.put(other, KEY, make_manifest())
    assert info.value.existing_sha256 == sha256_file(video_file)
    assert (archive.root / KEY).read_bytes() == video_file.read_bytes()
    record = archive.put(other, KEY, make_manifest(), overwrite=True)
    assert record.uploaded and (archive.root / KEY).read_bytes() == b"different video"
    assert (archive.read_manifest(KEY) or {}).get("sha256") == record.sha256


def test_wrong_precomputed_sha_is_caught(archive: LocalArchive, video_file: Path) -> None:
    with pytest.raises(ChecksumMismatch, match="precomputed sha256"):
        archive.put(video_file, KEY, make_manifest(), sha256="0" * 64)
    assert not (archive.root / KEY).exists()
    assert archive.read_manifest(KEY) is None


def test_hard_link_mode_shares_the_inode(tmp_path: Path, video_file: Path) -> None:
    archive = LocalArchive(tmp_path / "linked", link=True)
    record = archive.put(video_file, KEY, make_manifest())
    assert os.path.samefile(archive.root / KEY, video_file)
    assert record.sha256 == sha256_file(video_file)


@pytest.mark.parametrize("key", ["../escape.mp4", "/etc/passwd", "a/../../b.mp4"])
def test_keys_cannot_escape_the_root(archive: LocalArchive, video_file: Path, key: str) -> None:
    with pytest.raises(InvalidObjectKey):
        archive.put(video_file, key, make_manifest())
    assert not (archive.root.parent / "escape.mp4").exists()
