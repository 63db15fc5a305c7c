"""`produce_video`: a whole video in one task run: generate, persist, archive, journal.

For batches. Every task run costs Prefect bookkeeping on both sides of its API (measured here at
15-25 ms of CPU per run), which at thousands of videos is most of the client's work; one run per
video keeps a run per item in the UI and halves that cost. It is as safe to retry as its parts:
a retry reattaches to the journaled generation (one GET, no new charge), downloading again is
free and archiving is idempotent.
"""

from __future__ import annotations

import os
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from prefect_oxen.blocks import OxenCredentials
from prefect_oxen.engine import (
    ArchiveDestination,
    GenerationMode,
    ProducedVideo,
    ValidatedRequest,
    named_after,
    produce_result,
    retry_if_item_may_recover,
)
from prefect_oxen.storage import DEFAULT_KEY_TEMPLATE

__all__ = ["produce_video"]


@task(
    name="produce-video",
    task_run_name=named_after("video", "request"),
    retries=2,
    retry_delay_seconds=[2, 15],
    retry_condition_fn=retry_if_item_may_recover,
    cache_policy=NO_CACHE,
    cache_result_in_memory=False,
)
async def produce_video(
    request: ValidatedRequest,
    credentials: OxenCredentials,
    work_dir: str | os.PathLike[str],
    destination: ArchiveDestination,
    mode: GenerationMode = "auto",
    journal_path: str | None = None,
    key_template: str = DEFAULT_KEY_TEMPLATE,
    prefix: str = "oxen",
    timeout: float = 3600.0,
    start_timeout: float | None = None,
    extra: dict[str, Any] | None = None,
    keep_local_copy: bool = False,
    poster: bool = True,
) -> ProducedVideo:
    """Generate `request` once, verify the mp4 and archive it, then journal it as archived.

    Example:
        ```python
        validated = await validate_video_request(
            {"model": "...", "prompt": "a fox"}, creds, key="fox"
        )
        produced = await produce_video(validated, creds, "work/", "s3://bucket/videos")
        print(produced.record.uri)
        ```

    Args:
        request: The validated request (`validate_video_request`).
        credentials: The credentials to pay with.
        work_dir: Scratch directory: ``staging/``, ``videos/`` and ``quarantine/`` inside it.
        destination: A directory, an ``s3://bucket/prefix`` URI or a prefect-aws S3Bucket.
        mode: "queue" (resumable), "sync" (one blocking call) or "auto".
        journal_path: The journal; empty for ``$PREFECT_HOME/oxen/journal.jsonl``.
        key_template: The object key template ({prefix}, {date}, {model}, {key}).
        prefix: The first part of every key.
        timeout: Seconds the generation may run once started.
        start_timeout: Seconds it may wait in the API's queue; empty for no bound.
        extra: More fields for the manifest's ``extra``.
        keep_local_copy: Keep the verified file after archiving.
        poster: Write a poster frame.

    Returns:
        The generation, the verified file and its archive record.

    Raises:
        GenerationFailed: The API reported the generation failed (not billed; retried).
        DeadlineExceeded: It did not finish in time.
        VideoQuarantined: The video does not match the request (kept in quarantine).
    """
    return await produce_result(
        request,
        credentials,
        work_dir,
        destination,
        mode=mode,
        journal_path=journal_path,
        key_template=key_template,
        prefix=prefix,
        timeout=timeout,
        start_timeout=start_timeout,
        extra=extra,
        keep_local_copy=keep_local_copy,
        poster=poster,
    )
