"""Small shared helpers of the reliability suite: polling with deadlines, reading reports."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path

from prefect_oxen.tasks import GenerationJournal

from ..flows.reports import report_of  # noqa: F401 - shared with the flow tests

FAST = "oxen-emu-fast-video"


def wait_for(condition: Callable[[], object], *, timeout: float, what: str, interval: float = 0.02) -> object:
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def journal_states(path: Path) -> dict[str, str]:
    return {identity: entry.state for identity, entry in GenerationJournal(path).latest().items()}


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def local_path(uri: str) -> Path:
    return Path(uri.removeprefix("file://"))


def items(n: int, tag: str, *, duration: int = 1, prefix: str = "r") -> list[dict]:
    return [{"id": f"{prefix}{i:03d}", "model": FAST, "prompt": f"{tag} {i}", "duration": duration} for i in range(n)]
