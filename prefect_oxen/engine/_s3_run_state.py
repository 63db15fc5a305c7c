"""Run state kept in the S3 archive itself, so machines that share no disk never pay twice.

Each item has one small JSON object, ``<prefix>/.oxen-state/items/<digest>.json``, holding its
current journal entry and its claim (the holder's token). Every write is conditional: the first
with ``IfNoneMatch="*"``, the next ones with ``IfMatch=<etag>`` of what the writer last read, so
of two machines racing for an item exactly one wins and the other reads again. A holder proves it
is alive with one heartbeat object per process, ``<prefix>/.oxen-state/holders/<token>.json``,
rewritten every third of `claim_seconds` while it holds anything: renewing costs one write per
process, not one per item, and a dead machine's claims lapse `claim_seconds` after its last beat,
so the next run takes its items over without a person. No listing per item and no shared file
system: a run reads and writes only its own items' objects (and the heartbeats of their holders).

Requests per fresh item: the claim (1 PUT), "submitting" (1), "enqueued" (1) and "archived",
which also frees the claim (1).

Prefect's own locks were considered: ``RedisLockManager`` never expires a dead holder's lock, and
a transaction records only at commit, after the money is spent.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from prefect_oxen.engine._journal import JournalEntry
from prefect_oxen.engine._run_state import CLAIM_SECONDS, OPEN_STATES, STATE_FOLDER

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["CLAIM_SECONDS", "S3RunState"]

logger = logging.getLogger("prefect_oxen.engine")

# How long a holder's heartbeat, once read, is trusted before reading it again.
_HEARTBEAT_CACHE_SECONDS = 2.0
# A waiter checks a live holder's item at most this often (one GET each time).
_RECHECK_MAX = 5.0
# Machines' clocks differ: an expiry is trusted only this long after it passed.
_SKEW_SECONDS = 2.0
# Racing writers (412) or S3's "ConditionalRequestConflict" (409): read again and retry.
_CONFLICTS = frozenset({"PreconditionFailed", "ConditionalRequestConflict"})
_NOT_FOUND = frozenset({"NoSuchKey", "404", "NotFound"})
_MAX_RACES = 20


class _Conflict(Exception):
    """A conditional write lost a race: read the object again."""


@dataclass(frozen=True)
class _Item:
    """One item's object as last read or written by this process."""

    etag: str | None  # None: no object yet
    entry: JournalEntry | None = None
    holder: str | None = None

    def body(self, identity: str) -> bytes:
        """The object's JSON."""
        return json.dumps(
            {
                "identity": identity,
                "entry": self.entry.model_dump(mode="json") if self.entry else None,
                "holder": self.holder,
            }
        ).encode()


def _merged(new: JournalEntry, old: JournalEntry | None) -> JournalEntry:
    """`new` with the generation ids of `old` carried forward (as the file journal does)."""
    if old is not None and not new.generation_ids and old.generation_ids:
        return new.model_copy(update={"generation_ids": old.generation_ids})
    return new


class S3RunState:
    """The journal and claims of an S3 archive, as one conditionally written object per item.

    Args:
        client: A boto3 S3 client (thread-safe; calls run in worker threads).
        bucket: The archive's bucket.
        prefix: The state folder's key prefix (``<archive prefix>/.oxen-state``).
        claim_seconds: How long a claim outlives its holder's last heartbeat.
    """

    def __init__(
        self,
        client: S3Client,
        bucket: str,
        prefix: str,
        *,
        claim_seconds: float = CLAIM_SECONDS,
    ) -> None:
        self._client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") or STATE_FOLDER
        self.claim_seconds = claim_seconds
        # Who holds a claim: this process (machine, pid and a random part, since pids repeat
        # across containers).
        self.token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._items: dict[str, _Item] = {}
        self._held: set[str] = set()
        self._runs: set[str] = set()  # flow runs that recorded through this object
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self._beaten_at = 0.0  # this process's last heartbeat
        self._beat_lock = threading.Lock()
        self._beater: asyncio.Task[None] | None = None
        self._beats_seen: dict[str, tuple[float, float]] = {}  # token -> (beat_at, read at)
        #: S3 requests made, by kind (for the benchmarks' requests-per-video figure): item
        #: "get"/"put", heartbeats written ("beat") and read ("beat_read"), "list".
        self.requests: Counter[str] = Counter()

    def __repr__(self) -> str:
        return f"S3RunState({self.location!r})"

    @property
    def location(self) -> str:
        """``s3://bucket/prefix/.oxen-state``."""
        return f"s3://{self.bucket}/{self.prefix}"

    # --- objects --------------------------------------------------------------------------------

    def _key(self, identity: str) -> str:
        """The object key of an item's state."""
        return f"{self.prefix}/items/{hashlib.sha256(identity.encode()).hexdigest()[:40]}.json"

    def _item_lock(self, identity: str) -> threading.Lock:
        """The lock that orders this process's writes of one item."""
        with self._lock:
            return self._locks.setdefault(identity, threading.Lock())

    def _read(self, identity: str) -> _Item:
        """Read an item's object (an empty item when there is none) and remember it."""
        return self._read_key(self._key(identity), identity)

    def _read_key(self, key: str, identity: str | None = None) -> _Item:
        """Read the object at `key` and remember it under its identity."""
        self.requests["get"] += 1
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in _NOT_FOUND:
                raise
            item = _Item(etag=None)
        else:
            data = json.loads(response["Body"].read())
            identity = identity or data.get("identity")
            entry = data.get("entry")
            item = _Item(
                etag=response["ETag"],
                entry=JournalEntry.model_validate(entry) if entry else None,
                holder=data.get("holder"),
            )
        if identity is not None:
            self._items[identity] = item
        return item

    def _write(self, identity: str, item: _Item) -> _Item:
        """Write `item` over the version this process last saw (raises `_Conflict` if it moved)."""
        condition = {"IfMatch": item.etag} if item.etag else {"IfNoneMatch": "*"}
        self.requests["put"] += 1
        try:
            response = self._client.put_object(
                Bucket=self.bucket,
                Key=self._key(identity),
                Body=item.body(identity),
                ContentType="application/json",
                **condition,  # type: ignore[arg-type]
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in _CONFLICTS or code in _NOT_FOUND:
                raise _Conflict(code) from exc
            raise
        written = replace(item, etag=response["ETag"])
        self._items[identity] = written
        return written

    # --- the journal ----------------------------------------------------------------------------

    def lookup(self, identity: str) -> JournalEntry | None:
        """The item's entry: from memory while this process holds it, else read from S3.

        Args:
            identity: The item's identity.

        Returns:
            Its current entry, or None.
        """
        if identity in self._held:
            item = self._items.get(identity)
            if item is not None:
                return item.entry
        return self._read(identity).entry

    async def alookup(self, identity: str) -> JournalEntry | None:
        """`lookup` off the event loop when it has to read.

        Args:
            identity: The item's identity.

        Returns:
            Its current entry, or None.
        """
        if identity in self._held and identity in self._items:
            return self._items[identity].entry
        return await asyncio.to_thread(self.lookup, identity)

    def record(self, entry: JournalEntry) -> None:
        """Make `entry` the item's state; an "archived" entry also frees the item's claim.

        Another writer in between (a cancel from another machine, say) costs one read and a
        retry; generation ids are carried forward, so none is ever lost.

        Args:
            entry: The new state.
        """
        identity = entry.identity
        run = entry.detail.get("flow_run_id")
        if run:
            self._runs.add(str(run))
        with self._item_lock(identity):
            item = self._items.get(identity) or self._read(identity)
            for _ in range(_MAX_RACES):
                holder = item.holder
                if identity in self._held and item.holder == self.token:
                    # The holder's last write ("archived") also frees the claim.
                    holder = None if entry.state == "archived" else self.token
                elif identity in self._held:
                    logger.warning(
                        "Another run took over %s (this run's claim lapsed); recording anyway.",
                        entry.detail.get("key") or identity[:12],
                    )
                    self._held.discard(identity)
                update = replace(item, entry=_merged(entry, item.entry), holder=holder)
                try:
                    self._write(identity, update)
                    return
                except _Conflict:
                    item = self._read(identity)
            raise RuntimeError(f"could not record {identity[:12]}: too many concurrent writers")

    async def arecord(self, entry: JournalEntry) -> None:
        """`record` off the event loop.

        Args:
            entry: The new state.
        """
        await asyncio.to_thread(self.record, entry)

    def open_entries(self, flow_run_id: str | None = None) -> list[JournalEntry]:
        """Entries whose generation may still be on the API, read fresh from S3.

        A run's own entries were all written by its own process, so for a run this object
        recorded, only the items it wrote are read again; otherwise every item is listed.

        Args:
            flow_run_id: One flow run's entries; None for every run's.

        Returns:
            The open entries.
        """
        if flow_run_id is not None and flow_run_id in self._runs:
            candidates = [
                self._key(identity)
                for identity, item in list(self._items.items())
                if item.entry is not None
                and item.entry.state in OPEN_STATES
                and item.entry.detail.get("flow_run_id") == flow_run_id
            ]
        else:
            candidates = self._all_keys()
        with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
            items = list(pool.map(self._read_key, candidates))
        return [
            item.entry
            for item in items
            if item.entry is not None
            and item.entry.state in OPEN_STATES
            and (flow_run_id is None or item.entry.detail.get("flow_run_id") == flow_run_id)
        ]

    def _all_keys(self) -> list[str]:
        """Every item object's key (a listing: for `prefect-oxen cancel` and foreign hooks)."""
        keys: list[str] = []
        paginator = self._client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=f"{self.prefix}/items/"):
            self.requests["list"] += 1
            keys.extend(obj["Key"] for obj in page.get("Contents", []))
        return keys

    def exists(self) -> bool:
        """Whether any item has state here.

        Returns:
            True when at least one item object exists.
        """
        self.requests["list"] += 1
        page = self._client.list_objects_v2(
            Bucket=self.bucket, Prefix=f"{self.prefix}/items/", MaxKeys=1
        )
        return bool(page.get("Contents"))

    # --- claims ---------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def claim(self, identity: str, *, label: str = "") -> AsyncIterator[bool]:
        """Hold the item among every machine's runs; yields True if it waited for another run.

        Args:
            identity: The item's identity.
            label: How to name the item in the log.

        Yields:
            Whether it had to wait (the caller reads the state again before paying).
        """
        self._keep_beating()
        waited = False
        delay = 0.25
        while True:
            wait = await asyncio.to_thread(self._try_claim, identity)
            if wait is None:
                break
            if not waited:
                logger.info(
                    "%s is being produced by another run; waiting for it.", label or identity[:12]
                )
                waited = True
            # A dead holder's claim lapses at a known time: no need to look before then.
            await asyncio.sleep(max(0.05, min(wait, delay)))
            delay = min(delay * 2, _RECHECK_MAX)
        try:
            yield waited
        finally:
            # Shielded: a cancelled item must still free its claim for the next run.
            await asyncio.shield(asyncio.to_thread(self._release, identity))

    def _try_claim(self, identity: str) -> float | None:
        """Take the claim (None), or say how long until the holder's claim would lapse."""
        self._beat(force=False)
        with self._item_lock(identity):
            if identity in self._held:
                return 0.05  # another task of this process has it (one claim, one holder)
            # What this process saw last is only a guess at the etag (a fresh item is claimed in
            # one write, no read); a holder seen earlier may have let go since: read again.
            item = self._items.get(identity) or _Item(etag=None)
            if item.holder and item.holder != self.token:
                item = self._read(identity)
            for _ in range(_MAX_RACES):
                if item.holder and item.holder != self.token:
                    lapses_in = self._lapses_in(item.holder)
                    if lapses_in > 0:
                        return lapses_in
                    logger.info(
                        "Taking over %s: its holder (%s) stopped beating.",
                        identity[:12],
                        item.holder.split(":")[0],
                    )
                try:
                    self._write(identity, replace(item, holder=self.token))
                except _Conflict:
                    item = self._read(identity)
                    continue
                self._held.add(identity)
                return None
        return 0.0

    def _release(self, identity: str) -> None:
        """Free the claim (nothing to write when "archived" already freed it)."""
        with self._item_lock(identity):
            if identity not in self._held:
                return
            self._held.discard(identity)
            item = self._items.get(identity) or self._read(identity)
            for _ in range(_MAX_RACES):
                if item.holder != self.token:
                    return
                try:
                    self._write(identity, replace(item, holder=None))
                    return
                except _Conflict:
                    item = self._read(identity)
                except ClientError as exc:  # it lapses by itself; nothing is lost
                    logger.warning("Could not free the claim on %s: %s", identity[:12], exc)
                    return

    # --- heartbeats: one per holding process --------------------------------------------------

    def _heartbeat_key(self, token: str) -> str:
        """The object key of a holder's heartbeat."""
        digest = hashlib.sha256(token.encode()).hexdigest()[:40]
        return f"{self.prefix}/holders/{digest}.json"

    def _beat(self, *, force: bool) -> None:
        """Write this process's heartbeat (before its first claim, then every third of the
        claim's life while it holds anything)."""
        with self._beat_lock:
            if not force and time.time() - self._beaten_at < self.claim_seconds / 3:
                return
            now = time.time()
            self.requests["beat"] += 1
            self._client.put_object(
                Bucket=self.bucket,
                Key=self._heartbeat_key(self.token),
                Body=json.dumps({"holder": self.token, "beat_at": now}).encode(),
                ContentType="application/json",
            )
            self._beaten_at = now

    def _keep_beating(self) -> None:
        """Start the heartbeat task on the running loop (one per process, while it holds)."""
        beater = self._beater
        if beater is not None and not beater.done() and beater.get_loop().is_running():
            return
        self._beater = asyncio.get_running_loop().create_task(self._beat_forever())

    async def _beat_forever(self) -> None:
        """Beat every third of the claim's life while this process holds any item."""
        interval = self.claim_seconds / 3
        while True:
            await asyncio.sleep(max(0.0, self._beaten_at + interval - time.time()))
            if not self._held:
                if time.time() - self._beaten_at > interval:
                    return  # holds nothing: no cost while idle; the next claim beats first
                continue
            try:
                await asyncio.to_thread(self._beat, force=False)
            except Exception as exc:  # S3 unreachable for a moment: the next beat may work
                logger.warning("Could not renew this run's claims: %s", exc)
                await asyncio.sleep(min(5.0, interval))

    def _lapses_in(self, token: str) -> float:
        """Seconds until `token`'s claims lapse (<= 0: its holder stopped beating)."""
        now = time.time()
        seen = self._beats_seen.get(token)
        if seen is None or now - seen[1] > _HEARTBEAT_CACHE_SECONDS:
            self.requests["beat_read"] += 1
            try:
                response = self._client.get_object(
                    Bucket=self.bucket, Key=self._heartbeat_key(token)
                )
                beat_at = float(json.loads(response["Body"].read()).get("beat_at") or 0.0)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in _NOT_FOUND:
                    raise
                beat_at = 0.0  # never beat: a holder beats before it claims
            seen = self._beats_seen[token] = (beat_at, now)
        return seen[0] + self.claim_seconds + _SKEW_SECONDS - now

    def held(self) -> set[str]:
        """The identities this process holds claims on (for tests and diagnostics).

        Returns:
            A copy of the set.
        """
        return set(self._held)
