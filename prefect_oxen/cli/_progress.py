"""Live progress of a flow running in this process, read from Prefect's own task-run log records.

The flows report progress as Prefect artifacts; the terminal needs it sooner and without API
calls, so the CLI listens to the engine's "Finished in state" records of each item's tasks
(named ``generate-<id>``, ``persist-<id>``, ``archive-<id>`` by the pipeline).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["item_progress"]

_STEPS = ("generate-", "persist-", "archive-")


class _ItemFinishedHandler(logging.Handler):
    """Calls `on_done(key, ok)` once per item: after its archive task, or its first failed step."""

    def __init__(self, keys: set[str], on_done: Callable[[str, bool], None]) -> None:
        super().__init__(level=logging.INFO)
        self._keys = keys
        self._done: set[str] = set()
        self._on_done = on_done
        self._lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        name = getattr(record, "task_run_name", None)
        message = record.getMessage() if isinstance(record.msg, str) else ""
        if not name or not message.startswith("Finished in state"):
            return
        step = next((s for s in _STEPS if name.startswith(s)), None)
        if step is None:
            return
        key = name[len(step):]
        failed = "Failed" in message or "Crashed" in message
        if key not in self._keys or not (step == "archive-" or failed):
            return
        with self._lock:
            if key in self._done:
                return
            self._done.add(key)
        self._on_done(key, not failed)


@contextmanager
def item_progress(keys: set[str], on_done: Callable[[str, bool], None]) -> Iterator[None]:
    """Call `on_done` as each item of `keys` finishes, while the block runs."""
    handler = _ItemFinishedHandler(keys, on_done)
    logger = logging.getLogger("prefect.task_runs")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
