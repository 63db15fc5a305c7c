"""Prefect tasks: validate -> generate -> persist -> archive, each useful alone and safe to retry."""

from prefect_oxen.tasks.archive import archive_video, open_archive
from prefect_oxen.tasks.clients import close_shared_clients, shared_async_client
from prefect_oxen.tasks.generate import generate_video
from prefect_oxen.tasks.journal import GenerationJournal, JournalEntry
from prefect_oxen.tasks.persist import persist_video
from prefect_oxen.tasks.results import GenerationResult, PersistedVideo, ValidatedRequest
from prefect_oxen.tasks.validate import validate_video_request

__all__ = [
    "GenerationJournal",
    "GenerationResult",
    "JournalEntry",
    "PersistedVideo",
    "ValidatedRequest",
    "archive_video",
    "close_shared_clients",
    "generate_video",
    "open_archive",
    "persist_video",
    "shared_async_client",
    "validate_video_request",
]
