"""Task run names that say which item a run is about (``generate-fox``, ``deliver-fox``).

Set once on the task definitions, as callables: a `with_options(task_run_name=...)` per item
rebuilds the task every time, which costs tens of milliseconds per item in a large batch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prefect.utilities.annotations import BaseAnnotation

__all__ = ["named_after"]


def _label(value: Any) -> str | None:
    """The item a parameter value names: its key, or the start of its fingerprint."""
    if isinstance(value, BaseAnnotation):  # quote(request): the request is inside
        value = value.unwrap()
    if value is None:
        return None
    if isinstance(value, str):
        return value
    key = getattr(value, "key", None)
    if key:
        return str(key)
    fingerprint = getattr(value, "fingerprint", None)
    return fingerprint[:12] if isinstance(fingerprint, str) else None


def named_after(prefix: str, *parameters: str) -> Callable[[], str]:
    """A task-run-name function: `prefix` plus the first of `parameters` that names an item.

    Args:
        prefix: The start of every name, e.g. "generate".
        *parameters: Task parameter names to take the item's key (or fingerprint) from, in order.

    Returns:
        A function Prefect calls for each task run's name (``generate-fox``, or `prefix` alone).
    """

    def name() -> str:
        from prefect.runtime import task_run

        values = task_run.parameters or {}
        for parameter in parameters:
            label = _label(values.get(parameter))
            if label:
                return f"{prefix}-{label}"
        return prefix

    name.__name__ = f"{prefix}_run_name"
    return name
