"""Small helpers of the reliability suite: journal states, checksums, archive paths, items.

Model ids and `wait_for` come from `tests.support`, shared by every test package.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from prefect_oxen.engine import GenerationJournal
from tests.support import FAST

from ..flows.reports import report_of  # noqa: F401 - shared with the flow tests


def journal_states(path: Path) -> dict[str, str]:
    return {identity: entry.state for identity, entry in GenerationJournal(path).latest().items()}


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def local_path(uri: str) -> Path:
    return Path(uri.removeprefix("file://"))


def items(n: int, tag: str, *, duration: int = 1, prefix: str = "r") -> list[dict]:
    return [
        {"id": f"{prefix}{i:03d}", "model": FAST, "prompt": f"{tag} {i}", "duration": duration}
        for i in range(n)
    ]
