"""`persist_video`: bring a generated video to local disk, whole and verified."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from prefect_oxen.engine import named_after, persist_result, retry_if_transient_or_download

__all__ = ["persist_video"]

# The engine function is the task's function: its signature, defaults and docstring are the task's.
persist_video = task(
    name="persist-video",
    task_run_name=named_after("persist", "result"),
    retries=2,
    retry_delay_seconds=[1, 5],
    retry_condition_fn=retry_if_transient_or_download,
    cache_policy=NO_CACHE,
    cache_result_in_memory=False,
)(persist_result)
