"""`persist_video`: bring a generated video to local disk, whole and verified."""

from __future__ import annotations

import os

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from prefect_oxen.blocks import OxenCredentials
from prefect_oxen.engine import (
    GenerationResult,
    PersistedVideo,
    named_after,
    persist_result,
    retry_if_transient_or_download,
)

__all__ = ["persist_video"]


@task(
    name="persist-video",
    task_run_name=named_after("persist", "result"),
    retries=2,
    retry_delay_seconds=[1, 5],
    retry_condition_fn=retry_if_transient_or_download,
    cache_policy=NO_CACHE,
    cache_result_in_memory=False,
)
async def persist_video(
    result: GenerationResult,
    credentials: OxenCredentials,
    output_dir: str | os.PathLike[str],
    filename: str | None = None,
    verify: bool = True,
    poster: bool = True,
    duration_tolerance: float = 0.5,
    quarantine_dir: str | os.PathLike[str] | None = None,
) -> PersistedVideo:
    """Download (or take the staged file of) `result`, verify it is the mp4 asked for, and return
    its path, size, sha256, duration and resolution.

    Downloads stream to a temporary file that is renamed into place only when complete; a cut
    body is resumed with Range requests and an expired URL is refreshed from the generation. A
    file that does not decode is a broken copy: it is removed and fetched again (free). A video
    that decodes but does not match the request (duration, aspect ratio) was paid for, so it is
    never deleted: it is moved to `quarantine_dir` (default ``<output_dir>/quarantine/``) with a
    JSON note saying why, and the task fails with `VideoQuarantined` naming both. A re-run
    reattaches to the journaled generation (no new charge) and reports the quarantined file again.

    Multi-shot (``multi_prompt``) videos are the exception for duration: the API decides their
    real length (it may trim or pad shots), so a length that differs from the sum of the shots is
    a warning, recorded in the verification (and so in the archive manifest), and the video is
    archived; a wrong aspect ratio still quarantines it.

    Example:
        ```python
        persisted = await persist_video(result, OxenCredentials.load("BLOCK_NAME"), "videos/")
        print(persisted.path, persisted.sha256)
        ```

    Args:
        result: The generation to bring to disk.
        credentials: The credentials it was paid with (to refresh an expired URL).
        output_dir: The directory for the video (created if missing).
        filename: A file name instead of the item's key.
        verify: Compare duration and aspect ratio with the request (decoding is always checked).
        poster: Write a PNG poster frame next to the video.
        duration_tolerance: Seconds the duration may differ from the request's.
        quarantine_dir: Where a video failing verification is kept.

    Returns:
        The verified file: path, size, sha256, duration, resolution and verification.

    Raises:
        DownloadError: The result cannot be fetched (retried when it may recover).
        VideoDecodeError: The download is not a decodable mp4 (removed, fetched again).
        VideoQuarantined: The video does not match the request (kept in quarantine).
    """
    persisted = await persist_result(
        result,
        credentials,
        output_dir,
        filename=filename,
        verify=verify,
        poster=poster,
        duration_tolerance=duration_tolerance,
        quarantine_dir=quarantine_dir,
    )
    get_run_logger().info(
        "Persisted %s: %d bytes, %.2f s, %dx%d.",
        result.label,
        persisted.size_bytes,
        persisted.duration_seconds,
        persisted.width,
        persisted.height,
    )
    return persisted
