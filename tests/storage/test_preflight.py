"""check_destination: an archive that cannot take videos is found before anything is paid."""

from __future__ import annotations

import errno
import tempfile
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from prefect_oxen.storage import ArchiveUnavailable, StorageError, check_destination

from .conftest import BUCKET


@pytest.fixture
def no_aws_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An environment where boto3's credential chain finds nothing (and asks no metadata server)."""
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    # boto3's default session keeps the credentials an earlier test resolved (any test in this
    # process that archived to moto): start from a fresh one, as a new process would.
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)


def test_a_missing_local_directory_is_created_and_left_clean(tmp_path: Path) -> None:
    archive = tmp_path / "deep" / "archive"
    check_destination(str(archive))
    assert archive.is_dir()
    assert list(archive.iterdir()) == []  # the write probe is gone


def test_a_path_under_a_file_cannot_be_an_archive(tmp_path: Path) -> None:
    # Root ignores permission bits, so an unwritable place is made of a file in the path.
    (tmp_path / "plain-file").write_text("not a directory")
    with pytest.raises(ArchiveUnavailable) as caught:
        check_destination(tmp_path / "plain-file" / "archive")
    assert str(caught.value).startswith(f"Cannot write to archive {tmp_path}/plain-file/archive: ")
    assert "Not a directory" in str(caught.value)
    assert isinstance(caught.value, StorageError)


def test_a_file_is_not_an_archive_directory(tmp_path: Path) -> None:
    (tmp_path / "archive").write_text("x")
    with pytest.raises(ArchiveUnavailable, match="it is a file, not a directory"):
        check_destination(str(tmp_path / "archive"))


def test_a_directory_refusing_writes_is_reported_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What a read-only mount does to the write probe; the bits of the directory would say "ok".
    def refuse(*_: Any, **__: Any) -> Any:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(ArchiveUnavailable, match=r"Cannot write to archive .*: Permission denied"):
        check_destination(str(tmp_path))


def test_a_real_directory_even_root_cannot_write_to() -> None:
    # sysfs takes no new files from anyone, root included (and is read-only in most containers).
    with pytest.raises(
        ArchiveUnavailable,
        match=r"^Cannot write to archive /sys: (Permission denied|Read-only file system)\.",
    ):
        check_destination("/sys")


def test_an_s3_uri_with_a_reachable_bucket_passes(s3: Any) -> None:
    check_destination(f"s3://{BUCKET}/videos/team-a")
    check_destination(f"s3://{BUCKET}")


def test_an_s3_bucket_that_does_not_exist(s3: Any) -> None:
    with pytest.raises(ArchiveUnavailable, match="Bucket not found: no-such-bucket"):
        check_destination("s3://no-such-bucket/videos")


def test_an_s3_uri_without_aws_credentials(no_aws_credentials: None) -> None:
    with pytest.raises(ArchiveUnavailable) as caught:
        check_destination("s3://some-bucket/videos")
    assert str(caught.value).startswith("No AWS credentials for s3://some-bucket/videos: ")
    assert caught.value.destination == "s3://some-bucket/videos"


def test_a_prefect_aws_bucket_block(aws_env: None) -> None:
    from prefect_aws import AwsCredentials, S3Bucket

    credentials = AwsCredentials(region_name="us-east-1")
    with mock_aws():
        import boto3

        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
        check_destination(S3Bucket(bucket_name=BUCKET, bucket_folder="a", credentials=credentials))
        with pytest.raises(ArchiveUnavailable, match="Bucket not found: missing"):
            check_destination(S3Bucket(bucket_name="missing", credentials=credentials))


def test_a_prefect_aws_bucket_block_without_credentials(no_aws_credentials: None) -> None:
    from prefect_aws import AwsCredentials, S3Bucket

    bucket = S3Bucket(bucket_name="team", bucket_folder="videos", credentials=AwsCredentials())
    with pytest.raises(ArchiveUnavailable, match="No AWS credentials for s3://team/videos"):
        check_destination(bucket)


def test_a_whole_bucket_passes_the_check_and_is_archived_to(s3: Any, video_file: Path) -> None:
    """``s3://bucket`` (no prefix) used to pass nothing and fail in the archive, after paying."""
    from prefect_oxen.engine import open_archive

    from .conftest import make_manifest

    check_destination(f"s3://{BUCKET}")
    record = open_archive(f"s3://{BUCKET}").put(video_file, "oxen/clip.mp4", make_manifest())
    assert record.uri == f"s3://{BUCKET}/oxen/clip.mp4"
    assert (
        s3.head_object(Bucket=BUCKET, Key="oxen/clip.mp4")["ContentLength"]
        == video_file.stat().st_size
    )
