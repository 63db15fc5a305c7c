"""`generate_video`: pay for a video once, whatever crashes, retries or re-runs happen around it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from prefect import get_run_logger, task

from prefect_oxen.blocks import OxenCredentials
from prefect_oxen.client import VideoRequest
from prefect_oxen.engine import (
    GenerationMode,
    GenerationResult,
    ValidatedRequest,
    generate_result,
    generation_cache_key,
    named_after,
    retry_if_transient,
)

__all__ = ["generate_video"]


@task(
    name="generate-video",
    task_run_name=named_after("generate", "key", "request"),
    retries=2,
    retry_delay_seconds=[2, 15],
    retry_condition_fn=retry_if_transient,
    cache_key_fn=generation_cache_key,
    cache_expiration=timedelta(days=7),
    cache_result_in_memory=False,
    persist_result=True,
)
async def generate_video(
    request: ValidatedRequest | VideoRequest | dict[str, Any],
    credentials: OxenCredentials,
    mode: GenerationMode = "auto",
    key: str | None = None,
    journal_path: str | None = None,
    staging_dir: str | None = None,
    timeout: float = 3600.0,
    start_timeout: float | None = None,
    cancel_on_timeout: bool = False,
) -> GenerationResult:
    """Generate one video and return where it is (generation id and URL, or a staged file).

    Safe to retry and re-run: the generation id is journaled before anything waits on it, so a
    retry, a crash or a new flow run reattaches to the paid generation instead of paying again,
    and a completed result is cached under a key over the validated request. `mode` is "queue"
    (enqueue, then wait by events with polling as a net), "sync" (the blocking endpoint; needed
    for b64_json) or "auto" (queue unless b64_json is asked for).

    Example:
        ```python
        from prefect import flow
        from prefect_oxen import OxenCredentials
        from prefect_oxen.tasks import generate_video, persist_video


        @flow
        async def one_video():
            creds = OxenCredentials.load("BLOCK_NAME")
            request = {
                "model": "kling-video-v2-6-pro-text-to-video",
                "prompt": "a fox",
                "duration": 5,
            }
            result = await generate_video(request, creds, key="fox")
            return await persist_video(result, creds, "videos/")
        ```

    Args:
        request: The request, validated or not (then it is checked first).
        credentials: The credentials to pay with.
        mode: "queue", "sync" or "auto".
        key: The item's id (overrides the validated request's).
        journal_path: The journal; empty for ``$PREFECT_HOME/oxen/journal.jsonl``.
        staging_dir: Where synchronous results are written; empty for under PREFECT_HOME.
        timeout: Seconds the generation may run, counted from when the API starts it.
        start_timeout: Seconds it may wait in the API's queue before starting; empty for no bound.
        cancel_on_timeout: Cancel the generation (unbilled) when `timeout` passes.

    Returns:
        Where the video is, with timings and whether an earlier generation was reattached.

    Raises:
        GenerationFailed: The API reported the generation failed (not billed; retried).
        DeadlineExceeded: It did not finish in time.
        GenerationError: A journaled, paid generation is unknown to the API (not paid again).
    """
    result = await generate_result(
        request,
        credentials,
        mode=mode,
        key=key,
        journal_path=journal_path,
        staging_dir=staging_dir,
        timeout=timeout,
        start_timeout=start_timeout,
        cancel_on_timeout=cancel_on_timeout,
    )
    get_run_logger().info(
        "Generated %s (%s%s).",
        result.label,
        f"generation {result.generation_id}" if result.generation_id else "synchronous",
        ", reattached: no new charge"
        if result.reattached
        else f", {result.wall_seconds or 0:.1f} s",
    )
    return result
