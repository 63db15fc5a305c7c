"""How many generations a run keeps on the API at once, and how many videos it delivers at once.

A generation costs money and a slot on the API from the moment it is enqueued until the API
reports it finished; after that, downloading, verifying and archiving it only costs this
machine's time. The two are bounded separately so that finished videos being delivered never
keep the API idle: `GenerationSlots` bounds the first (this run's own bound, plus Prefect's global
concurrency limit ``oxen-generations`` across runs, when it exists) and a plain semaphore the
second.

Why not ``prefect.concurrency.asyncio.concurrency()`` around each item: it takes a slot from the
Prefect API for every item and gives it back after, and a process acquires one slot at a time,
waiting out the server's ``Retry-After`` (seconds) after each refusal. Measured on a batch of 200
(16 API slots), that left two thirds of the API's slots idle (12x the ideal makespan). Here a
slot, once leased from Prefect, passes from a finished generation straight to the next waiting
one of the same run, and goes back to Prefect only when nobody in the run waits: in steady state
admission costs no API call. Leases (renewed in the background) return a killed run's slots to
the other runs by themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any
from uuid import UUID

if TYPE_CHECKING:
    from prefect.client.orchestration import PrefectClient

__all__ = ["LEASE_SECONDS", "GenerationSlots", "ItemPacing", "current_pacing", "pacing_scope"]

logger = logging.getLogger("prefect_oxen.engine")

# Polling for a slot another run holds: quick at first (slots turn over every few seconds in a
# busy batch), never slower than this, so a freed slot idles for at most this long.
_POLL_FIRST, _POLL_MAX = 0.05, 0.5


#: How long a slot lease of the global limit outlives its last renewal. Prefect's shortest (a
#: minute): a SIGKILLed run's slots go back when it lapses and the server's repossessor next runs
#: (every 15 s), so within 75 s, and the limit can equal the API's own concurrency. A live run
#: renews every third of it.
LEASE_SECONDS = 60.0


class GenerationSlots:
    """At most `local` generations of this run unfinished on the API at once and, when Prefect's
    global concurrency limit `limit_name` exists, one of its slots per unfinished generation.

    Slots of the global limit are leased from Prefect in blocks of up to `block` slots (one
    write to Prefect's database per block: on SQLite, writes queue behind the server's event
    recording and can take seconds each), handed from one generation of this run to the next,
    and a block goes back to Prefect as soon as none of its slots is in use and nobody here
    waits. Small blocks give slots back sooner at a run's tail (a lease is returned whole);
    large ones take fewer writes to fill. Use as
    ``async with GenerationSlots(128, "oxen-generations") as slots:``; `acquire` returns a token
    to hand back to `release`.
    """

    def __init__(
        self,
        local: int,
        limit_name: str | None = None,
        *,
        lease_seconds: float = LEASE_SECONDS,
        block: int = 4,
    ) -> None:
        self.local = max(1, int(local))
        self.limit_name = limit_name or None
        self.lease_seconds = max(60.0, lease_seconds)  # Prefect refuses leases under a minute
        self.block = max(1, block)
        self.shared_limit: int | None = None
        self.api_calls = 0
        self._permits = asyncio.Semaphore(self.local)
        self._client: PrefectClient | None = None
        self._handoff: asyncio.Queue[UUID | None] = asyncio.Queue()  # slots for waiters
        self._spare: list[UUID] = []  # slots held, unused, nobody waiting
        self._leases: dict[UUID, int] = {}  # lease -> slots it holds
        self._waiting = 0  # callers of acquire() not yet served
        self._wanted = 0  # of those, the ones holding a permit and waiting for a slot
        self._failure: BaseException | None = None
        self._poller: asyncio.Task[None] | None = None
        self._renewer: asyncio.Task[None] | None = None
        self._releases: set[asyncio.Task[None]] = set()

    @property
    def shared(self) -> bool:
        """True when a Prefect global concurrency limit bounds these generations too."""
        return self.shared_limit is not None

    async def __aenter__(self) -> GenerationSlots:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def open(self) -> None:
        """Look the global limit up once; a missing or inactive limit bounds nothing."""
        if not self.limit_name:
            return
        from prefect.client.orchestration import get_client

        client = get_client()
        await client.__aenter__()
        limit = await self._read_limit(client)
        if limit is None or not limit.active:
            await client.__aexit__(None, None, None)
            return
        self._client = client
        self.shared_limit = limit.limit
        self._renewer = asyncio.create_task(self._renew_forever())

    async def close(self) -> None:
        """Give every held slot back to Prefect and stop the background work."""
        for job in (self._poller, self._renewer):
            if job is not None:
                job.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await job
        if self._releases:
            await asyncio.gather(*self._releases, return_exceptions=True)
        client, self._client = self._client, None
        if client is None:
            return
        for lease in list(self._leases):
            await self._release_lease(lease, client)
        await client.__aexit__(None, None, None)

    async def acquire(self) -> UUID | None:
        """Wait for a place; the token (a Prefect lease id, or None) goes back to `release`."""
        self._waiting += 1
        try:
            await self._permits.acquire()
            try:
                return await self._slot() if self._client is not None else None
            except BaseException:
                self._permits.release()
                raise
        finally:
            self._waiting -= 1

    def release(self, token: UUID | None) -> None:
        """Give a place back: to the next waiting generation of this run, else towards Prefect."""
        self._permits.release()
        if token is None or self._client is None:
            return
        if self._waiting > self._handoff.qsize():
            self._handoff.put_nowait(token)  # a waiter of this run takes it: no API call
            return
        self._spare.append(token)
        if self._spare.count(token) == self._leases.get(token, 0):
            self._spare = [spare for spare in self._spare if spare != token]
            job = asyncio.create_task(self._release_lease(token, self._client))
            self._releases.add(job)
            job.add_done_callback(self._releases.discard)

    async def _slot(self) -> UUID:
        """A slot of the shared limit for one generation: a spare one, or one the poller leases."""
        if self._spare:
            return self._spare.pop()
        self._wanted += 1
        try:
            if self._handoff.empty() and (self._poller is None or self._poller.done()):
                self._poller = asyncio.create_task(self._poll())
            token = await self._handoff.get()
        finally:
            self._wanted -= 1
        if token is None:
            raise RuntimeError(
                f"could not take a slot of concurrency limit {self.limit_name!r}"
            ) from self._failure
        return token

    async def _poll(self) -> None:
        """Lease blocks of slots while generations of this run wait for one."""
        assert self._client is not None
        delay = _POLL_FIRST
        while (missing := self._wanted - self._handoff.qsize()) > 0:
            try:
                limit = await self._read_limit(self._client)
            except Exception as exc:
                self._fail(exc)
                return
            free = (limit.limit - limit.active_slots) if limit is not None else 0
            wanted = min(free, missing)
            # All the blocks wanted are asked for at once: on a busy SQLite server each write
            # waits behind the others anyway, so together they cost about one wait, not several.
            sizes = [
                min(self.block, wanted - start) for start in range(0, max(wanted, 0), self.block)
            ]
            outcomes = await asyncio.gather(
                *(self._lease_block(size) for size in sizes), return_exceptions=True
            )
            failure = next((o for o in outcomes if isinstance(o, BaseException)), None)
            if failure is not None:
                self._fail(failure)
                return
            if any(outcomes):
                delay = _POLL_FIRST
            else:  # every slot is taken (or another run took them first): try again soon
                await asyncio.sleep(delay)
                delay = min(delay * 2, _POLL_MAX)

    async def _lease_block(self, size: int) -> bool:
        """Lease `size` slots as one block and offer them to the waiters; False if refused."""
        from prefect.exceptions import PrefectHTTPStatusError

        assert self._client is not None and self.limit_name is not None
        self.api_calls += 1
        try:
            response = await self._client.increment_concurrency_slots_with_lease(
                names=[self.limit_name],
                slots=size,
                mode="concurrency",
                lease_duration=self.lease_seconds,
            )
        except PrefectHTTPStatusError as exc:
            if exc.response.status_code == 423:
                return False
            raise
        lease = UUID(response.json()["lease_id"])
        self._leases[lease] = size
        for _ in range(size):
            self._handoff.put_nowait(lease)
        return True

    async def _read_limit(self, client: PrefectClient) -> Any:
        """The shared limit as the server has it (None when it does not exist)."""
        from prefect.exceptions import ObjectNotFound

        self.api_calls += 1
        try:
            return await client.read_global_concurrency_limit_by_name(self.limit_name or "")
        except ObjectNotFound:
            return None

    def _fail(self, exc: BaseException) -> None:
        """Keep `exc` and wake every waiter, which then fails: admission cannot go on."""
        logger.error("Could not take a slot of concurrency limit %r: %s", self.limit_name, exc)
        self._failure = exc
        for _ in range(self._wanted - self._handoff.qsize()):
            self._handoff.put_nowait(None)

    async def _release_lease(self, lease: UUID, client: PrefectClient) -> None:
        """Give a lease's slots back to the server (if this fails, the lease expires by itself)."""
        self._leases.pop(lease, None)
        self.api_calls += 1
        try:
            await client.release_concurrency_slots_with_lease(lease)
        except Exception as exc:  # the lease expires by itself; nothing is lost
            logger.warning(
                "Could not return slots of %r to Prefect (%s); their lease will expire.",
                self.limit_name,
                type(exc).__name__,
            )

    async def _renew_forever(self) -> None:
        """Keep held leases alive: generations may run for many minutes."""
        assert self._client is not None
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            for lease in list(self._leases):
                self.api_calls += 1
                try:
                    await self._client.renew_concurrency_lease(
                        lease, lease_duration=self.lease_seconds
                    )
                except Exception as exc:
                    logger.warning(
                        "Could not renew a slot lease of %r: %s",
                        self.limit_name,
                        type(exc).__name__,
                    )


class ItemPacing:
    """One item's places: a generation slot from before it is paid until the API reports it
    finished, then a delivery place while it is downloaded, verified and archived.

    The flow takes the generation slot (`admit`) before the item's task run starts, so task runs
    exist only for items that can proceed; the task gives it back as soon as the generation ends
    (`generating`), and takes it again on a retry that must generate anew.
    """

    def __init__(
        self,
        slots: GenerationSlots | None = None,
        deliveries: asyncio.Semaphore | None = None,
        starts: asyncio.Semaphore | None = None,
    ) -> None:
        self._slots = slots
        self._deliveries = deliveries
        self._starts = starts
        self._token: UUID | None = None
        self._holding = False
        self._starting = False

    async def admit(self) -> None:
        """Take a generation slot, then a starting place (no-op when already held or unbounded).

        Starting places keep the items between admission and their submission few: a hundred task
        runs set up at once would interleave on the event loop and all submit late, where a few at
        a time submit in order and the API starts on the first one at once.
        """
        if self._holding or self._slots is None:
            return
        self._token = await self._slots.acquire()
        self._holding = True
        if self._starts is not None:
            try:
                await self._starts.acquire()
            except BaseException:
                self.finish_generation()
                raise
            self._starting = True

    def submitted(self) -> None:
        """The generation is on the API (or needs no submission): let the next item start."""
        if self._starting and self._starts is not None:
            self._starting = False
            self._starts.release()

    def finish_generation(self) -> None:
        """Give the generation slot back (idempotent)."""
        self.submitted()
        if not self._holding or self._slots is None:
            return
        self._holding = False
        token, self._token = self._token, None
        self._slots.release(token)

    @contextlib.asynccontextmanager
    async def generating(self) -> AsyncIterator[None]:
        """Hold a generation slot while the body generates (taking one if not held)."""
        await self.admit()
        try:
            yield
        finally:
            self.finish_generation()

    @contextlib.asynccontextmanager
    async def delivering(self) -> AsyncIterator[None]:
        """Hold a delivery place while the body downloads, verifies and archives."""
        if self._deliveries is None:
            yield
            return
        async with self._deliveries:
            yield


_current: ContextVar[ItemPacing | None] = ContextVar("prefect_oxen_item_pacing", default=None)


def current_pacing() -> ItemPacing:
    """The pacing of the item being produced, or an unbounded one outside a batch."""
    return _current.get() or ItemPacing()


@contextlib.contextmanager
def pacing_scope(pacing: ItemPacing) -> Iterator[ItemPacing]:
    """Make `pacing` the current item's while the block runs (task runs inherit it)."""
    reset = _current.set(pacing)
    try:
        yield pacing
    finally:
        _current.reset(reset)
