"""`AsyncOxenClient`: the Oxen video API over `httpx.AsyncClient`.

This is the one implementation of the protocol; `OxenClient` is a blocking facade over it. It
validates before spending, retries only what is safe to retry, never re-sends a paid request
whose outcome is unknown without reconciling first, waits on many generations with one event
stream, and streams results to disk.

Every request leaves through one send path (`Session.send`: the shared throttle before,
``Retry-After`` noted after) and every retry is a stamina retry context (`_retrying`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from prefect_oxen.client._config import USER_AGENT, resolve_api_key, resolve_base_url
from prefect_oxen.client._download import Downloader, DownloadResult, part_path
from prefect_oxen.client._error_mapping import json_object
from prefect_oxen.client._errors import (
    DeadlineExceeded,
    EmptyResult,
    GenerationCancelled,
    GenerationFailed,
    ModelNotFound,
    NotFound,
    OutcomeUnknown,
    OxenError,
    RequestValidationError,
    ResultExpired,
    UnexpectedResponse,
)
from prefect_oxen.client._event_stream import EventStream, connect_event_stream, stream_retry_hook
from prefect_oxen.client._models import (
    CompletionEvent,
    Generation,
    GenerationStatus,
    ModelInfo,
    VideoRequest,
    VideoResponse,
)
from prefect_oxen.client._reconcile import IssuedIds, may_be_ours, why
from prefect_oxen.client._redaction import install_httpx_redaction
from prefect_oxen.client._repositories import AsyncRepository
from prefect_oxen.client._session import Session
from prefect_oxen.client._settings import ApiPaths, ClientTimeouts, PollPolicy, RetryPolicy
from prefect_oxen.client._sync_generation import SyncGenerationResult, stream_generation
from prefect_oxen.client._throttle import SharedThrottle
from prefect_oxen.client._tracking import GenerationTracker
from prefect_oxen.client._validation import validate_request

if TYPE_CHECKING:
    from prefect_oxen.media import Base64Extraction

__all__ = ["AsyncOxenClient"]

logger = logging.getLogger("prefect_oxen.client")

T = TypeVar("T")


class _Resend(Exception):
    """An enqueue's outcome was unknown and the queue shows no trace of it: safe to send again."""

    def __init__(self, lost: OutcomeUnknown) -> None:
        super().__init__(why(lost))
        self.lost = lost


def _resend_only(exc: Exception) -> bool:
    """The enqueue's retry hook: only a reconciled, absent enqueue is sent again."""
    return isinstance(exc, _Resend)


class AsyncOxenClient:
    """Async client for the Oxen video API.

    Args:
        api_key: The API key (default: ``OXEN_API_KEY``).
        base_url: The API root (default: ``OXEN_BASE_URL``, else the hosted API).
        timeouts: Per-call deadlines.
        retry: How transient failures are retried.
        poll: How waits poll and use the event stream.
        paths: Route paths (current and legacy forms).
        validate: Check requests against the model's schema before paying (per-call override).
        max_connections: Connection pool size of the client's own httpx client.
        http_client: An httpx client to send through instead (not closed by `aclose`).

    Raises:
        AuthenticationError: No API key was given or found.

    Example:
        >>> async with AsyncOxenClient(api_key="...", base_url="http://127.0.0.1:8765") as oxen:
        ...     [gen] = await oxen.enqueue(VideoRequest(model="...", prompt="a fox", duration=5))
        ...     done = await oxen.wait_for_generation(gen.generation_id, timeout=900)
        ...     await oxen.download(done.result_url, "fox.mp4", generation_id=gen.generation_id)
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeouts: ClientTimeouts | None = None,
        retry: RetryPolicy | None = None,
        poll: PollPolicy | None = None,
        paths: ApiPaths | None = None,
        validate: bool = True,
        max_connections: int = 16,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        key = resolve_api_key(api_key)
        self.base_url = resolve_base_url(base_url)
        self.timeouts = timeouts or ClientTimeouts()
        self.retry = retry or RetryPolicy()
        self.poll = poll or PollPolicy()
        self.paths = paths or ApiPaths()
        self.validate = validate
        install_httpx_redaction()
        self._owns_http = http_client is None
        http = http_client or httpx.AsyncClient(
            timeout=self.timeouts.httpx(),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            headers={"User-Agent": USER_AGENT},
            follow_redirects=True,
        )
        self._session = Session(
            http, api_key=key, base_url=self.base_url, timeouts=self.timeouts, retry=self.retry
        )
        self._downloader = Downloader(self._session, self.fresh_result_url)
        self._models: dict[str, ModelInfo] = {}
        # The first path form that answered, per route family (current or legacy).
        self._route: dict[str, str] = {}
        self._tracker: GenerationTracker | None = None
        # Ids already returned to a caller: each belongs to that caller, so a later lost enqueue
        # of the same request must not be reconciled to it (e.g. an earlier attempt's failed one).
        self._issued = IssuedIds()

    def __repr__(self) -> str:
        return f"AsyncOxenClient(base_url={self.base_url!r})"

    async def __aenter__(self) -> AsyncOxenClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the event stream and close connections (an `http_client` given is left open)."""
        if self._tracker is not None:
            await self._tracker.aclose()
        if self._owns_http:
            await self._session.http.aclose()

    # --- plumbing -------------------------------------------------------------------------

    def repository(self, namespace: str, name: str) -> AsyncRepository:
        """A handle on the Oxen repository `namespace/name`, sharing this client's session.

        Its requests share this client's connection pool, throttle, retry policy and key.

        Args:
            namespace: The user or organisation that owns it.
            name: The repository's name.

        Returns:
            The handle (no request is made until one of its methods is awaited).

        Raises:
            InvalidRepoUri: A name holds characters Oxen does not allow.
        """
        return AsyncRepository(self._session, namespace, name)

    @property
    def throttle(self) -> SharedThrottle:
        """The pause every request of this client waits out after a 429 with ``Retry-After``."""
        return self._session.throttle

    @property
    def tracker(self) -> GenerationTracker:
        """The one watcher of this client's queued generations (event stream plus polls)."""
        if self._tracker is None:
            self._tracker = GenerationTracker(
                self._session, self, self.poll, events_path=self.paths.events
            )
        return self._tracker

    async def _on_route(
        self,
        family: str,
        candidates: tuple[str, ...],
        call: Callable[[str], Awaitable[T]],
        *,
        by_id: bool = False,
    ) -> T:
        """`call` on the first path form that exists; a route-level 404 moves on to the next.

        The form that answered is remembered per family; a 404 about a model, or about an id
        (`by_id`), is an answer and is raised.
        """
        known = self._route.get(family)
        last: NotFound | None = None
        for base in [known] if known else list(candidates):
            try:
                result = await call(base)
            except ModelNotFound:
                raise
            except NotFound as exc:
                if by_id:
                    raise
                last = exc
                continue
            self._route[family] = base
            return result
        assert last is not None
        raise last

    async def _call_route(
        self, family: str, candidates: tuple[str, ...], suffix: str, method: str, **kwargs: Any
    ) -> httpx.Response:
        """`Session.call` on the first path form of `family` that exists."""
        return await self._on_route(
            family,
            candidates,
            lambda base: self._session.call(method, base + suffix, **kwargs),
            by_id=bool(kwargs.get("generation_id")),
        )

    # --- models ---------------------------------------------------------------------------

    async def list_models(self, /, **filters: Any) -> list[ModelInfo]:
        """The catalogue (``GET /api/ai/models``, or the older ``/api/evaluations/models``).

        Args:
            **filters: Query parameters passed through (e.g. ``type="video"``).

        Returns:
            Every model the API lists.

        Raises:
            UnexpectedResponse: The answer is not a model list.
            OxenError: The call failed.
        """
        response = await self._call_route("models", self.paths.models, "", "GET", params=filters)
        body = json_object(response)
        rows = body.get("data")
        if rows is None:
            rows = body.get("models")
        if not isinstance(rows, list):
            raise UnexpectedResponse("The model list has neither 'data' nor 'models'.", body=body)
        return [ModelInfo.model_validate(row) for row in rows]

    async def get_model(self, model_id: str, *, refresh: bool = False) -> ModelInfo:
        """One model with pricing and request schema; cached per client.

        Args:
            model_id: The model's id.
            refresh: Ask the API again even if the model is cached.

        Returns:
            The model's details.

        Raises:
            ModelNotFound: The API does not know `model_id`.
            OxenError: The call failed.
        """
        if not refresh and model_id in self._models:
            return self._models[model_id]
        try:
            response = await self._call_route(
                "models", self.paths.models, f"/{model_id}", "GET", model=model_id
            )
        except NotFound as exc:
            if isinstance(exc, ModelNotFound):
                raise
            raise ModelNotFound(
                f"Model not found: {model_id}. Check the id with `prefect-oxen models`.",
                model=model_id,
                status_code=404,
                detail=f"Model not found: {model_id}",
            ) from None
        body = json_object(response)
        row = body.get("model")
        info = ModelInfo.model_validate(row if isinstance(row, dict) else body)
        self._models[model_id] = info
        return info

    async def validate_request(self, request: VideoRequest) -> VideoRequest:
        """Check `request` against its model's details (fetched once), before any spend.

        Args:
            request: The request to check.

        Returns:
            `request` itself, when the model can take it.

        Raises:
            RequestValidationError: The model cannot take `request` (the message says why).
            ModelNotFound: The model does not exist.
        """
        return validate_request(request, await self.get_model(request.model))

    async def estimate_cost(self, request: VideoRequest) -> float | None:
        """Price of `request` in USD from the model's pricing.

        Args:
            request: The request to price.

        Returns:
            The price, or None if the model has no rate.

        Raises:
            ModelNotFound: The model does not exist.
        """
        return (await self.get_model(request.model)).estimate_cost(request)

    async def _maybe_validate(self, request: VideoRequest, validate: bool | None) -> None:
        """Validate `request` when asked to (per call, else the client's setting)."""
        if self.validate if validate is None else validate:
            await self.validate_request(request)

    # --- synchronous generation -----------------------------------------------------------

    async def generate_video(
        self, request: VideoRequest, *, validate: bool | None = None
    ) -> VideoResponse:
        """Generate one video on the blocking endpoint (minutes); the answer as the API sent it.

        Each call is a paid generation. A lost answer raises `OutcomeUnknown` rather than paying
        again; use the queue (`enqueue` + `wait_for_generation`) for anything long or batched.

        Args:
            request: What to generate.
            validate: Check `request` against the model first (default: the client's setting).

        Returns:
            The API's answer (video URLs or inline base64).

        Raises:
            RequestValidationError: The request was refused (before or by the API).
            OutcomeUnknown: The answer was lost; the generation may have been billed.
            OxenError: The call failed otherwise.
        """
        await self._maybe_validate(request, validate)
        response = await self._call_route(
            "video_generate",
            self.paths.video_generate,
            "",
            "POST",
            json=request.to_payload(),
            paid=True,
            read_timeout=self.timeouts.generate,
            model=request.model,
        )
        return VideoResponse.model_validate(json_object(response))

    async def generate_video_to_file(
        self,
        request: VideoRequest,
        destination: str | os.PathLike[str],
        *,
        validate: bool | None = None,
    ) -> SyncGenerationResult:
        """Generate on the blocking endpoint and stream the video to `destination`.

        A ``b64_json`` answer is decoded while it arrives, so memory stays flat whatever the size;
        a ``url`` answer is downloaded with resume. The file appears atomically.

        Args:
            request: What to generate.
            destination: Where the video is written.
            validate: Check `request` against the model first (default: the client's setting).

        Returns:
            The file and what the API said about it.

        Raises:
            EmptyResult: The answer held no video (it may still have been billed).
            OutcomeUnknown: The answer was lost; the generation may have been billed.
            OxenError: The call or the download failed otherwise.
        """
        await self._maybe_validate(request, validate)
        destination = Path(destination)
        payload = request.to_payload()
        answer = await self._on_route(
            "video_generate",
            self.paths.video_generate,
            lambda base: stream_generation(
                self._session, base, payload, model=request.model, part=part_path(destination)
            ),
        )
        return await self._deliver(answer, destination)

    async def _deliver(self, answer: Base64Extraction, destination: Path) -> SyncGenerationResult:
        """Put a streamed answer's video at `destination`: the decoded bytes, or its URL's."""
        model = answer.metadata.model
        created = answer.metadata.created
        if answer.bytes_written:
            os.replace(part_path(destination), destination)
            download = DownloadResult(
                path=destination, size_bytes=answer.bytes_written, sha256=answer.sha256
            )
            return SyncGenerationResult(
                download=download, model=model, created=created, delivered_as="b64_json"
            )
        url = answer.metadata.url
        if not url:
            raise EmptyResult(
                "The API answered the generation with no video (no url, no b64_json): it may "
                "have been filtered. It may still have been billed.",
                generation_id="",
            )
        download = await self.download(url, destination)
        return SyncGenerationResult(
            download=download, model=model, created=created, delivered_as="url"
        )

    # --- the queue ------------------------------------------------------------------------

    async def enqueue(
        self, request: VideoRequest, *, num_generations: int = 1, validate: bool | None = None
    ) -> list[Generation]:
        """Queue `num_generations` (1-4) paid generations of `request`; returns their rows.

        Subscribes to completion events first (they are not replayed). If the answer is lost, the
        queue is searched for the generations this call created before anything is re-sent.

        Args:
            request: What to generate.
            num_generations: How many generations of `request` (1-4).
            validate: Check `request` against the model first (default: the client's setting).

        Returns:
            The new generations' rows (status ``queued`` as a rule).

        Raises:
            RequestValidationError: `num_generations` is out of range, or the request was refused.
            OutcomeUnknown: The outcome could not be told (the queue could not be read, or every
                attempt was lost without a trace); not re-sent, check before paying again.
            OxenError: The call failed otherwise.
        """
        if not isinstance(num_generations, int) or not 1 <= num_generations <= 4:
            raise RequestValidationError(
                "num_generations must be an integer between 1 and 4. Call enqueue again to "
                "queue more.",
                field="num_generations",
            )
        await self._maybe_validate(request, validate)
        await self.tracker.subscribe()
        payload = {**request.to_payload(), "num_generations": num_generations}
        with contextlib.suppress(_Resend):
            async for attempt in self._session.attempts(_resend_only):
                with attempt:
                    return await self._enqueue_once(request, payload, num_generations)
        raise OutcomeUnknown(
            "Enqueue answers kept getting lost and none of the attempts shows in the queue. "
            "Check the generation history before paying again.",
            method="POST",
            url=self.paths.queue,
        )

    async def _enqueue_once(
        self, request: VideoRequest, payload: dict[str, Any], count: int
    ) -> list[Generation]:
        """One enqueue (API retries included); a lost one is reconciled with the queue.

        Raises:
            _Resend: The outcome was unknown and the queue shows no trace: send again.
        """
        sent_at = time.time()
        try:
            response = await self._session.call(
                "POST", self.paths.queue, json=payload, paid=True, model=request.model
            )
        except OutcomeUnknown as lost:
            # A lost answer or a 500/502/504: the generations may exist. Look before re-sending.
            found = await self._reconcile_enqueue(request, lost, since=sent_at, count=count)
            if not found:
                logger.warning(
                    "Enqueue outcome was unknown (%s) and the queue shows no trace of it; "
                    "sending again.",
                    why(lost),
                )
                raise _Resend(lost) from None
            logger.warning(
                "Enqueue outcome was unknown (%s); found the %d generation(s) it created in the "
                "queue.",
                why(lost),
                len(found),
            )
            self._issued.remember(found)
            return found
        body = json_object(response)
        rows = body.get("generations")
        if not isinstance(rows, list) or not rows:
            raise UnexpectedResponse("The enqueue answer has no generations.", body=body)
        generations = [
            Generation.model_validate({"model_name": request.model, **row}) for row in rows
        ]
        for generation in generations:
            self.tracker.resolve(generation)
        self._issued.remember(generations)
        return generations

    async def _reconcile_enqueue(
        self, request: VideoRequest, lost: OutcomeUnknown, *, since: float, count: int
    ) -> list[Generation]:
        """`find_enqueued` for an enqueue whose outcome is unknown; a queue that cannot be read
        leaves it unknown (re-sending then could pay twice), so that raises `OutcomeUnknown`."""
        try:
            return await self.find_enqueued(request, since=since, count=count)
        except OxenError as exc:
            raise OutcomeUnknown(
                f"The enqueue's outcome is unknown ({why(lost)}) and the queue could not be "
                f"checked ({type(exc).__name__}: {exc}). Not re-sent: check the queue or the "
                "generation history before paying again.",
                method="POST",
                url=self.paths.queue,
                status_code=lost.status_code,
                detail=lost.detail,
            ) from exc

    async def find_enqueued(
        self, request: VideoRequest, *, since: float, count: int = 1
    ) -> list[Generation]:
        """Generations of `request` enqueued since `since` (unix time), newest first.

        How an enqueue whose answer was lost (or whose process died) is recognised: same model,
        same echoed parameters, enqueued after it was sent, and not already returned by this
        client's `enqueue` (an earlier attempt's generation is not this one).

        Args:
            request: The request that was enqueued.
            since: Unix time the enqueue was sent.
            count: How many generations the enqueue asked for.

        Returns:
            The `count` newest matching rows, or [] unless `count` are found.

        Raises:
            OxenError: The queue cannot be read (absence could not be told).
        """
        candidates: list[Generation] = []
        seen: set[str] = set()
        for status in (None, "succeeded", "failed"):
            for row in await self.list_queue(model=request.model, status=status):
                gid = row.generation_id
                fresh = gid not in seen and gid not in self._issued
                if fresh and may_be_ours(row, request, since=since):
                    seen.add(gid)
                    candidates.append(row)
        candidates.sort(key=lambda row: row.enqueued_at or 0, reverse=True)
        return candidates[:count] if len(candidates) >= count else []

    async def get_generation(self, generation_id: str) -> Generation:
        """The queue row of one generation (``GET /api/ai/queue/:id``).

        Args:
            generation_id: The generation's id.

        Returns:
            Its current row.

        Raises:
            GenerationNotFound: The API does not know the id.
            UnexpectedResponse: The row cannot be read.
            OxenError: The call failed.
        """
        response = await self._session.call(
            "GET", f"{self.paths.queue}/{generation_id}", generation_id=generation_id
        )
        body = json_object(response)
        row = body.get("generation")
        return _parse_generation(row if isinstance(row, dict) else body)

    async def list_queue(
        self,
        *,
        status: str | GenerationStatus | None = None,
        model: str | None = None,
        namespace: str | None = None,
        media_type: str | None = None,
    ) -> list[Generation]:
        """Queue rows; by default only active ones (queued, processing), as the API does.

        Args:
            status: Only rows in this status.
            model: Only rows of this model.
            namespace: Only rows billed to this namespace.
            media_type: Only rows of this media type.

        Returns:
            The rows, as the API lists them.

        Raises:
            UnexpectedResponse: The answer is not a queue list.
            OxenError: The call failed.
        """
        status_value = status.value if isinstance(status, GenerationStatus) else status
        params = {"status": status_value, "model": model}
        params |= {"namespace": namespace, "media_type": media_type}
        response = await self._session.call("GET", self.paths.queue, params=params)
        body = json_object(response)
        rows = body.get("generations")
        if not isinstance(rows, list):
            raise UnexpectedResponse("The queue list has no 'generations'.", body=body)
        return [_parse_generation(row) for row in rows]

    async def generation_costs(
        self, generation_ids: list[str], *, page_size: int = 1000
    ) -> dict[str, float]:
        """Actual costs of `generation_ids` from the billing history (``GET /api/ai/generations``).

        Pages newest first and stops once every id is found, or after as many pages as the ids
        could fill plus one (older history is not walked).

        Args:
            generation_ids: The generations to look up.
            page_size: Rows per page.

        Returns:
            Cost in USD per id found; ids without a cost are left out.

        Raises:
            OxenError: A page could not be read.
        """
        wanted = set(generation_ids)
        costs: dict[str, float] = {}
        max_pages = len(wanted) // page_size + 2
        for page in range(1, max_pages + 1):
            if not wanted - costs.keys():
                break
            params = {"page": page, "page_size": page_size}
            body = json_object(
                await self._session.call("GET", self.paths.generations, params=params)
            )
            rows = body.get("generations")
            if not isinstance(rows, list) or not rows:
                break
            costs |= _costs_in(rows, wanted)
            if page >= int(body.get("total_pages") or page):
                break
        return costs

    async def cancel_generation(self, generation_id: str) -> None:
        """Cancel a queued or running generation (no effect on a finished one).

        Args:
            generation_id: The generation's id.

        Raises:
            GenerationNotFound: The API does not know the id.
            OxenError: The call failed.
        """
        await self._session.call(
            "DELETE", f"{self.paths.queue}/{generation_id}", generation_id=generation_id
        )

    async def retry_generation(self, generation_id: str) -> Generation:
        """Re-run a failed or cancelled generation with the same parameters (a new paid one).

        Args:
            generation_id: The generation to re-run.

        Returns:
            The new generation's row.

        Raises:
            GenerationNotFound: The API does not know the id.
            OxenError: The call failed.
        """
        response = await self._session.call(
            "POST",
            f"{self.paths.queue}/{generation_id}/retry",
            paid=True,
            generation_id=generation_id,
        )
        body = json_object(response)
        rows = body.get("generations")
        return _parse_generation(rows[0] if isinstance(rows, list) and rows else body)

    async def events(self) -> AsyncGenerator[CompletionEvent, None]:
        """Raw completion events from ``/api/events`` as they arrive (no replay, no reconnect).

        The connect is retried like any call while the failure is transient; a refusal (the
        stream is not available to this key or server) is raised at once.

        Returns:
            An async iterator of events; it ends when the server closes the stream.

        Raises:
            OxenError: The stream was refused, could not be opened, or broke.
        """
        stream: EventStream | None = None
        async for attempt in self._session.attempts(stream_retry_hook(self.retry)):
            with attempt:
                stream = await connect_event_stream(self._session, self.paths.events)
        assert stream is not None
        try:
            async for event in stream.events():
                yield event
        finally:
            await stream.aclose()

    async def wait_for_generation(
        self,
        generation_id: str,
        *,
        timeout: float | None = None,
        start_timeout: float | None = None,
    ) -> Generation:
        """Wait until `generation_id` succeeds and return its row (with `result_url`).

        Args:
            generation_id: The generation to wait for.
            timeout: Seconds to wait for it to finish (None: no limit).
            start_timeout: Seconds it may stay queued before the wait gives up.

        Returns:
            The succeeded row.

        Raises:
            GenerationFailed: It failed.
            GenerationCancelled: It was cancelled.
            EmptyResult: It succeeded without a video.
            GenerationLost: It vanished from the queue.
            DeadlineExceeded: Stage ``"start"`` if it is still queued after `start_timeout`,
                ``"finish"`` after `timeout` (the generation keeps running remotely).
        """
        tracker = self.tracker
        await tracker.subscribe()
        future = tracker.track(generation_id)
        started = time.monotonic()
        try:
            if start_timeout is not None:
                await self._wait_for_start(generation_id, future, start_timeout, started)
            remaining = (
                None if timeout is None else max(0.0, timeout - (time.monotonic() - started))
            )
            try:
                generation = await asyncio.wait_for(asyncio.shield(future), remaining)
            except asyncio.TimeoutError:
                raise DeadlineExceeded(
                    f"Generation {generation_id} did not finish within {timeout:g} s; it may "
                    "still be running (cancel it or collect it later).",
                    generation_id=generation_id,
                    stage="finish",
                    waited=time.monotonic() - started,
                ) from None
        finally:
            tracker.untrack(generation_id)
        return _successful(generation)

    async def _wait_for_start(
        self,
        generation_id: str,
        future: asyncio.Future[Generation],
        start_timeout: float,
        started: float,
    ) -> None:
        """Return once the generation has left the queued state (or finished).

        Raises:
            DeadlineExceeded: It is still queued after `start_timeout` (stage ``"start"``).
        """
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(future), start_timeout)
        if future.done():
            return
        status = self.tracker.last_status(generation_id)
        if status is None:
            row = await self.get_generation(generation_id)
            self.tracker.resolve(row)
            status = row.status
        if status == GenerationStatus.QUEUED and not future.done():
            raise DeadlineExceeded(
                f"Generation {generation_id} did not start within {start_timeout:g} s; it is "
                "still queued (cancel it or collect it later).",
                generation_id=generation_id,
                stage="start",
                waited=time.monotonic() - started,
            )

    # --- results --------------------------------------------------------------------------

    async def download(
        self,
        url: str,
        destination: str | os.PathLike[str],
        *,
        generation_id: str | None = None,
        max_attempts: int | None = None,
    ) -> DownloadResult:
        """Stream `url` to `destination` atomically, resuming a cut body with Range requests.

        An expired URL (401/403/404/410) is refreshed from the generation row when
        `generation_id` is given. Attempts are paced by the retry policy (a cut body or a
        refreshed URL goes again at once).

        Args:
            url: The result URL (the key is sent only to the API's own host).
            destination: Where the file is written (a ``.part`` sibling until complete).
            generation_id: The queued generation the URL belongs to, so it can be re-signed.
            max_attempts: Attempts allowed (default: the policy's, at least 3).

        Returns:
            The file's path, size, sha256 and how many attempts it took.

        Raises:
            ResultExpired: The URL expired and there is no `generation_id` (a synchronous result
                cannot be fetched again), or the generation has no result any more.
            DownloadError: The file could not be completed in the attempts allowed.
            OxenError: The server refused the download for good.
        """
        return await self._downloader.download(
            url, Path(destination), generation_id=generation_id, max_attempts=max_attempts
        )

    async def fresh_result_url(self, generation_id: str) -> str:
        """A newly signed result URL for a succeeded generation (the API re-signs on every read).

        Args:
            generation_id: The generation's id.

        Returns:
            The signed URL.

        Raises:
            ResultExpired: The generation has not succeeded or has no result.
            OxenError: The row could not be read.
        """
        row = await self.get_generation(generation_id)
        if row.status != GenerationStatus.SUCCEEDED or not row.result_url:
            raise ResultExpired(
                f"Generation {generation_id} has no fresh result URL (status {row.status.value}).",
            )
        return row.result_url


# --- helpers -----------------------------------------------------------------------------------


def _costs_in(rows: list[Any], wanted: set[str]) -> dict[str, float]:
    """The costs of the `wanted` ids among billing-history `rows`."""
    costs: dict[str, float] = {}
    for row in rows:
        if not isinstance(row, dict):
            continue
        gid = row.get("generation_id") or row.get("id")
        if gid in wanted and row.get("cost") is not None:
            with contextlib.suppress(TypeError, ValueError):
                costs[gid] = float(row["cost"])
    return costs


def _parse_generation(body: Any) -> Generation:
    """A queue row as a `Generation`; raises `UnexpectedResponse` rather than guess."""
    if not isinstance(body, dict):
        raise UnexpectedResponse("A generation row is not a JSON object.", body=body)
    try:
        return Generation.model_validate(body)
    except ValueError as exc:
        status = body.get("status")
        raise UnexpectedResponse(
            f"Unrecognised generation row (status {status!r}); refusing to guess: {exc}",
            body=body,
        ) from None


def _successful(generation: Generation) -> Generation:
    """`generation` when it succeeded with a video; the matching typed error otherwise."""
    gid = generation.generation_id
    if generation.status == GenerationStatus.FAILED:
        raise GenerationFailed(
            f"Generation {gid} failed: {generation.error_message or 'no reason given'}.",
            generation_id=gid,
            error_message=generation.error_message,
        )
    if generation.status == GenerationStatus.CANCELLED:
        raise GenerationCancelled(f"Generation {gid} was cancelled.", generation_id=gid)
    if not generation.result_url:
        raise EmptyResult(
            f"Generation {gid} succeeded but returned no video (filtered or empty output).",
            generation_id=gid,
        )
    return generation
