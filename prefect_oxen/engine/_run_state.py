"""Where a run keeps what it paid for (the journal) and which items it holds (the claims).

The state lives with the archive, so every machine that can write the archive also sees what any
run paid for and waits for what any run holds: a local archive keeps a journal file and ``flock``
claims next to its videos; an S3 archive keeps one small object per item under its own prefix,
written with S3's conditional writes (`S3RunState`). An explicit ``journal=`` wins over both.
The engine, the stop hooks, reattach and ``prefect-oxen cancel`` talk to the `RunState` protocol
only, so which store backs a run follows from its archive and nothing else.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from prefect_oxen.engine._claims import claim_item
from prefect_oxen.engine._journal import GenerationJournal, JournalEntry, journal_at

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = [
    "STATE_FOLDER",
    "FileRunState",
    "RunState",
    "RunStateSettings",
    "oxen_state_folder",
    "run_state_at",
    "run_state_for",
    "state_location_for",
]

#: The folder, under an S3 archive's prefix, that holds the run state (one object per item).
STATE_FOLDER = ".oxen-state"

#: States of an item whose generation may still be running (or whose submission was in flight).
OPEN_STATES = frozenset({"submitting", "enqueued", "succeeded", "persisted"})


#: How long an S3 claim outlives its holder's last heartbeat: a dead machine's items are free
#: after it. Long against clock skew between machines and a busy event loop, short against a re-run.
CLAIM_SECONDS = 30.0


class RunStateSettings(BaseSettings):
    """How S3 claims behave, from the environment (``PREFECT_OXEN_CLAIM_SECONDS``).

    Every machine of an archive should use the same value: a claim lapses this long after its
    holder's last heartbeat, so a dead machine's items wait that long for the next run.
    """

    model_config = SettingsConfigDict(env_prefix="PREFECT_OXEN_")

    claim_seconds: float = Field(
        default=CLAIM_SECONDS,
        ge=1.0,
        description="Seconds an S3 claim outlives its holder's last heartbeat (one per process, "
        "renewed every third).",
    )


@runtime_checkable
class RunState(Protocol):
    """The journal and the claims of every run that shares one archive."""

    @property
    def location(self) -> str:
        """Where the state lives: a journal file's path, or ``s3://bucket/prefix/.oxen-state``."""
        ...

    def lookup(self, identity: str) -> JournalEntry | None:
        """The item's current journal entry, if any (blocking; for hooks)."""
        ...

    async def alookup(self, identity: str) -> JournalEntry | None:
        """The item's current journal entry, if any."""
        ...

    def record(self, entry: JournalEntry) -> None:
        """Make `entry` its item's current state, durably, before anything waits on it."""
        ...

    async def arecord(self, entry: JournalEntry) -> None:
        """`record` off the event loop."""
        ...

    def claim(self, identity: str, *, label: str = "") -> AbstractAsyncContextManager[bool]:
        """Hold the item exclusively among every run of the archive; yields whether it waited."""
        ...

    def open_entries(self, flow_run_id: str | None = None) -> list[JournalEntry]:
        """Entries whose generation may still be on the API (of one flow run, or of all)."""
        ...

    def exists(self) -> bool:
        """Whether any run has recorded anything here yet."""
        ...


class FileRunState:
    """The journal file and ``flock`` claims next to it: for local archives and ``journal=``.

    Args:
        path: The journal file (need not exist yet); claims live in ``<path>.claims/``.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.journal: GenerationJournal = journal_at(self.path)

    def __repr__(self) -> str:
        return f"FileRunState({str(self.path)!r})"

    @property
    def location(self) -> str:
        """The journal file's path."""
        return str(self.path)

    def lookup(self, identity: str) -> JournalEntry | None:
        """The item's current entry (an in-memory index, refreshed by a `stat`)."""
        return self.journal.lookup(identity)

    async def alookup(self, identity: str) -> JournalEntry | None:
        """The item's current entry (cheap enough to read on the loop)."""
        return self.journal.lookup(identity)

    def record(self, entry: JournalEntry) -> None:
        """Append `entry` to the journal and fsync it."""
        self.journal.record(entry)

    async def arecord(self, entry: JournalEntry) -> None:
        """Append `entry` off the event loop."""
        await self.journal.arecord(entry)

    def claim(self, identity: str, *, label: str = "") -> AbstractAsyncContextManager[bool]:
        """An exclusive ``flock`` on the item's claim file (it dies with the process)."""
        return claim_item(self.path, identity, label=label)

    def open_entries(self, flow_run_id: str | None = None) -> list[JournalEntry]:
        """Entries still open, from the journal's index."""
        return [
            entry
            for entry in self.journal.latest().values()
            if entry.state in OPEN_STATES
            and (flow_run_id is None or entry.detail.get("flow_run_id") == flow_run_id)
        ]

    def exists(self) -> bool:
        """Whether the journal file exists."""
        return self.path.is_file()


_stores: dict[tuple[str, str], RunState] = {}
_stores_lock = threading.Lock()


def run_state_at(
    location: str | os.PathLike[str], *, s3_client: Callable[[], S3Client] | None = None
) -> RunState:
    """The process's one store for `location` (so its caches and claims are shared by its tasks).

    Args:
        location: A journal file's path, or an S3 state location ``s3://bucket/prefix/.oxen-state``
            (a bare ``s3://bucket/prefix`` means the state folder under it).
        s3_client: Makes the client to reach S3 with, the first time this location is opened
            (a prefect-aws block's); the environment's default client otherwise.

    Returns:
        The run state.
    """
    text = os.fspath(location)
    if not text.startswith("s3://"):
        # abspath, not resolve(): this runs several times per item and must not touch the disk.
        text = os.path.abspath(os.path.expanduser(text))
    else:
        text = _s3_state_location(text)
    # One store per place (an S3 endpoint is part of the place: tests and users switch them).
    place = (text, os.environ.get("AWS_ENDPOINT_URL", "") if text.startswith("s3://") else "")
    with _stores_lock:
        store = _stores.get(place)
        if store is None:
            store = _stores[place] = _open(text, s3_client)
        return store


def _s3_state_location(uri: str) -> str:
    """``s3://bucket/prefix`` -> ``s3://bucket/prefix/.oxen-state`` (unchanged if already so)."""
    trimmed = uri.rstrip("/")
    return trimmed if trimmed.endswith("/" + STATE_FOLDER) else f"{trimmed}/{STATE_FOLDER}"


def _open(location: str, s3_client: Callable[[], S3Client] | None) -> RunState:
    """A new store for a normalised location."""
    if not location.startswith("s3://"):
        return FileRunState(location)
    from prefect_oxen.engine._s3_run_state import S3RunState
    from prefect_oxen.storage import default_s3_client, parse_s3_prefix

    bucket, prefix = parse_s3_prefix(location)
    return S3RunState(
        (s3_client or default_s3_client)(),
        bucket,
        prefix,
        claim_seconds=RunStateSettings().claim_seconds,
    )


def state_location_for(destination: Any, journal: str | None = None) -> str:
    """Where the run state of `destination` lives (without opening it).

    Args:
        destination: A directory, an ``s3://bucket/prefix`` URI, an ``oxen://`` repository URI
            (a local journal under ``$PREFECT_HOME/oxen``) or a prefect-aws S3Bucket.
        journal: An explicit journal location; it wins.

    Returns:
        A journal file's path, or an ``s3://.../.oxen-state`` location.
    """
    if journal:
        text = os.fspath(journal)
        return _s3_state_location(text) if text.startswith("s3://") else text
    bucket = getattr(destination, "bucket_name", None)
    if bucket is not None:
        folder = str(getattr(destination, "bucket_folder", "") or "").strip("/")
        return _s3_state_location(f"s3://{bucket}/{folder}" if folder else f"s3://{bucket}")
    text = str(destination)
    if text.startswith("s3://"):
        return _s3_state_location(text)
    if text.lower().startswith("oxen://"):
        return str(oxen_state_folder(text) / "journal.jsonl")
    return str(Path(os.path.expanduser(text)) / ".oxen-journal.jsonl")


def oxen_state_folder(uri: str) -> Path:
    """``$PREFECT_HOME/oxen/<hash of the URI>``: an Oxen archive's local run state and work files.

    Oxen's API has no conditional writes to build claims on, so the journal of an ``oxen://``
    archive stays on this machine unless ``journal="s3://..."`` shares it.

    Args:
        uri: The ``oxen://`` archive (``@main`` or not, the same folder).

    Returns:
        The folder (not created).
    """
    from prefect.settings import PREFECT_HOME

    from prefect_oxen.engine._oxen_archive import oxen_archive_uri, state_folder_name

    parsed = oxen_archive_uri(uri)
    assert parsed is not None
    return Path(PREFECT_HOME.value()) / "oxen" / state_folder_name(parsed)


def run_state_for(destination: Any, journal: str | None = None) -> RunState:
    """The run state that lives with `destination` (a prefect-aws block lends its S3 client).

    Args:
        destination: A directory, an ``s3://bucket/prefix`` URI or a prefect-aws S3Bucket.
        journal: An explicit journal location (file path or ``s3://`` prefix); it wins.

    Returns:
        The run state.
    """
    location = state_location_for(destination, journal)
    client = None
    bucket = getattr(destination, "bucket_name", None)
    if bucket is not None and location.startswith(f"s3://{bucket}/"):
        # The block's credentials reach its bucket; the environment's may not.
        client = destination.credentials.get_s3_client
    return run_state_at(location, s3_client=client)
