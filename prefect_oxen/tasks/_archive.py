"""`archive_video`: put a verified video and its manifest where the team keeps them."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from prefect_oxen.engine import archive_persisted, named_after, retry_if_storage_may_recover

__all__ = ["archive_video"]

# The engine function is the task's function: its signature, defaults and docstring are the task's.
archive_video = task(
    name="archive-video",
    task_run_name=named_after("archive", "result"),
    retries=2,
    retry_delay_seconds=[2, 10],
    retry_condition_fn=retry_if_storage_may_recover,
    cache_policy=NO_CACHE,
)(archive_persisted)
