"""Putting a verified video and its manifest where the team keeps them (idempotent)."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from pathlib import Path
from typing import Any

from prefect import get_run_logger

from prefect_oxen.blocks import OxenCredentials
from prefect_oxen.client import OxenRepoUri
from prefect_oxen.engine._oxen_archive import oxen_archive_for
from prefect_oxen.engine._records import GenerationResult, PersistedVideo, summary_level
from prefect_oxen.storage import (
    DEFAULT_KEY_TEMPLATE,
    ArchiveManifest,
    ArchiveRecord,
    ArchiveTarget,
    LocalArchive,
    S3Archive,
    default_s3_client,
    parse_s3_prefix,
    render_object_key,
    scrub_secrets,
)

__all__ = ["ArchiveDestination", "archive_key", "archive_persisted", "open_archive"]

#: Where videos go: a local directory, an ``s3://bucket/prefix`` URI, or a prefect-aws S3Bucket.
ArchiveDestination = Any


def open_archive(
    destination: ArchiveDestination, *, server_side_encryption: str | None = None
) -> ArchiveTarget:
    """An archive target for `destination`.

    Args:
        destination: A directory path, an ``s3://bucket/prefix`` URI, an
            ``oxen://NS/REPO[@BRANCH][/PREFIX]`` repository or a prefect-aws S3Bucket.
        server_side_encryption: For S3: the encryption to ask for (e.g. "aws:kms").

    Returns:
        A local archive (hard-linking where it can), an S3 archive or an Oxen repository's.
    """
    # prefect_aws takes a second to import: only for what can only be one of its blocks.
    if type(destination).__module__.startswith("prefect_aws"):
        from prefect_aws import S3Bucket

        if isinstance(destination, S3Bucket):
            client = destination.credentials.get_s3_client()
            return S3Archive(
                client,
                destination.bucket_name,
                prefix=destination.bucket_folder or "",
                server_side_encryption=server_side_encryption,
            )
    text = str(destination)
    if OxenRepoUri.is_oxen_uri(text):
        # The run's open archive (it commits what is staged), else one that only reads.
        return oxen_archive_for(OxenRepoUri.parse(text))
    if text.startswith("s3://"):
        bucket, prefix = parse_s3_prefix(text)
        return S3Archive(
            default_s3_client(),
            bucket,
            prefix=prefix,
            server_side_encryption=server_side_encryption,
        )
    # Hard links where possible: the archive copy costs no extra disk or time.
    return LocalArchive(Path(os.path.expanduser(text)), link=True)


def archive_key(result: GenerationResult, *, template: str, prefix: str) -> str:
    """The object key of `result` under `template` (date = day it was generated, UTC).

    Args:
        result: The generation (its key, model and times fill the template).
        template: The key template ({prefix}, {date}, {model}, {key}).
        prefix: The first part of the key.

    Returns:
        The key, every part sanitised.

    Raises:
        InvalidObjectKey: The template makes no valid key.
    """
    when = dt.datetime.fromtimestamp(
        result.completed_at or result.submitted_at or 0, dt.timezone.utc
    )
    if not (result.completed_at or result.submitted_at):
        when = dt.datetime.now(dt.timezone.utc)
    return render_object_key(
        template,
        prefix=prefix,
        date=when.strftime("%Y-%m-%d"),
        model=result.model,
        key=result.key or result.fingerprint[:16],
    )


async def archive_persisted(
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

    The function of the `archive_video` task (and the last step of `deliver_video` and
    `produce_video`). `destination` is a directory, an ``s3://bucket/prefix`` URI or a
    prefect-aws `S3Bucket` block. S3 uploads are multipart for large files and checked against
    their SHA-256 checksum. The manifest holds no secrets: values of `credentials` are scrubbed
    wherever they appear.

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
    logger = get_run_logger()
    target = open_archive(destination, server_side_encryption=server_side_encryption)
    key = archive_key(result, template=key_template, prefix=prefix)
    secrets = credentials.secret_values() if credentials else ()
    timings = {
        name: value
        for name, value in {
            "generation_seconds": result.wall_seconds,
            "submitted_at": result.submitted_at,
            "completed_at": result.completed_at,
        }.items()
        if value is not None
    }
    manifest = ArchiveManifest(
        key=key,
        generation_id=result.generation_id,
        model=result.model,
        request=scrub_secrets(result.request, secrets),
        timings=timings,
        cost_usd=result.cost_usd,
        verification=scrub_secrets(persisted.verification, secrets),
        extra=scrub_secrets(
            {
                "item_key": result.key,
                "fingerprint": result.fingerprint,
                "mode": result.mode,
                "reattached": result.reattached,
                **(extra or {}),
            },
            secrets,
        ),
    )
    record = await asyncio.to_thread(
        target.put, persisted.path, key, manifest, sha256=persisted.sha256
    )
    logger.log(
        summary_level(),
        "%s %s (%d bytes) to %s.",
        "Archived" if record.uploaded else "Already archived",
        result.label,
        record.size_bytes,
        record.uri,
    )
    return record
