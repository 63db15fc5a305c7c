"""When a task may be run again: only when a repeat cannot lose or double-pay anything.

Each condition has the signature Prefect's ``retry_condition_fn`` calls: the task, its run and
the failed state; the exception in the state decides.
"""

from __future__ import annotations

from typing import Any

from prefect_oxen.client import DownloadError, GenerationFailed, OxenError

__all__ = [
    "retry_if_delivery_may_recover",
    "retry_if_item_may_recover",
    "retry_if_storage_may_recover",
    "retry_if_transient",
    "retry_if_transient_or_download",
]


def _exception(state: Any) -> BaseException | None:
    """The exception a failed state holds, if any."""
    data = getattr(state, "data", None)
    return data if isinstance(data, BaseException) else None


def retry_if_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry rate limits, transient 5xx and broken connections (their errors say `retryable`).

    Generation failures reported by the API are retried too: a failed generation is not billed,
    and the journal makes the new attempt a fresh, single submission.

    Args:
        task: The task that failed.
        task_run: Its run.
        state: The failed state; its data is the exception.

    Returns:
        True when Prefect should run the task again.
    """
    exc = _exception(state)
    if isinstance(exc, GenerationFailed):
        return True
    return isinstance(exc, OxenError) and exc.retryable


def retry_if_transient_or_download(task: Any, task_run: Any, state: Any) -> bool:
    """Also retry downloads and verification: fetching a result again costs nothing.

    A quarantined video failed on its content, which a new download cannot change.

    Args:
        task: The task that failed.
        task_run: Its run.
        state: The failed state; its data is the exception.

    Returns:
        True when Prefect should run the task again.
    """
    from prefect_oxen.media import MediaError, VideoQuarantined

    exc = _exception(state)
    if isinstance(exc, VideoQuarantined):
        return False
    if isinstance(exc, DownloadError):
        return exc.retryable  # an expired sync URL (ResultExpired) cannot come back
    if isinstance(exc, MediaError):
        return True  # a corrupt download is fetched again; a bad render fails after the retries
    return retry_if_transient(task, task_run, state)


def retry_if_storage_may_recover(task: Any, task_run: Any, state: Any) -> bool:
    """Retry archive failures except those a repeat cannot fix (bad key, conflicting object).

    Args:
        task: The task that failed.
        task_run: Its run.
        state: The failed state; its data is the exception.

    Returns:
        True when Prefect should run the task again.
    """
    from prefect_oxen.storage import ArchiveConflict, InvalidObjectKey

    exc = _exception(state)
    permanent = (InvalidObjectKey, ArchiveConflict, ValueError, TypeError)
    return exc is not None and not isinstance(exc, permanent)


def retry_if_delivery_may_recover(task: Any, task_run: Any, state: Any) -> bool:
    """For persist + archive in one task: fetching again is free, archiving is idempotent.

    Args:
        task: The task that failed.
        task_run: Its run.
        state: The failed state; its data is the exception.

    Returns:
        True when Prefect should run the task again.
    """
    from prefect_oxen.media import MediaError, VideoQuarantined
    from prefect_oxen.storage import ArchiveConflict, InvalidObjectKey

    exc = _exception(state)
    if exc is None or isinstance(exc, (InvalidObjectKey, ArchiveConflict, VideoQuarantined)):
        return False
    if isinstance(exc, (OxenError, DownloadError)):
        return retry_if_transient_or_download(task, task_run, state)
    return isinstance(exc, (MediaError, OSError)) or not isinstance(exc, (ValueError, TypeError))


def retry_if_item_may_recover(task: Any, task_run: Any, state: Any) -> bool:
    """For a whole item in one task: a retry reattaches to the journaled generation (no charge).

    Args:
        task: The task that failed.
        task_run: Its run.
        state: The failed state; its data is the exception.

    Returns:
        True when Prefect should run the task again.
    """
    return retry_if_transient(task, task_run, state) or retry_if_delivery_may_recover(
        task, task_run, state
    )
