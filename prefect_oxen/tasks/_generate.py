"""`generate_video`: pay for a video once, whatever crashes, retries or re-runs happen around it."""

from __future__ import annotations

from datetime import timedelta

from prefect import task

from prefect_oxen.engine import (
    generate_result,
    generation_cache_key,
    named_after,
    retry_if_transient,
)

__all__ = ["generate_video"]

# The engine function is the task's function: its signature, defaults and docstring are the task's.
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
