"""Prefect tasks: validate -> generate -> persist -> archive, each useful alone and safe to retry.

`deliver_video` fuses persist and archive, `produce_video` the whole item (what the batch runs):
one task run instead of several saves Prefect's per-run bookkeeping, and each fused task is as
safe to retry as its idempotent parts (a retry reattaches to the journaled generation).
"""

from prefect_oxen.engine import (
    GenerationJournal,
    GenerationResult,
    JournalEntry,
    close_shared_clients,
)
from prefect_oxen.tasks._tasks import (
    archive_video,
    deliver_video,
    generate_video,
    persist_video,
    produce_video,
    stitch_shots,
    validate_batch,
    validate_video_request,
)

__all__ = [
    "GenerationJournal",
    "GenerationResult",
    "JournalEntry",
    "archive_video",
    "close_shared_clients",
    "deliver_video",
    "generate_video",
    "persist_video",
    "produce_video",
    "stitch_shots",
    "validate_batch",
    "validate_video_request",
]
