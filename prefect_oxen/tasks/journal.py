"""A crash-safe record of paid generations, written before anything waits on them.

Every paid submission is announced in the journal *before* it is sent (``submitting``), its
generation ids are written the moment the API returns them (``enqueued``), and its end is written
when the video is safe (``archived``) or definitely unpaid (``failed``). Each line is appended and
fsynced, so a run killed at any point leaves enough behind for the next run to reattach instead of
paying again. It holds ids and states only: no keys, no signed URLs.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

__all__ = ["GenerationJournal", "JournalEntry", "default_journal_path"]

State = Literal["submitting", "enqueued", "succeeded", "persisted", "archived", "failed"]


class JournalEntry(BaseModel):
    """One line of the journal; the newest line of an identity is its current state."""

    identity: str
    state: State
    at: float = Field(default_factory=time.time)
    mode: Literal["sync", "queue"] | None = None
    model: str | None = None
    generation_ids: list[str] = Field(default_factory=list)
    archive_uri: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


class GenerationJournal:
    """Append-only JSONL journal at `path`; safe for concurrent tasks of one or several processes."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"GenerationJournal({str(self.path)!r})"

    def record(self, entry: JournalEntry) -> None:
        """Append `entry` durably (one write of one line with O_APPEND, then fsync)."""
        line = (entry.model_dump_json() + "\n").encode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)

    def entries(self) -> list[JournalEntry]:
        """Every readable entry in order; a torn last line (crash mid-write) is skipped."""
        if not self.path.exists():
            return []
        found = []
        with open(self.path, "rb") as handle:
            for raw in handle:
                try:
                    found.append(JournalEntry.model_validate(json.loads(raw)))
                except ValueError:
                    continue
        return found

    def latest(self) -> dict[str, JournalEntry]:
        """The current state of each identity, with generation ids carried forward."""
        current: dict[str, JournalEntry] = {}
        for entry in self.entries():
            previous = current.get(entry.identity)
            if previous is not None and not entry.generation_ids and previous.generation_ids:
                entry = entry.model_copy(update={"generation_ids": previous.generation_ids})
            current[entry.identity] = entry
        return current

    def lookup(self, identity: str) -> JournalEntry | None:
        """The current state of one identity, if the journal knows it."""
        return self.latest().get(identity)

    def unfinished(self) -> list[JournalEntry]:
        """Paid or possibly paid generations whose video is not archived yet."""
        return [e for e in self.latest().values() if e.state in ("submitting", "enqueued", "succeeded", "persisted")]


def default_journal_path() -> Path:
    """``$PREFECT_HOME/oxen/journal.jsonl``: where tasks used outside the flows keep their journal."""
    from prefect.settings import PREFECT_HOME

    return Path(PREFECT_HOME.value()) / "oxen" / "journal.jsonl"
