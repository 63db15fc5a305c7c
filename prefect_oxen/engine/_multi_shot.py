"""The plain parts of a stitched multi-shot video: the shots' requests, the stitched file's
records (so it is archived like any other video) and its report."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from prefect_oxen.client import Shot, VideoRequest
from prefect_oxen.engine._item import ItemRun
from prefect_oxen.engine._persist import persisted_video
from prefect_oxen.engine._records import GenerationResult, PersistedVideo, ValidatedRequest
from prefect_oxen.engine._report import ItemReport
from prefect_oxen.media import verify_video
from prefect_oxen.storage import ArchiveRecord, sha256_file

__all__ = [
    "combined_result",
    "shot_key",
    "shot_requests",
    "stitched_report",
    "stitched_video",
]


def shot_key(key: str, index: int) -> str:
    """The id of shot `index` (0-based) of the video `key`.

    Args:
        key: The video's id.
        index: The shot's position, from 0.

    Returns:
        E.g. ``intro-shot-01``.
    """
    return f"{key}-shot-{index + 1:02d}"


def combined_result(
    shots: list[ValidatedRequest], parsed: list[Shot], *, key: str, common: dict[str, Any]
) -> GenerationResult:
    """The stitched video described as one generation: what the archive step takes.

    Args:
        shots: The shots' validated requests, in order.
        parsed: The shots as asked for.
        key: The video's id.
        common: The options every shot had (aspect_ratio, generate_audio, seed).

    Returns:
        The multi-shot request with the shots' summed cost (no generation id: there were
        several).
    """
    model = shots[0].request.model
    return GenerationResult(
        key=key,
        fingerprint=shots[0].fingerprint,
        model=model,
        mode="queue",
        request={"model": model, "multi_prompt": [s.model_dump() for s in parsed], **common},
        cost_usd=round(sum(v.estimated_cost_usd or 0 for v in shots), 6),
    )


async def stitched_video(stitched: Path, combined: GenerationResult) -> PersistedVideo:
    """Verify the stitched file against the shots it was made from.

    Args:
        stitched: The stitched mp4.
        combined: Its combined generation (`combined_result`).

    Returns:
        The verified file.

    Raises:
        VideoVerificationError: It is not as long as its shots, or has another aspect ratio.
    """
    verification = await asyncio.to_thread(
        verify_video,
        stitched,
        # Summed here: the combined request is a description, not one the API validated.
        expected_duration=sum(shot["duration"] for shot in combined.request["multi_prompt"]),
        expected_aspect_ratio=combined.aspect_ratio,
    )
    digest = await asyncio.to_thread(sha256_file, stitched)
    return persisted_video(stitched, digest, verification)


def stitched_report(
    key: str,
    parsed: list[Shot],
    runs: list[ItemRun],
    persisted: PersistedVideo,
    record: ArchiveRecord,
) -> ItemReport:
    """The report of the stitched video: what this run paid for its shots, where it is.

    Args:
        key: The video's id.
        parsed: The shots as asked for.
        runs: The shots' item runs (all archived).
        persisted: The stitched file.
        record: Where it was archived.

    Returns:
        An `archived` report.
    """
    reports = [run.report for run in runs]
    paid = sum(report.cost_usd or 0.0 for report in reports if report.paid_by == "this run")
    return ItemReport(
        key=key,
        model=runs[0].validated.request.model,
        prompt=parsed[0].prompt,
        status="archived",
        video_seconds=persisted.duration_seconds,
        cost_usd=paid or None,
        archive_uri=record.uri,
        view_url=record.view_url,
        sha256=record.sha256,
        poster_path=next((r.poster_path for r in reports if r.poster_path), None),
    )


def shot_requests(model: str, parsed: list[Shot], common: dict[str, Any]) -> list[VideoRequest]:
    """One request per shot, with the options they share.

    Args:
        model: The model id.
        parsed: The shots.
        common: The options every shot has.

    Returns:
        The requests, in order.
    """
    return [
        VideoRequest(model=model, prompt=shot.prompt, duration=shot.duration, **common)
        for shot in parsed
    ]
