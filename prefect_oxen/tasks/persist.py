"""`persist_video`: bring a generated video to local disk, whole and verified."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from prefect_oxen.blocks import OxenCredentials
from prefect_oxen.client import DownloadError
from prefect_oxen.media import (
    VideoDecodeError,
    VideoQuarantined,
    VideoVerificationError,
    probe_video,
    quarantine_video,
    verify_video,
    write_poster_frame,
)
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
    """
    persisted = await persist_result(
        result, credentials, output_dir, filename=filename, verify=verify, poster=poster,
        duration_tolerance=duration_tolerance, quarantine_dir=quarantine_dir,
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
    quarantine_dir: str | os.PathLike[str] | None = None,
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

    multi_shot = bool(result.request.get("multi_prompt"))
    try:
        verification = await asyncio.to_thread(
            verify_video,
            path,
            expected_duration=result.total_duration if verify else None,
            expected_aspect_ratio=result.aspect_ratio if verify else None,
            duration_tolerance=duration_tolerance,
            duration_must_match=not multi_shot,
        )
    except VideoDecodeError:
        # A broken copy must not look like a finished one to a later run. The paid original is
        # still at the API (or, for sync results, in the staging file), so nothing is lost.
        if not (result.staged_path and os.path.abspath(result.staged_path) == str(path)):
            path.unlink(missing_ok=True)
        raise
    except VideoVerificationError as exc:
        quarantine = Path(quarantine_dir) if quarantine_dir else output / "quarantine"
        kept = await asyncio.to_thread(_quarantine, path, quarantine, result, exc, digest)
        raise kept from exc
    for warning in verification.warnings:
        logger.warning(
            "Video %s: %s; archived anyway (the API decides a multi-shot video's length).",
            label, warning,
        )
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
            **({"warnings": list(verification.warnings)} if verification.warnings else {}),
            "duration_seconds": probe.duration_seconds,
            "width": probe.width,
            "height": probe.height,
            "video_codec": probe.video_codec,
            "has_audio": probe.has_audio,
        },
    )


def _quarantine(
    path: Path, folder: Path, result: GenerationResult, failure: VideoVerificationError, digest: str
) -> VideoQuarantined:
    """Keep the paid video that failed verification; the error to raise names where it is."""
    probe = probe_video(path)  # it decodes: only a comparison failed
    staged = bool(result.staged_path) and os.path.abspath(result.staged_path or "") == str(path)
    kept = quarantine_video(
        path,
        folder,
        # The hash keeps a different video under the same id from replacing this one.
        name=f"{path.stem}.{digest[:12]}.mp4",
        keep_original=staged,  # the staged file of a sync result is its only copy
        reason={
            "reason": "failed verification",
            "problems": list(failure.problems),
            "key": result.key,
            "generation_id": result.generation_id,
            "model": result.model,
            "expected": {
                "duration_seconds": result.total_duration,
                "aspect_ratio": result.aspect_ratio,
            },
            "found": {
                "duration_seconds": round(probe.duration_seconds, 3),
                "width": probe.width,
                "height": probe.height,
            },
            "sha256": digest,
            "size_bytes": probe.size_bytes,
        },
    )
    label = result.key or result.fingerprint[:12]
    regenerate = (
        f"generation {result.generation_id} stays in the journal, so running again fetches it "
        "again at no charge" if result.generation_id else "running again reuses the staged file"
    )
    # The path first: reports shorten long messages, and where the video is matters most.
    return VideoQuarantined(
        f"The paid video {label} failed verification and was kept, not deleted: {kept.path} "
        f"(why: {kept.reason_path.name}): {'; '.join(failure.problems)}. It was not archived; "
        f"{regenerate}. Check the video and the request (or the tolerances).",
        path=kept.path,
        reason_path=kept.reason_path,
        problems=failure.problems,
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
