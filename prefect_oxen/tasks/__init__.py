"""Prefect tasks: validate -> generate -> persist -> archive, each useful alone and safe to retry.

`deliver_video` fuses persist and archive, `produce_video` the whole item (what the batch runs).
Every task is a thin `@task` over its body in `prefect_oxen.engine`; the records they return are
re-exported here.
"""

from prefect_oxen.engine import (
    DeliveredVideo,
    GenerationJournal,
    GenerationResult,
    JournalEntry,
    PersistedVideo,
    ProducedVideo,
    ValidatedRequest,
    close_shared_clients,
    journal_at,
    open_archive,
    shared_async_client,
    using_shared_clients,
)
from prefect_oxen.tasks._archive import archive_video
from prefect_oxen.tasks._deliver import deliver_video
from prefect_oxen.tasks._generate import generate_video
from prefect_oxen.tasks._persist import persist_video
from prefect_oxen.tasks._produce import produce_video
from prefect_oxen.tasks._stitch import stitch_shots
from prefect_oxen.tasks._validate import validate_batch, validate_video_request

__all__ = [
    "DeliveredVideo",
    "GenerationJournal",
    "GenerationResult",
    "JournalEntry",
    "PersistedVideo",
    "ProducedVideo",
    "ValidatedRequest",
    "archive_video",
    "close_shared_clients",
    "deliver_video",
    "generate_video",
    "journal_at",
    "open_archive",
    "persist_video",
    "produce_video",
    "shared_async_client",
    "stitch_shots",
    "using_shared_clients",
    "validate_batch",
    "validate_video_request",
]
