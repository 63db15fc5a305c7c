"""A crash-safe record of paid generations, written before anything waits on them.

Every paid submission is announced in the journal *before* it is sent (``submitting``), its
generation ids are written the moment the API returns them (``enqueued``), and its end is written
when the video is safe (``archived``) or definitely unpaid (``failed``). Each line is appended and
fsynced, so a run killed at any point leaves enough behind for the next run to reattach instead of
paying again. It holds ids and states only: no keys, no signed URLs.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import threading
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

__all__ = ["GenerationJournal", "JournalEntry", "default_journal_path", "journal_at"]

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
    """Append-only JSONL journal at `path`; safe for concurrent tasks of one or several processes.

    The current state of every identity is kept in memory and brought up to date by reading only
    the bytes appended since the last read (by this process or another), so a lookup in a batch
    of thousands costs a `stat`, not a re-read of the whole file.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._state: dict[str, JournalEntry] = {}
        self._entries: list[JournalEntry] = []
        self._offset = 0
        self._file: tuple[int, int] | None = None

    def __repr__(self) -> str:
        return f"GenerationJournal({str(self.path)!r})"

    def record(self, entry: JournalEntry) -> None:
        """Append `entry` durably (one write of one line with O_APPEND, then fsync).

        Args:
            entry: The line to append; it becomes its identity's current state.

        Raises:
            OSError: The journal's directory or file cannot be written.
        """
        line = (entry.model_dump_json() + "\n").encode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One write() of one line with O_APPEND lands whole, so writers need no lock; holding it
        # through fsync (milliseconds) would stall every lookup on the event loop meanwhile.
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
        with self._lock:
            self._refresh()

    async def arecord(self, entry: JournalEntry) -> None:
        """`record` off the event loop (fsync takes milliseconds).

        Args:
            entry: The line to append.

        Raises:
            OSError: The journal's directory or file cannot be written.
        """
        await asyncio.to_thread(self.record, entry)

    def _refresh(self) -> None:
        """Read what was appended since the last read (by any process) into the index."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            stat = None
        identity = (stat.st_dev, stat.st_ino) if stat else None
        if identity != self._file or (stat and stat.st_size < self._offset):
            # Deleted, replaced or truncated: what was read belongs to another file.
            self._state, self._entries, self._offset, self._file = {}, [], 0, identity
        if stat is None or stat.st_size == self._offset:
            return
        size = stat.st_size
        with open(self.path, "rb") as handle:
            handle.seek(self._offset)
            chunk = handle.read(size - self._offset)
        complete = chunk.rfind(b"\n") + 1  # a torn last line waits until it is whole
        for raw in chunk[:complete].splitlines():
            try:
                entry = JournalEntry.model_validate(json.loads(raw))
            except ValueError:
                continue  # a line torn by a crash mid-write
            self._entries.append(entry)
            previous = self._state.get(entry.identity)
            if previous is not None and not entry.generation_ids and previous.generation_ids:
                entry = entry.model_copy(update={"generation_ids": previous.generation_ids})
            self._state[entry.identity] = entry
        self._offset += complete

    def entries(self) -> list[JournalEntry]:
        """Every readable entry in order; a torn last line (crash mid-write) is skipped.

        Returns:
            The entries, oldest first.
        """
        with self._lock:
            self._refresh()
            return list(self._entries)

    def latest(self) -> dict[str, JournalEntry]:
        """The current state of each identity, with generation ids carried forward.

        Returns:
            The newest entry of every identity, by identity.
        """
        with self._lock:
            self._refresh()
            return dict(self._state)

    def lookup(self, identity: str) -> JournalEntry | None:
        """The current state of one identity, if the journal knows it.

        Args:
            identity: The item's identity (`ValidatedRequest.identity`).

        Returns:
            Its newest entry, or None when the journal has none.
        """
        with self._lock:
            self._refresh()
            return self._state.get(identity)


@functools.lru_cache(maxsize=64)
def _journal_at(path: str) -> GenerationJournal:
    """The journal of an absolute path, one per process."""
    return GenerationJournal(path)


def journal_at(path: str | os.PathLike[str]) -> GenerationJournal:
    """The process's shared `GenerationJournal` for `path` (so its in-memory index is shared).

    Args:
        path: The journal file (need not exist yet).

    Returns:
        The one journal object of this process for that file.
    """
    # abspath, not resolve(): this runs several times per item and must not touch the disk.
    return _journal_at(os.path.abspath(path))


def default_journal_path() -> Path:
    """Where tasks used outside the flows keep their journal.

    Returns:
        ``$PREFECT_HOME/oxen/journal.jsonl``.
    """
    from prefect.settings import PREFECT_HOME

    return Path(PREFECT_HOME.value()) / "oxen" / "journal.jsonl"
