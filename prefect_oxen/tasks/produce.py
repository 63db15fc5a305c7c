"""`produce_video`: a whole video in one task run: generate, persist, archive, journal.

For batches. Every task run costs Prefect bookkeeping on both sides of its API (measured here at
15-25 ms of CPU per run), which at thousands of videos is most of the client's work; one run per
video keeps a run per item in the UI and halves that cost. It is as safe to retry as its parts:
a retry reattaches to the journaled generation (one GET, no new charge), downloading again is
free and archiving is idempotent.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel

from prefect_oxen.blocks import OxenCredentials
from prefect_oxen.engine import current_pacing
from prefect_oxen.storage import DEFAULT_KEY_TEMPLATE, ArchiveRecord
from prefect_oxen.tasks.archive import ArchiveDestination, archive_persisted
from prefect_oxen.tasks.generate import GenerationMode, generate_result
from prefect_oxen.tasks.journal import JournalEntry, default_journal_path, journal_at
from prefect_oxen.tasks.persist import persist_result
from prefect_oxen.tasks.results import GenerationResult, PersistedVideo, ValidatedRequest
from prefect_oxen.tasks.retry_conditions import retry_if_delivery_may_recover, retry_if_transient
from prefect_oxen.tasks.run_names import named_after

__all__ = ["ProducedVideo", "produce_video"]


class ProducedVideo(BaseModel):
    """What the generation returned, the verified file (possibly removed since) and the archive."""

    result: GenerationResult
    persisted: PersistedVideo
    record: ArchiveRecord


def _retry_produce(task: Any, task_run: Any, state: Any) -> bool:
    return retry_if_transient(task, task_run, state) or retry_if_delivery_may_recover(task, task_run, state)


@task(
    name="produce-video",
    task_run_name=named_after("video", "request"),
    retries=2,
    retry_delay_seconds=[2, 15],
    retry_condition_fn=_retry_produce,
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
        validated = await validate_video_request({"model": "...", "prompt": "a fox"}, creds, key="fox")
        produced = await produce_video(validated, creds, "work/", "s3://bucket/videos")
        print(produced.record.uri)
        ```
    """
    journal = str(journal_path or default_journal_path())
    work = Path(work_dir)
    # In a batch, the generation holds one of the run's API slots only until the API reports it
    # finished; delivery has places of its own, so downloads never keep the API idle.
    pacing = current_pacing()
    async with pacing.generating():
        result = await generate_result(
            request, credentials, mode=mode, journal_path=journal, staging_dir=str(work / "staging"),
            timeout=timeout, start_timeout=start_timeout,
        )
    async with pacing.delivering():
        persisted = await persist_result(
            result, credentials, work / "videos", poster=poster, quarantine_dir=work / "quarantine"
        )
        record = await archive_persisted(
            persisted, result, destination, credentials, key_template=key_template, prefix=prefix,
            extra=extra,
        )
    if not keep_local_copy:
        Path(persisted.path).unlink(missing_ok=True)
    await journal_at(journal).arecord(
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
        request.key or request.fingerprint[:12], result.generation_id or "synchronous",
        persisted.duration_seconds,
        "reattached: no new charge" if result.reattached else f"generated in {result.wall_seconds or 0:.1f} s",
        record.uri,
    )
    return ProducedVideo(result=result, persisted=persisted, record=record)
