"""Bringing a generated video to local disk, whole and verified (or quarantined, never lost)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from prefect import get_run_logger

from prefect_oxen._files import link_or_copy, sha256_file
from prefect_oxen.blocks import OxenCredentials
from prefect_oxen.client import DownloadError
from prefect_oxen.engine._clients import shared_async_client
from prefect_oxen.engine._records import GenerationResult, PersistedVideo, summary_level
from prefect_oxen.media import (
    VideoDecodeError,
    VideoQuarantined,
    VideoVerification,
    VideoVerificationError,
    probe_video,
    quarantine_video,
    verify_video,
    write_poster_frame,
)
from prefect_oxen.storage import sanitize_key_component

__all__ = ["persist_result", "persisted_video", "video_path"]


def video_path(
    output_dir: str | os.PathLike[str], result: GenerationResult, filename: str | None = None
) -> Path:
    """Where `result`'s video goes under `output_dir`: its sanitised key, or its fingerprint.

    Args:
        output_dir: The directory.
        result: The generation (its key names the file).
        filename: A file name to use instead.

    Returns:
        The absolute path, inside `output_dir`.

    Raises:
        ValueError: `filename` would leave `output_dir`.
    """
    stem = sanitize_key_component(result.key) if result.key else result.fingerprint[:16]
    name = filename or f"{stem}.mp4"
    # Lexical checks (abspath/normpath): resolve() would lstat every component, per item.
    root = Path(os.path.abspath(output_dir))
    path = Path(os.path.normpath(root / name))
    if path.parent != root:
        raise ValueError(f"filename {filename!r} would leave the output directory {output_dir}")
    return path


async def persist_result(
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

    The function of the `persist_video` task (and a step of `deliver_video` / `produce_video`).
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
    logger = get_run_logger()
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    path = video_path(output, result, filename)
    digest = await _bring_to_disk(result, credentials, path, logger)
    quarantine = Path(quarantine_dir) if quarantine_dir else output / "quarantine"
    verification = await _verified(
        result, path, digest, quarantine, verify=verify, duration_tolerance=duration_tolerance
    )
    for warning in verification.warnings:
        logger.warning(
            "Video %s: %s; archived anyway (the API decides a multi-shot video's length).",
            result.label,
            warning,
        )
    poster_path = None
    if poster:
        poster_path = str(
            await asyncio.to_thread(write_poster_frame, path, path.with_suffix(".png"))
        )
    probe = verification.probe
    logger.log(
        summary_level(),
        "Persisted %s: %d bytes, %.2f s, %dx%d, sha256 %s.",
        result.label,
        probe.size_bytes,
        probe.duration_seconds,
        probe.width,
        probe.height,
        digest[:12],
    )
    return persisted_video(path, digest, verification, poster_path=poster_path)


def persisted_video(
    path: Path, digest: str, verification: VideoVerification, *, poster_path: str | None = None
) -> PersistedVideo:
    """The record of a verified file.

    Args:
        path: The file.
        digest: Its sha256.
        verification: What `verify_video` found (its probe, checks and warnings).
        poster_path: Its poster frame, if one was written.

    Returns:
        The record the archive step takes.
    """
    probe = verification.probe
    facts = {"duration_seconds", "width", "height", "has_audio"}
    return PersistedVideo(
        path=str(path),
        sha256=digest,
        poster_path=poster_path,
        verification={
            "checks": verification.checks,
            **({"warnings": list(verification.warnings)} if verification.warnings else {}),
            **probe.model_dump(include=facts | {"video_codec"}),
        },
        **probe.model_dump(include=facts | {"size_bytes"}),
    )


async def _bring_to_disk(
    result: GenerationResult, credentials: OxenCredentials, path: Path, logger: Any
) -> str:
    """Put `result`'s video at `path` (link the staged file, or download); its sha256."""
    label = result.label
    if result.staged_path:
        staged = Path(result.staged_path)
        if not staged.exists():
            raise DownloadError(
                f"The synchronously generated video of {label} is no longer at {staged}; sync "
                "results cannot be fetched again. Re-run with refresh_cache to generate it anew.",
            )
        if os.path.abspath(staged) != str(path):
            await asyncio.to_thread(link_or_copy, staged, path)
        return await asyncio.to_thread(sha256_file, path)
    if not result.result_url and not result.generation_id:
        raise DownloadError(f"The result of {label} has neither a URL nor a generation id.")
    client = shared_async_client(credentials)
    url = result.result_url or await client.fresh_result_url(result.generation_id or "")
    download = await client.download(url, path, generation_id=result.generation_id)
    if download.attempts > 1 or download.refreshed_url:
        logger.info(
            "Downloaded %s in %d attempt(s)%s.",
            label,
            download.attempts,
            " after refreshing its expired URL" if download.refreshed_url else "",
        )
    return download.sha256


async def _verified(
    result: GenerationResult,
    path: Path,
    digest: str,
    quarantine: Path,
    *,
    verify: bool,
    duration_tolerance: float,
) -> VideoVerification:
    """`verify_video` of the file; a broken copy is removed, a wrong video quarantined."""
    try:
        return await asyncio.to_thread(
            verify_video,
            path,
            expected_duration=result.total_duration if verify else None,
            expected_aspect_ratio=result.aspect_ratio if verify else None,
            duration_tolerance=duration_tolerance,
            duration_must_match=not result.request.get("multi_prompt"),
        )
    except VideoDecodeError:
        # A broken copy must not look like a finished one to a later run. The paid original is
        # still at the API (or, for sync results, in the staging file), so nothing is lost.
        if not (result.staged_path and os.path.abspath(result.staged_path) == str(path)):
            path.unlink(missing_ok=True)
        raise
    except VideoVerificationError as exc:
        kept = await asyncio.to_thread(_quarantine, path, quarantine, result, exc, digest)
        raise kept from exc


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
        "again at no charge"
        if result.generation_id
        else "running again reuses the staged file"
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
