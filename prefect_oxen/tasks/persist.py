"""`persist_video`: bring a generated video to local disk, whole and verified."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from prefect_oxen.blocks import OxenCredentials
from prefect_oxen.client import DownloadError
from prefect_oxen.media import VideoVerificationError, verify_video, write_poster_frame
from prefect_oxen.storage import sanitize_key_component, sha256_file
from prefect_oxen.tasks.clients import shared_async_client
from prefect_oxen.tasks.results import GenerationResult, PersistedVideo
from prefect_oxen.tasks.retry_conditions import retry_if_transient_or_download
from prefect_oxen.tasks.run_names import named_after

__all__ = ["persist_result", "persist_video"]


def _video_path(output_dir: Path, result: GenerationResult, filename: str | None) -> Path:
    name = filename or f"{sanitize_key_component(result.key) if result.key else result.fingerprint[:16]}.mp4"
    # Lexical checks (abspath/normpath): resolve() would lstat every component, per item.
    root = Path(os.path.abspath(output_dir))
    path = Path(os.path.normpath(root / name))
    if path.parent != root:
        raise ValueError(f"filename {filename!r} would leave the output directory {output_dir}")
    return path


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
) -> PersistedVideo:
    """Download (or take the staged file of) `result`, verify it is the mp4 asked for, and return
    its path, size, sha256, duration and resolution.

    Downloads stream to a temporary file that is renamed into place only when complete; a cut
    body is resumed with Range requests and an expired URL is refreshed from the generation. The
    file must decode and match the requested duration and aspect ratio, or the task fails with a
    `VideoVerificationError` saying what differs. Fetching again costs nothing, so it is retried.

    Example:
        ```python
        persisted = await persist_video(result, OxenCredentials.load("BLOCK_NAME"), "videos/")
        print(persisted.path, persisted.sha256)
        ```
    """
    persisted = await persist_result(
        result, credentials, output_dir, filename=filename, verify=verify, poster=poster,
        duration_tolerance=duration_tolerance,
    )
    get_run_logger().info(
        "Persisted %s: %d bytes, %.2f s, %dx%d.", result.key or result.fingerprint[:12],
        persisted.size_bytes, persisted.duration_seconds, persisted.width, persisted.height,
    )
    return persisted


async def persist_result(
    result: GenerationResult,
    credentials: OxenCredentials,
    output_dir: str | os.PathLike[str],
    *,
    filename: str | None = None,
    verify: bool = True,
    poster: bool = True,
    duration_tolerance: float = 0.5,
) -> PersistedVideo:
    """What `persist_video` does, callable inside another task (see `deliver_video`)."""
    logger = get_run_logger()
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    path = _video_path(output, result, filename)
    label = result.key or result.fingerprint[:12]

    if result.staged_path:
        staged = Path(result.staged_path)
        if not staged.exists():
            raise DownloadError(
                f"The synchronously generated video of {label} is no longer at {staged}; sync results "
                "cannot be fetched again. Re-run with refresh_cache to generate it anew.",
            )
        if os.path.abspath(staged) != str(path):
            await asyncio.to_thread(_link_or_copy, staged, path)
        digest = await asyncio.to_thread(sha256_file, path)
    else:
        if not result.result_url and not result.generation_id:
            raise DownloadError(f"The result of {label} has neither a URL nor a generation id.")
        client = shared_async_client(credentials)
        url = result.result_url or await client.fresh_result_url(result.generation_id)
        download = await client.download(url, path, generation_id=result.generation_id)
        digest = download.sha256
        if download.attempts > 1 or download.refreshed_url:
            logger.info(
                "Downloaded %s in %d attempt(s)%s.", label, download.attempts,
                " after refreshing its expired URL" if download.refreshed_url else "",
            )

    try:
        verification = await asyncio.to_thread(
            verify_video,
            path,
            expected_duration=result.total_duration if verify else None,
            expected_aspect_ratio=result.aspect_ratio if verify else None,
            duration_tolerance=duration_tolerance,
        )
    except VideoVerificationError:
        # A bad file must not look like a finished one to a later run.
        path.unlink(missing_ok=True)
        raise
    probe = verification.probe
    poster_path = None
    if poster:
        poster_path = str(await asyncio.to_thread(write_poster_frame, path, path.with_suffix(".png")))
    # DEBUG here: the task (or the composite task) calling this logs one line per video.
    logger.debug(
        "Persisted %s: %d bytes, %.2f s, %dx%d, sha256 %s.",
        label, probe.size_bytes, probe.duration_seconds, probe.width, probe.height, digest[:12],
    )
    return PersistedVideo(
        path=str(path),
        size_bytes=probe.size_bytes,
        sha256=digest,
        duration_seconds=probe.duration_seconds,
        width=probe.width,
        height=probe.height,
        has_audio=probe.has_audio,
        poster_path=poster_path,
        verification={
            "checks": verification.checks,
            "duration_seconds": probe.duration_seconds,
            "width": probe.width,
            "height": probe.height,
            "video_codec": probe.video_codec,
            "has_audio": probe.has_audio,
        },
    )


def _link_or_copy(source: Path, target: Path) -> None:
    import shutil

    from prefect_oxen.storage import atomic_write

    try:
        tmp = target.with_name(f".{target.name}.link")
        tmp.unlink(missing_ok=True)
        os.link(source, tmp)
        os.replace(tmp, target)
    except OSError:
        with open(source, "rb") as src, atomic_write(target, "wb") as dst:
            shutil.copyfileobj(src, dst, 1024 * 1024)
