"""Generation records and their optional persistence in an append-only journal."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

Status = Literal["queued", "processing", "succeeded", "failed", "cancelled"]
STATUSES: tuple[str, ...] = ("queued", "processing", "succeeded", "failed", "cancelled")
ACTIVE: frozenset[str] = frozenset({"queued", "processing"})
TERMINAL: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})


@dataclass
class Artifact:
    """A rendered result file, stored once per content hash."""

    sha256: str
    size: int
    extension: str
    content_type: str


@dataclass
class Generation:
    """One unit of paid work: a queue generation or a synchronous render."""

    id: str
    source: Literal["queue", "sync"]
    model: str
    media_type: str
    params: dict[str, Any]
    target_namespace: str
    seq: int
    enqueued_at: float
    status: Status = "queued"
    started_at: float | None = None
    completed_at: float | None = None
    error_message: str | None = None
    artifact: Artifact | None = None
    billed: bool = False
    cost: str = "0"
    retried_from_id: str | None = None
    doomed: bool = False  # generation_failure fault drawn at acceptance
    jitter: float = 0.0  # in [-1, 1], scaled by latency_jitter when the work starts
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (the journal format)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Generation:
        """Rebuild a record from `to_json` output, ignoring unknown keys."""
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        if values.get("artifact"):
            values["artifact"] = Artifact(**values["artifact"])
        return cls(**values)


class GenerationStore:
    """Records in memory, optionally journaled to `<state_dir>/generations.jsonl`.

    Each change appends the whole record as one line (cheap, crash-tolerant); loading keeps
    the last line per id and rewrites the journal compactly.
    """

    def __init__(self, journal: Path | None) -> None:
        self._journal = journal
        self._records: dict[str, Generation] = {}
        self._handle = None
        if journal is not None:
            self._load(journal)
            self._handle = journal.open("a", encoding="utf-8")

    def _load(self, journal: Path) -> None:
        """Read the persisted generations back from `journal` (bad lines skipped)."""
        if journal.exists():
            for line in journal.read_text(encoding="utf-8").splitlines():
                try:
                    record = Generation.from_json(json.loads(line))
                except (ValueError, TypeError):
                    continue  # a torn last line from a crash; the previous state stands
                self._records[record.id] = record
        tmp = journal.with_suffix(".tmp")
        tmp.write_text(
            "".join(json.dumps(r.to_json()) + "\n" for r in self._records.values()),
            encoding="utf-8",
        )
        os.replace(tmp, journal)

    def __contains__(self, generation_id: str) -> bool:
        return generation_id in self._records

    def __iter__(self) -> Iterator[Generation]:
        return iter(sorted(self._records.values(), key=lambda r: r.seq))

    def __len__(self) -> int:
        return len(self._records)

    def get(self, generation_id: str) -> Generation | None:
        """The record with this id, or None."""
        return self._records.get(generation_id)

    def save(self, record: Generation) -> None:
        """Insert or update `record` (and journal it)."""
        self._records[record.id] = record
        if self._handle is not None:
            self._handle.write(json.dumps(record.to_json()) + "\n")
            self._handle.flush()

    def next_seq(self) -> int:
        """A sequence number larger than any stored one (FIFO order survives restarts)."""
        return max((r.seq for r in self._records.values()), default=0) + 1

    def clear(self) -> None:
        """Forget every record (and truncate the journal)."""
        self._records.clear()
        if self._handle is not None:
            self._handle.seek(0)
            self._handle.truncate()

    def close(self) -> None:
        """Close the journal."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
