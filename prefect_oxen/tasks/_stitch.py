"""`stitch_shots`: several shot files as one mp4, in order."""

from __future__ import annotations

import asyncio
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from prefect_oxen.media import stitch_videos

__all__ = ["stitch_shots"]


@task(name="stitch-shots", cache_policy=NO_CACHE)
async def stitch_shots(paths: list[str], output: str) -> tuple[str, float]:
    """Concatenate shot files in order (remux when streams match, else re-encode).

    Args:
        paths: The shot files, in order.
        output: The file to write.

    Returns:
        How they were joined ("remux" or "reencode") and the result's duration in seconds.

    Raises:
        MediaError: A shot cannot be read or the result cannot be written.
    """
    result = await asyncio.to_thread(stitch_videos, [Path(p) for p in paths], Path(output))
    return result.mode, result.duration_seconds
