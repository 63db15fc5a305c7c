"""The `@task` definitions over the engine's step bodies.

Their run names say which item a run is about (``generate-fox``): set once on each definition as
a callable, because a `with_options(task_run_name=...)` per item rebuilds the task every time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.utilities.annotations import BaseAnnotation

from prefect_oxen.engine import (
    archive_persisted,
    check_batch,
    check_request,
    deliver_result,
    generate_result,
    generation_cache_key,
    persist_result,
    produce_result,
    retry_if_delivery_may_recover,
    retry_if_item_may_recover,
    retry_if_storage_may_recover,
    retry_if_transient,
    retry_if_transient_or_download,
)
from prefect_oxen.media import stitch_videos

__all__ = [
    "archive_video",
    "deliver_video",
    "generate_video",
    "persist_video",
    "produce_video",
    "stitch_shots",
    "validate_batch",
    "validate_video_request",
]


def _label(value: Any) -> str | None:
    """The item a parameter value names: its key, or the start of its fingerprint."""
    if isinstance(value, BaseAnnotation):  # quote(request): the request is inside
        value = value.unwrap()
    if value is None:
        return None
    if isinstance(value, str):
        return value
    key = getattr(value, "key", None)
    if key:
        return str(key)
    fingerprint = getattr(value, "fingerprint", None)
    return fingerprint[:12] if isinstance(fingerprint, str) else None


def named_after(prefix: str, *parameters: str) -> Callable[[], str]:
    """A task-run-name function: `prefix` plus the first of `parameters` that names an item.

    Args:
        prefix: The start of every name, e.g. "generate".
        *parameters: Task parameter names to take the item's key (or fingerprint) from, in order.

    Returns:
        A function Prefect calls for each task run's name (``generate-fox``, or `prefix` alone).
    """

    def name() -> str:
        from prefect.runtime import task_run

        values = task_run.parameters or {}
        for parameter in parameters:
            label = _label(values.get(parameter))
            if label:
                return f"{prefix}-{label}"
        return prefix

    name.__name__ = f"{prefix}_run_name"
    return name


# Each engine function is its task's function: the signature, defaults and docstring are the task's.

validate_video_request = task(
    name="validate-video-request",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=2,
    retry_condition_fn=retry_if_transient,
)(check_request)

validate_batch = task(name="validate-batch", cache_policy=NO_CACHE)(check_batch)

generate_video = task(
    name="generate-video",
    task_run_name=named_after("generate", "key", "request"),
    retries=2,
    retry_delay_seconds=[2, 15],
    retry_condition_fn=retry_if_transient,
    cache_key_fn=generation_cache_key,
    cache_expiration=timedelta(days=7),
    cache_result_in_memory=False,
    persist_result=True,
)(generate_result)

persist_video = task(
    name="persist-video",
    task_run_name=named_after("persist", "result"),
    retries=2,
    retry_delay_seconds=[1, 5],
    retry_condition_fn=retry_if_transient_or_download,
    cache_policy=NO_CACHE,
    cache_result_in_memory=False,
)(persist_result)

archive_video = task(
    name="archive-video",
    task_run_name=named_after("archive", "result"),
    retries=2,
    retry_delay_seconds=[2, 10],
    retry_condition_fn=retry_if_storage_may_recover,
    cache_policy=NO_CACHE,
)(archive_persisted)

deliver_video = task(
    name="deliver-video",
    task_run_name=named_after("deliver", "result"),
    retries=2,
    retry_delay_seconds=[1, 5],
    retry_condition_fn=retry_if_delivery_may_recover,
    cache_policy=NO_CACHE,
    cache_result_in_memory=False,
)(deliver_result)

produce_video = task(
    name="produce-video",
    task_run_name=named_after("video", "request"),
    retries=2,
    retry_delay_seconds=[2, 15],
    retry_condition_fn=retry_if_item_may_recover,
    cache_policy=NO_CACHE,
    cache_result_in_memory=False,
)(produce_result)


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
