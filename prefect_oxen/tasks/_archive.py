"""`archive_video`: put a verified video and its manifest where the team keeps them."""

from __future__ import annotations

from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from prefect_oxen.blocks import OxenCredentials
from prefect_oxen.engine import (
    ArchiveDestination,
    GenerationResult,
    PersistedVideo,
    archive_persisted,
    named_after,
    retry_if_storage_may_recover,
)
from prefect_oxen.storage import DEFAULT_KEY_TEMPLATE, ArchiveRecord

__all__ = ["archive_video"]


@task(
    name="archive-video",
    task_run_name=named_after("archive", "result"),
    retries=2,
    retry_delay_seconds=[2, 10],
    retry_condition_fn=retry_if_storage_may_recover,
    cache_policy=NO_CACHE,
)
async def archive_video(
    persisted: PersistedVideo,
    result: GenerationResult,
    destination: ArchiveDestination,
    credentials: OxenCredentials | None = None,
    key_template: str = DEFAULT_KEY_TEMPLATE,
    prefix: str = "oxen",
    server_side_encryption: str | None = None,
    extra: dict[str, Any] | None = None,
) -> ArchiveRecord:
    """Store the video with a JSON manifest (request, generation id, timings, cost, sha256,
    verification) at a key from `key_template`; idempotent, so a retry never uploads twice.

    `destination` is a directory, an ``s3://bucket/prefix`` URI or a prefect-aws `S3Bucket`
    block. S3 uploads are multipart for large files and checked against their SHA-256 checksum.
    The manifest holds no secrets: values of `credentials` are scrubbed wherever they appear.

    Example:
        ```python
        from prefect_aws import S3Bucket

        record = await archive_video(persisted, result, S3Bucket.load("BLOCK_NAME"))
        print(record.uri, record.view_url)
        ```

    Args:
        persisted: The verified file.
        result: Its generation (request, id, timings, cost).
        destination: A directory, an ``s3://bucket/prefix`` URI or a prefect-aws S3Bucket.
        credentials: Whose secret values are scrubbed from the manifest.
        key_template: The object key template ({prefix}, {date}, {model}, {key}).
        prefix: The first part of every key.
        server_side_encryption: For S3: the encryption to ask for (e.g. "aws:kms").
        extra: More fields for the manifest's ``extra`` (scrubbed too).

    Returns:
        Where it was stored, and whether this run uploaded it (False: already there).

    Raises:
        InvalidObjectKey: The template makes no valid key (not retried).
        ArchiveConflict: A different object is stored under the key (not retried).
    """
    record = await archive_persisted(
        persisted,
        result,
        destination,
        credentials,
        key_template=key_template,
        prefix=prefix,
        server_side_encryption=server_side_encryption,
        extra=extra,
    )
    get_run_logger().info(
        "%s %s (%d bytes) to %s.",
        "Archived" if record.uploaded else "Already archived",
        result.label,
        record.size_bytes,
        record.uri,
    )
    return record
