"""When a task may be run again: only when a repeat cannot lose or double-pay anything.

Each condition is a Prefect ``retry_condition_fn``: it gets the task, its run and the failed
state, and returns True when Prefect should run the task again; the exception in the state
decides. The conditions are ordered rule tables (the first rule whose types match the exception
gives the verdict; none: no retry), built from one another, so that a step's rule is written once
and the fused tasks reuse their steps' rules.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prefect import Task
from prefect.client.schemas.objects import State, TaskRun

from prefect_oxen.client import DownloadError, GenerationFailed, OxenError
from prefect_oxen.media import MediaError, VideoQuarantined
from prefect_oxen.storage import ArchiveConflict, InvalidObjectKey

__all__ = [
    "retry_if_delivery_may_recover",
    "retry_if_item_may_recover",
    "retry_if_storage_may_recover",
    "retry_if_transient",
    "retry_if_transient_or_download",
]

_Rules = tuple[tuple[tuple[type[BaseException], ...], Callable[[BaseException], bool]], ...]


def _always(exc: BaseException) -> bool:
    """Retry."""
    return True


def _never(exc: BaseException) -> bool:
    """Do not retry."""
    return False


def _if_retryable(exc: BaseException) -> bool:
    """Retry what the client's error says may recover (rate limit, 5xx, broken connection)."""
    return bool(getattr(exc, "retryable", False))


# The API: a failed generation is not billed and the journal makes the new attempt a fresh,
# single submission; other errors say whether they may recover.
_API: _Rules = (((GenerationFailed,), _always), ((OxenError,), _if_retryable))
# Fetching a result again costs nothing; a quarantined video failed on its content, which a new
# download cannot change; an expired sync URL (ResultExpired) says it cannot come back; a corrupt
# download is fetched again (a bad render fails after the retries).
_DOWNLOAD: _Rules = (
    ((VideoQuarantined,), _never),
    ((DownloadError,), _if_retryable),
    ((MediaError,), _always),
    *_API,
)
# Archiving is idempotent: everything but a bad key or a conflicting object may recover.
_STORAGE: _Rules = (
    ((InvalidObjectKey, ArchiveConflict, ValueError, TypeError), _never),
    ((BaseException,), _always),
)
# Persist + archive: the download rules, then the storage rules (a disk error may recover).
_DELIVERY: _Rules = (
    ((InvalidObjectKey, ArchiveConflict), _never),
    *_DOWNLOAD,
    ((OSError,), _always),
    *_STORAGE,
)


def _verdict(rules: _Rules, state: State[Any]) -> bool:
    """The verdict of the first rule matching the exception in `state` (no exception: False)."""
    data = getattr(state, "data", None)
    if not isinstance(data, BaseException):
        return False
    for types, verdict in rules:
        if isinstance(data, types):
            return verdict(data)
    return False


def retry_if_transient(task: Task[..., Any], task_run: TaskRun, state: State[Any]) -> bool:
    """Retry what the API says may recover, and failed generations (not billed: a fresh attempt)."""
    return _verdict(_API, state)


def retry_if_transient_or_download(
    task: Task[..., Any], task_run: TaskRun, state: State[Any]
) -> bool:
    """Also retry downloads and verification (fetching again is free), not a quarantined video."""
    return _verdict(_DOWNLOAD, state)


def retry_if_storage_may_recover(
    task: Task[..., Any], task_run: TaskRun, state: State[Any]
) -> bool:
    """Retry archive failures except those a repeat cannot fix (bad key, conflicting object)."""
    return _verdict(_STORAGE, state)


def retry_if_delivery_may_recover(
    task: Task[..., Any], task_run: TaskRun, state: State[Any]
) -> bool:
    """For persist + archive in one task: fetching again is free, archiving is idempotent."""
    return _verdict(_DELIVERY, state)


def retry_if_item_may_recover(task: Task[..., Any], task_run: TaskRun, state: State[Any]) -> bool:
    """For a whole item in one task: a retry reattaches to the journaled generation (no charge)."""
    # Either verdict may allow it: the generation's (retry_if_transient) or the delivery's.
    return _verdict(_API, state) or _verdict(_DELIVERY, state)
