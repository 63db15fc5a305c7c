"""`validate_video_request` and `validate_batch`: the gate before any money is spent."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from prefect_oxen.engine import check_batch, check_request, retry_if_transient

__all__ = ["validate_batch", "validate_video_request"]

# The engine functions are the tasks' functions: signatures, defaults and docstrings are theirs.
validate_video_request = task(
    name="validate-video-request",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=2,
    retry_condition_fn=retry_if_transient,
)(check_request)

validate_batch = task(name="validate-batch", cache_policy=NO_CACHE)(check_batch)
