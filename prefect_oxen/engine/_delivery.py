"""A video from generated to archived: deliver (persist + archive), and produce (all of it).

Each task run costs Prefect bookkeeping on both sides of its API, so a batch of thousands saves
most of it by fusing steps that always follow each other. Every step is idempotent, so the fused bodies are as safe to retry as their parts: a retry
reattaches to the journaled generation (one GET, no new charge), downloading again is free and
archiving is idempotent.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from prefect import get_run_logger

from prefect_oxen.blocks import OxenCredentials
from prefect_oxen.engine._admission import current_pacing
from prefect_oxen.engine._archive import ArchiveDestination, archive_persisted
from prefect_oxen.engine._generation import GenerationMode, generate_result
from prefect_oxen.engine._journal import JournalEntry
from prefect_oxen.engine._persist import persist_result
from prefect_oxen.engine._records import (
    DeliveredVideo,
    GenerationResult,
    ProducedVideo,
    ValidatedRequest,
    fused_steps,
)
from prefect_oxen.engine._run_state import run_state_for
from prefect_oxen.storage import DEFAULT_KEY_TEMPLATE

__all__ = ["deliver_result", "produce_result"]


async def deliver_result(
    result: GenerationResult,
    credentials: OxenCredentials,
    output_dir: str | os.PathLike[str],
    destination: ArchiveDestination,
    key_template: str = DEFAULT_KEY_TEMPLATE,
    prefix: str = "oxen",
    extra: dict[str, Any] | None = None,
    keep_local_copy: bool = False,
    poster: bool = True,
    quarantine_dir: str | os.PathLike[str] | None = None,
) -> DeliveredVideo:
    """`persist_video` then `archive_video` in one task run; the local copy is removed after
    archiving unless `keep_local_copy` (the poster frame is kept).

    The function of the `deliver_video` task and the delivery half of `produce_result`.

    Example:
        ```python
        delivered = await deliver_video(
            result, OxenCredentials.load("BLOCK_NAME"), "work/", "s3://bucket/videos"
        )
        print(delivered.record.uri)
        ```

    Args:
        result: The generation to deliver.
        credentials: The credentials it was paid with (scrubbed from the manifest).
        output_dir: Where the verified file is written.
        destination: A directory, an ``s3://bucket/prefix`` URI or a prefect-aws S3Bucket.
        key_template: The object key template ({prefix}, {date}, {model}, {key}).
        prefix: The first part of every key.
        extra: More fields for the manifest's ``extra``.
        keep_local_copy: Keep the verified file after archiving.
        poster: Write a poster frame.
        quarantine_dir: Where a video failing verification is kept; empty for
            ``<output_dir>/quarantine/``.

    Returns:
        The verified file and its archive record.

    Raises:
        DownloadError: The result could not be fetched.
        VideoQuarantined: The video does not match the request (kept in quarantine).
        ArchiveConflict: Another object is stored under its key.
    """
    with fused_steps():
        persisted = await persist_result(
            result, credentials, output_dir, poster=poster, quarantine_dir=quarantine_dir
        )
        record = await archive_persisted(
            persisted,
            result,
            destination,
            credentials,
            key_template=key_template,
            prefix=prefix,
            extra=extra,
        )
    if not keep_local_copy:
        Path(persisted.path).unlink(missing_ok=True)
    return DeliveredVideo(persisted=persisted, record=record)


async def produce_result(
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

    The function of the `produce_video` task. In a batch, the generation holds one of the run's
    API slots only until the API reports it finished; delivery has places of its own, so
    downloads never keep the API idle.

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
        journal_path: Where the run state lives (a journal file, or an ``s3://`` prefix);
            empty for the archive's own (a hidden journal in a directory, ``.oxen-state/`` in S3).
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
    state = run_state_for(destination, journal_path)
    work = Path(work_dir)
    pacing = current_pacing()
    async with pacing.generating():
        with fused_steps():
            result = await generate_result(
                request,
                credentials,
                mode=mode,
                journal_path=state.location,
                staging_dir=str(work / "staging"),
                timeout=timeout,
                start_timeout=start_timeout,
            )
    async with pacing.delivering():
        delivered = await deliver_result(
            result,
            credentials,
            work / "videos",
            destination,
            key_template=key_template,
            prefix=prefix,
            extra=extra,
            keep_local_copy=keep_local_copy,
            poster=poster,
            quarantine_dir=work / "quarantine",
        )
    persisted, record = delivered.persisted, delivered.record
    await state.arecord(
        JournalEntry(
            identity=request.identity,
            state="archived",
            mode=result.mode,
            model=result.model,
            generation_ids=[result.generation_id] if result.generation_id else [],
            archive_uri=record.uri,
            detail={"archive_key": record.key, "sha256": record.sha256, "key": request.key},
        )
    )
    get_run_logger().info(
        "%s %s (generation %s, %.1f s of video, %s) to %s.",
        "Archived" if record.uploaded else "Already archived",
        request.label,
        result.generation_id or "synchronous",
        persisted.duration_seconds,
        "reattached: no new charge"
        if result.reattached
        else f"generated in {result.wall_seconds or 0:.1f} s",
        record.uri,
    )
    return ProducedVideo(result=result, persisted=persisted, record=record)
