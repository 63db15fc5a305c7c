"""How loud a step's one-line summary is: INFO as its own task run, DEBUG inside a fused one.

`generate_result`, `persist_result` and `archive_persisted` are the functions of the
`generate_video`, `persist_video` and `archive_video` tasks, and also steps of the fused bodies
(`deliver_result`, `produce_result`). A fused task logs one line per video itself; at thousands of
videos, every step's line again would triple what each run sends to Prefect's log store. A
context variable (not a parameter) says which it is, so that the tasks' parameters stay the
user's.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["fused_steps", "summary_level"]

_FUSED: ContextVar[bool] = ContextVar("prefect_oxen_fused_steps", default=False)


@contextmanager
def fused_steps() -> Iterator[None]:
    """Run steps inside a fused body: their summary lines drop to DEBUG.

    Yields:
        Nothing; the steps awaited inside log their summaries at DEBUG.
    """
    token = _FUSED.set(True)
    try:
        yield
    finally:
        _FUSED.reset(token)


def summary_level() -> int:
    """The level of a step's one-line summary here.

    Returns:
        ``logging.DEBUG`` inside `fused_steps`, else ``logging.INFO``.
    """
    return logging.DEBUG if _FUSED.get() else logging.INFO
