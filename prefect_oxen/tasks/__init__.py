"""Prefect tasks: validate -> generate -> persist -> archive, each useful alone and safe to retry."""

from prefect_oxen.tasks.archive import archive_video, open_archive
from prefect_oxen.tasks.clients import (
    close_shared_clients,
    shared_async_client,
    using_shared_clients,
)
from prefect_oxen.tasks.deliver import DeliveredVideo, deliver_video
from prefect_oxen.tasks.generate import generate_video
from prefect_oxen.tasks.journal import GenerationJournal, JournalEntry, journal_at
from prefect_oxen.tasks.persist import persist_video
from prefect_oxen.tasks.results import GenerationResult, PersistedVideo, ValidatedRequest
from prefect_oxen.tasks.validate import validate_video_request

__all__ = [
    "DeliveredVideo",
    "GenerationJournal",
    "GenerationResult",
    "JournalEntry",
    "PersistedVideo",
    "ValidatedRequest",
    "archive_video",
    "close_shared_clients",
    "deliver_video",
    "generate_video",
    "journal_at",
    "open_archive",
    "persist_video",
    "shared_async_client",
    "using_shared_clients",
    "validate_video_request",
]
