"""Watching many queued generations at once with as few API calls as possible.

One `GenerationTracker` per client multiplexes every wait onto one server-sent event stream
(``/api/events``) plus one periodic list call (``GET /api/ai/queue``, active rows only). A
generation that leaves the active list without an event (cancelled ones never get one, and events
are lost while the stream reconnects) is then fetched once by id. So a batch of N waits costs
about one call per generation, not one per poll per generation.

The stream is read through the `Session` and the one reader in `_event_stream`; the queue through
a `QueueReader` (the client's own queue calls). Reconnects are paced by stamina, like every retry
of the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import OrderedDict
from typing import Protocol

import stamina

from prefect_oxen.client._errors import (
    APIError,
    GenerationLost,
    GenerationNotFound,
    OxenError,
)
from prefect_oxen.client._event_stream import connect_event_stream, stream_refused
from prefect_oxen.client._models import CompletionEvent, Generation, GenerationStatus
from prefect_oxen.client._retrying import Decision
from prefect_oxen.client._session import Session
from prefect_oxen.client._settings import PollPolicy

__all__ = ["GenerationTracker", "QueueReader"]

logger = logging.getLogger("prefect_oxen.client")

_RECENT_EVENTS = 10_000
# Consecutive stream failures after which the tracker stops asking and polls for good.
_MAX_STREAM_FAILURES = 20


class QueueReader(Protocol):
    """The two queue reads the tracker polls with (`AsyncOxenClient` provides both)."""

    async def list_queue(self) -> list[Generation]:
        """Active queue rows."""

    async def get_generation(self, generation_id: str) -> Generation:
        """One queue row by id."""


class _StreamEnded(Exception):
    """The server closed the event stream: reconnect (events meanwhile are lost)."""


class GenerationTracker:
    """Resolves one future per tracked generation id when the generation reaches a terminal state.

    Args:
        session: The client's send path, for the event stream.
        queue: Where polls read the queue.
        poll: Polling and event-stream policy.
        events_path: The event-stream route.
    """

    def __init__(
        self, session: Session, queue: QueueReader, poll: PollPolicy, *, events_path: str
    ) -> None:
        self._session = session
        self._queue = queue
        self._events_path = events_path
        self._poll = poll
        self._failures = 0
        self._futures: dict[str, asyncio.Future[Generation]] = {}
        self._last_status: dict[str, GenerationStatus] = {}
        # Events can arrive before their waiter registers (the enqueue answer and the event race).
        self._recent: OrderedDict[str, Generation] = OrderedDict()
        self._stream_task: asyncio.Task[None] | None = None
        self._poll_task: asyncio.Task[None] | None = None
        self._stream_up = asyncio.Event()
        self._stream_gave_up = False
        self._registered = asyncio.Event()  # wakes the idle poll loop
        self._reconcile = asyncio.Event()  # poll now: events may have been lost
        self.stream_connects = 0

    # --- public -----------------------------------------------------------------------------

    @property
    def events_healthy(self) -> bool:
        """True while the event stream is connected."""
        return self._stream_up.is_set()

    @property
    def events_unavailable(self) -> bool:
        """True once the API refused the event stream (404, 401, 403...): polling only, for good."""
        return self._stream_gave_up

    async def subscribe(self, timeout: float = 10.0) -> bool:
        """Make sure the event stream is connected (events are not replayed: call before enqueue).

        Args:
            timeout: Seconds to wait for the connection.

        Returns:
            True once connected; False at once when the API has no stream for this client (a
            refusal ends the stream task), and after `timeout` seconds while the stream keeps
            failing to connect.
        """
        if not self._poll.use_events or self._stream_gave_up:
            return False
        if self._stream_task is None or self._stream_task.done():
            self._stream_task = asyncio.create_task(self._run_stream(), name="oxen-events")
        if self._stream_up.is_set():
            return True
        connected = asyncio.ensure_future(self._stream_up.wait())
        try:
            await asyncio.wait(
                {connected, self._stream_task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            connected.cancel()
        return self._stream_up.is_set()

    def track(self, generation_id: str) -> asyncio.Future[Generation]:
        """Track `generation_id` until it reaches a terminal state.

        Args:
            generation_id: The generation to watch.

        Returns:
            A future resolved with the terminal row (or failed with an `OxenError`).
        """
        future = self._futures.get(generation_id)
        if future is None or future.done():
            future = asyncio.get_running_loop().create_future()
            self._futures[generation_id] = future
            recent = self._recent.pop(generation_id, None)
            if recent is not None:
                future.set_result(recent)
        if self._poll_task is None or self._poll_task.done():
            self._poll_task = asyncio.create_task(self._run_polls(), name="oxen-poll")
        self._registered.set()
        return future

    def untrack(self, generation_id: str) -> None:
        """Stop tracking `generation_id` (its future is cancelled if still pending).

        Args:
            generation_id: The generation.
        """
        future = self._futures.pop(generation_id, None)
        self._last_status.pop(generation_id, None)
        if future is not None and not future.done():
            future.cancel()

    def last_status(self, generation_id: str) -> GenerationStatus | None:
        """The last status seen for `generation_id`.

        Args:
            generation_id: The generation.

        Returns:
            The status, or None if none was seen yet.
        """
        return self._last_status.get(generation_id)

    def resolve(self, generation: Generation) -> None:
        """Record a row seen elsewhere (e.g. our own cancel call or a direct GET).

        Args:
            generation: The row; a terminal one resolves its wait (or is kept for a later one).
        """
        self._last_status[generation.generation_id] = generation.status
        if not generation.is_terminal:
            return
        future = self._futures.get(generation.generation_id)
        if future is None:
            self._recent[generation.generation_id] = generation
            while len(self._recent) > _RECENT_EVENTS:
                self._recent.popitem(last=False)
        elif not future.done():
            future.set_result(generation)

    async def aclose(self) -> None:
        """Stop the stream and poll tasks and cancel every pending wait."""
        for task in (self._stream_task, self._poll_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        for future in self._futures.values():
            if not future.done():
                future.cancel()
        self._futures.clear()

    # --- server-sent events ------------------------------------------------------------------

    async def _run_stream(self) -> None:
        """Keep the stream connected; stamina paces reconnects, `_reconnect_after` decides."""
        try:
            async for attempt in stamina.retry_context(
                on=self._reconnect_after, attempts=None, timeout=None
            ):
                with attempt:
                    await self._consume_stream()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._stream_up.clear()
            self._stream_gave_up = True
            if not stream_refused(exc):
                logger.debug("Oxen event stream given up: %s", type(exc).__name__)
                return
            # No event stream for us on this server (route missing, key not allowed, not an
            # event stream at all): asking again cannot help, so poll for the client's life.
            # A key refused here is likely refused everywhere: worth a warning, once.
            refused_key = isinstance(exc, APIError) and exc.status_code in (401, 403)
            logger.log(
                logging.WARNING if refused_key else logging.INFO,
                "Oxen event stream unavailable (%s); waiting by polling only.",
                _describe(exc),
            )

    def _reconnect_after(self, exc: Exception) -> Decision:
        """The stamina hook of the stream: how long to wait before reconnecting, or give up."""
        if stream_refused(exc) or not isinstance(exc, (OxenError, _StreamEnded)):
            return False
        self._failures = 0 if isinstance(exc, _StreamEnded) else self._failures + 1
        if isinstance(exc, OxenError):
            logger.debug("Oxen event stream dropped: %s", type(exc).__name__)
        self._stream_up.clear()
        if self._failures >= _MAX_STREAM_FAILURES:
            return False
        # Events fired while we were away are lost: poll everything we track right away.
        self._reconcile.set()
        backoff = min(self._poll.initial * (1.5**self._failures), self._poll.maximum)
        return backoff * random.uniform(0.5, 1.0)

    async def _consume_stream(self) -> None:
        """Connect once and resolve what the events report, until the stream ends."""
        stream = await connect_event_stream(self._session, self._events_path)
        try:
            self.stream_connects += 1
            self._stream_up.set()
            if self.stream_connects > 1 or self._futures:
                # Events fired before this connection are lost: poll what is already tracked.
                self._reconcile.set()
            async for event in stream.events():
                self.resolve(_row_of(event))
        finally:
            await stream.aclose()
        raise _StreamEnded

    # --- polling -----------------------------------------------------------------------------

    async def _run_polls(self) -> None:
        """Poll while anything is tracked: fast without events, rarely with them."""
        interval = self._poll.initial
        while True:
            if not any(not fut.done() for fut in self._futures.values()):
                self._registered.clear()
                await self._registered.wait()
                interval = self._poll.initial
                continue
            wait = self._poll.safety_interval if self.events_healthy else interval
            wait *= 1 + random.uniform(-self._poll.jitter, self._poll.jitter)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._reconcile.wait(), wait)
            self._reconcile.clear()
            changed = await self._poll_once()
            interval = (
                self._poll.initial
                if changed
                else min(interval * self._poll.factor, self._poll.maximum)
            )

    async def _poll_once(self) -> bool:
        """One queue list; ids no longer active are fetched one by one."""
        pending = [gid for gid, fut in self._futures.items() if not fut.done()]
        if not pending:
            return False
        try:
            active = {row.generation_id: row for row in await self._queue.list_queue()}
        except OxenError as exc:
            logger.debug(
                "Queue list failed (%s); polling generations one by one.", type(exc).__name__
            )
            active = None
        changed = False
        for gid in pending:
            row = active.get(gid) if active is not None else None
            if row is not None:
                if self._last_status.get(gid) != row.status:
                    changed = True
                self._last_status[gid] = row.status
                continue
            changed = True
            await self._fetch(gid)
        return changed

    async def _fetch(self, generation_id: str) -> None:
        """Fetch one generation's row; a 404 fails its wait with `GenerationLost`."""
        future = self._futures.get(generation_id)
        try:
            row = await self._queue.get_generation(generation_id)
        except GenerationNotFound:
            if future is not None and not future.done():
                future.set_exception(
                    GenerationLost(
                        f"Generation {generation_id} vanished from the queue (404): its outcome is "
                        "unknown. Check the generation history before paying again.",
                        generation_id=generation_id,
                    )
                )
            return
        except OxenError as exc:
            logger.debug("Polling %s failed: %s", generation_id, type(exc).__name__)
            return
        self.resolve(row)


def _row_of(event: CompletionEvent) -> Generation:
    """The terminal row an event stands for."""
    return Generation(
        generation_id=event.generation_id,
        status=event.status,
        model_name=event.model,
        media_type=event.media_type,
        result_url=event.url,
        error_message=event.error,
    )


def _describe(exc: BaseException) -> str:
    """A refusal in a few words: its status, or why the answer is not an event stream."""
    if isinstance(exc, APIError) and exc.status_code is not None:
        return f"HTTP {exc.status_code}"
    return str(exc)
