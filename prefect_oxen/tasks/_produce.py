"""`produce_video`: a whole video in one task run: generate, persist, archive, journal.

For batches. Every task run costs Prefect bookkeeping on both sides of its API (measured here at
15-25 ms of CPU per run), which at thousands of videos is most of the client's work; one run per
video keeps a run per item in the UI and halves that cost. It is as safe to retry as its parts:
a retry reattaches to the journaled generation (one GET, no new charge), downloading again is
free and archiving is idempotent.
"""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from prefect_oxen.engine import named_after, produce_result, retry_if_item_may_recover

__all__ = ["produce_video"]

# The engine function is the task's function: its signature, defaults and docstring are the task's.
produce_video = task(
    name="produce-video",
    task_run_name=named_after("video", "request"),
    retries=2,
    retry_delay_seconds=[2, 15],
    retry_condition_fn=retry_if_item_may_recover,
    cache_policy=NO_CACHE,
    cache_result_in_memory=False,
)(produce_result)
