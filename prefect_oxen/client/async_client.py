"""`AsyncOxenClient`: the Oxen video API over `httpx.AsyncClient`.

This is the one implementation of the protocol; `OxenClient` is a blocking facade over it. It
validates before spending, retries only what is safe to retry, never re-sends a paid request
whose outcome is unknown without reconciling first, waits on many generations with one event
stream, and streams results to disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import httpx
import stamina
from pydantic import BaseModel

from prefect_oxen.client import _core
from prefect_oxen.client.errors import (
    DeadlineExceeded,
    DownloadError,
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
from prefect_oxen.client.models import (
    CompletionEvent,
    Generation,
    GenerationStatus,
    ModelInfo,
    VideoRequest,
    VideoResponse,
)
from prefect_oxen.client.redaction import install_httpx_redaction, redact_url
from prefect_oxen.client.settings import ApiPaths, ClientTimeouts, PollPolicy, RetryPolicy
from prefect_oxen.client.throttle import SharedThrottle
from prefect_oxen.client.tracking import COMPLETION_EVENT, GenerationTracker
from prefect_oxen.client.validation import validate_request

__all__ = ["AsyncOxenClient", "DownloadResult", "SyncGenerationResult"]

logger = logging.getLogger("prefect_oxen.client")

_CHUNK = 1024 * 1024
# How far apart two clocks may be when matching our own enqueue in the queue list.
_RECONCILE_SLACK_SECONDS = 120.0
# Generation ids handed out by enqueue that reconciliation must not hand out again; far more
# than can fall within the reconciling window above.
_ISSUED_KEPT = 50_000


class DownloadResult(BaseModel):
    """A finished download: where the file is, its size and its sha256."""

    path: Path
    size_bytes: int
    sha256: str
    attempts: int = 1
    refreshed_url: bool = False


class SyncGenerationResult(BaseModel):
    """The outcome of `generate_video_to_file`: the file plus what the API said about it."""

    download: DownloadResult
    model: str | None = None
    created: int | None = None
    delivered_as: str  # "url" or "b64_json"


class AsyncOxenClient:
    """Async client for the Oxen video API.

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
        self.__api_key = _core.resolve_api_key(api_key)
        self.base_url = _core.resolve_base_url(base_url)
        self.timeouts = timeouts or ClientTimeouts()
        self.retry = retry or RetryPolicy()
        self.poll = poll or PollPolicy()
        self.paths = paths or ApiPaths()
        self.validate = validate
        install_httpx_redaction()
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(
            timeout=self.timeouts.httpx(),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            headers={"User-Agent": _core.USER_AGENT},
            follow_redirects=True,
        )
        self._models: dict[str, ModelInfo] = {}
        # The first path form that answered, per route family (current or legacy).
        self._route: dict[str, str] = {}
        self._tracker: GenerationTracker | None = None
        self.throttle = SharedThrottle()
        # Ids already returned to a caller: each belongs to that caller, so a later lost enqueue
        # of the same request must not be reconciled to it (e.g. an earlier attempt's failed one).
        self._issued: OrderedDict[str, None] = OrderedDict()

    def __repr__(self) -> str:
        return f"AsyncOxenClient(base_url={self.base_url!r})"

    async def __aenter__(self) -> AsyncOxenClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the event stream and close connections."""
        if self._tracker is not None:
            await self._tracker.aclose()
        if self._owns_http:
            await self._http.aclose()

    # --- plumbing -------------------------------------------------------------------------

    def _auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.__api_key}"}

    @property
    def tracker(self) -> GenerationTracker:
        if self._tracker is None:
            self._tracker = GenerationTracker(self, self.poll)
        return self._tracker

    async def _send_once(
        self,
        method: str,
        path_or_url: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        paid: bool = False,
        read_timeout: float | None = None,
        model: str | None = None,
        generation_id: str | None = None,
    ) -> httpx.Response:
        url = path_or_url if "://" in path_or_url else self.base_url + path_or_url
        request = self._http.build_request(
            method,
            url,
            json=json,
            params={k: v for k, v in (params or {}).items() if v is not None} or None,
            headers=self._auth_headers(),
            timeout=self.timeouts.httpx(read=read_timeout),
        )
        await self.throttle.wait()
        try:
            response = await self._http.send(request)
        except httpx.HTTPError as exc:
            raise _core.transport_error(exc, request, paid=paid) from None
        self._note_rate_limit(response)
        if response.status_code >= 400:
            if paid:
                raise _core.paid_post_error(response, model=model, generation_id=generation_id)
            raise _core.error_from_response(response, model=model, generation_id=generation_id)
        return response

    def _note_rate_limit(self, response: httpx.Response) -> None:
        """On a 429 with ``Retry-After``, hold back every call of this client that long."""
        if response.status_code == 429:
            retry_after = _core.parse_retry_after(response.headers.get("retry-after"))
            if retry_after:
                self.throttle.pause(min(retry_after, self.retry.max_retry_after))

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One API call with the retry policy: transient failures retried, the rest raised."""
        async for attempt in stamina.retry_context(
            on=_core.backoff_hook(self.retry), **_core.retry_kwargs(self.retry)
        ):
            with attempt:
                return await self._send_once(method, path, **kwargs)
        raise AssertionError("unreachable")  # pragma: no cover

    def _route_order(self, family: str, candidates: tuple[str, ...]) -> list[str]:
        """The path forms to try: the one that answered before, else every form in order."""
        known = self._route.get(family)
        return [known] if known else list(candidates)

    async def _call_route(self, family: str, candidates: tuple[str, ...], suffix: str, method: str, **kwargs: Any) -> httpx.Response:
        """Call the first path form that exists; a route-level 404 moves on to the next form."""
        last: NotFound | None = None
        for base in self._route_order(family, candidates):
            try:
                response = await self._call(method, base + suffix, **kwargs)
            except ModelNotFound:
                raise
            except NotFound as exc:
                if kwargs.get("generation_id"):
                    raise
                last = exc
                continue
            self._route[family] = base
            return response
        assert last is not None
        raise last

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            raise UnexpectedResponse(
                f"Expected JSON from {response.request.method} {redact_url(str(response.request.url))}, "
                f"got {response.headers.get('content-type', 'no content type')}.",
                status_code=response.status_code,
            ) from None

    # --- models ---------------------------------------------------------------------------

    async def list_models(self, **filters: Any) -> list[ModelInfo]:
        """The catalogue (``GET /api/ai/models``, or the older ``/api/evaluations/models``)."""
        response = await self._call_route("models", self.paths.models, "", "GET", params=filters)
        body = self._json(response)
        rows = body.get("data") if isinstance(body, dict) and "data" in body else None
        if rows is None and isinstance(body, dict):
            rows = body.get("models")
        if not isinstance(rows, list):
            raise UnexpectedResponse("The model list has neither 'data' nor 'models'.", body=body)
        return [ModelInfo.model_validate(row) for row in rows]

    async def get_model(self, model_id: str, *, refresh: bool = False) -> ModelInfo:
        """One model with pricing and request schema; cached per client."""
        if not refresh and model_id in self._models:
            return self._models[model_id]
        try:
            response = await self._call_route("models", self.paths.models, f"/{model_id}", "GET", model=model_id)
        except NotFound as exc:
            if isinstance(exc, ModelNotFound):
                raise
            raise ModelNotFound(
                f"Model not found: {model_id}. Check the id with `prefect-oxen models`.",
                model=model_id,
                status_code=404,
                detail=f"Model not found: {model_id}",
            ) from None
        body = self._json(response)
        if isinstance(body, dict) and isinstance(body.get("model"), dict):
            body = body["model"]
        info = ModelInfo.model_validate(body)
        self._models[model_id] = info
        return info

    async def validate_request(self, request: VideoRequest) -> VideoRequest:
        """Check `request` against its model's details (fetched once); raises before any spend."""
        return validate_request(request, await self.get_model(request.model))

    async def estimate_cost(self, request: VideoRequest) -> float | None:
        """Price of `request` in USD from the model's pricing (None if the model has no rate)."""
        return (await self.get_model(request.model)).estimate_cost(request)

    async def _maybe_validate(self, request: VideoRequest, validate: bool | None) -> None:
        if self.validate if validate is None else validate:
            await self.validate_request(request)

    # --- synchronous generation -----------------------------------------------------------

    async def generate_video(self, request: VideoRequest, *, validate: bool | None = None) -> VideoResponse:
        """Generate one video on the blocking endpoint (minutes); the answer as the API sent it.

        Each call is a paid generation. A lost answer raises `OutcomeUnknown` rather than paying
        again; use the queue (`enqueue` + `wait_for_generation`) for anything long or batched.
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
        return VideoResponse.model_validate(self._json(response))

    async def generate_video_to_file(
        self, request: VideoRequest, destination: str | os.PathLike[str], *, validate: bool | None = None
    ) -> SyncGenerationResult:
        """Generate on the blocking endpoint and stream the video to `destination`.

        A ``b64_json`` answer is decoded while it arrives, so memory stays flat whatever the size;
        a ``url`` answer is downloaded with resume. The file appears atomically.
        """
        from prefect_oxen.media.b64_stream import Base64VideoExtractor

        await self._maybe_validate(request, validate)
        destination = Path(destination)
        part = _part_path(destination)
        payload = request.to_payload()
        last: NotFound | None = None
        for base in self._route_order("video_generate", self.paths.video_generate):
            extractor = Base64VideoExtractor()
            digest = hashlib.sha256()
            size = 0
            try:
                async for attempt in stamina.retry_context(
                    on=_core.backoff_hook(self.retry), **_core.retry_kwargs(self.retry)
                ):
                    with attempt:
                        request_ = self._http.build_request(
                            "POST",
                            self.base_url + base,
                            json=payload,
                            headers=self._auth_headers(),
                            timeout=self.timeouts.httpx(read=self.timeouts.generate),
                        )
                        await self.throttle.wait()
                        try:
                            response = await self._http.send(request_, stream=True)
                        except httpx.HTTPError as exc:
                            raise _core.transport_error(exc, request_, paid=True) from None
                        self._note_rate_limit(response)
                        try:
                            if response.status_code >= 400:
                                await response.aread()
                                raise _core.paid_post_error(response, model=request.model)
                            part.parent.mkdir(parents=True, exist_ok=True)
                            with open(part, "wb") as sink:
                                async for chunk in response.aiter_bytes(_CHUNK):
                                    decoded = extractor.feed(chunk)
                                    if decoded:
                                        # Small blocking writes to the page cache: cheaper than a thread hop per chunk.
                                        sink.write(decoded)
                                        digest.update(decoded)
                                        size += len(decoded)
                                extractor.close()
                                sink.flush()
                                os.fsync(sink.fileno())
                        except httpx.HTTPError as exc:
                            raise _core.transport_error(exc, request_, paid=True) from None
                        finally:
                            await response.aclose()
            except NotFound as exc:
                if isinstance(exc, ModelNotFound):
                    raise
                last = exc
                continue
            self._route["video_generate"] = base
            meta = extractor.metadata
            model_name = meta.model
            created = meta.fields.get("created")
            if size:
                os.replace(part, destination)
                return SyncGenerationResult(
                    download=DownloadResult(path=destination, size_bytes=size, sha256=digest.hexdigest()),
                    model=model_name,
                    created=created if isinstance(created, int) else None,
                    delivered_as="b64_json",
                )
            url = meta.url
            if not url:
                raise EmptyResult(
                    "The API answered the generation with no video (no url, no b64_json): it may "
                    "have been filtered. It may still have been billed.",
                    generation_id="",
                )
            download = await self.download(url, destination)
            return SyncGenerationResult(
                download=download,
                model=model_name,
                created=created if isinstance(created, int) else None,
                delivered_as="url",
            )
        assert last is not None
        raise last

    # --- the queue ------------------------------------------------------------------------

    async def enqueue(
        self, request: VideoRequest, *, num_generations: int = 1, validate: bool | None = None
    ) -> list[Generation]:
        """Queue `num_generations` (1-4) paid generations of `request`; returns their rows.

        Subscribes to completion events first (they are not replayed). If the answer is lost, the
        queue is searched for the generations this call created before anything is re-sent.
        """
        if not isinstance(num_generations, int) or not 1 <= num_generations <= 4:
            raise RequestValidationError(
                "num_generations must be an integer between 1 and 4. Call enqueue again to queue more.",
                field="num_generations",
            )
        await self._maybe_validate(request, validate)
        await self.tracker.subscribe()
        payload = {**request.to_payload(), "num_generations": num_generations}
        for attempt in range(1, self.retry.attempts + 1):
            sent_at = time.time()
            try:
                response = await self._call("POST", self.paths.queue, json=payload, paid=True, model=request.model)
            except OutcomeUnknown as lost:
                # A lost answer or a 500/502/504: the generations may exist. Look before re-sending.
                found = await self._reconcile_enqueue(
                    request, lost, since=sent_at, count=num_generations
                )
                if found:
                    logger.warning(
                        "Enqueue outcome was unknown (%s); found the %d generation(s) it created "
                        "in the queue.",
                        _why(lost),
                        len(found),
                    )
                    self._remember_issued(found)
                    return found
                logger.warning(
                    "Enqueue outcome was unknown (%s) and the queue shows no trace of it; "
                    "sending again.",
                    _why(lost),
                )
                await _pause(self.retry, attempt, lost)
                continue
            body = self._json(response)
            rows = body.get("generations") if isinstance(body, dict) else None
            if not isinstance(rows, list) or not rows:
                raise UnexpectedResponse("The enqueue answer has no generations.", body=body)
            generations = [
                Generation.model_validate({"model_name": request.model, **row}) for row in rows
            ]
            for generation in generations:
                self.tracker.resolve(generation)
            self._remember_issued(generations)
            return generations
        raise OutcomeUnknown(
            "Enqueue answers kept getting lost and none of the attempts shows in the queue. "
            "Check the generation history before paying again.",
            method="POST",
            url=self.paths.queue,
        )

    def _remember_issued(self, generations: list[Generation]) -> None:
        for generation in generations:
            self._issued[generation.generation_id] = None
        while len(self._issued) > _ISSUED_KEPT:
            self._issued.popitem(last=False)

    async def _reconcile_enqueue(
        self, request: VideoRequest, lost: OutcomeUnknown, *, since: float, count: int
    ) -> list[Generation]:
        """`find_enqueued` for an enqueue whose outcome is unknown; a queue that cannot be read
        leaves it unknown (re-sending then could pay twice), so that raises `OutcomeUnknown`."""
        try:
            return await self.find_enqueued(request, since=since, count=count)
        except OxenError as exc:
            raise OutcomeUnknown(
                f"The enqueue's outcome is unknown ({_why(lost)}) and the queue could not be "
                f"checked ({type(exc).__name__}: {exc}). Not re-sent: check the queue or the "
                "generation history before paying again.",
                method="POST",
                url=self.paths.queue,
                status_code=lost.status_code,
                detail=lost.detail,
            ) from exc

    async def find_enqueued(self, request: VideoRequest, *, since: float, count: int = 1) -> list[Generation]:
        """Generations of `request` enqueued since `since` (unix time), newest first.

        How an enqueue whose answer was lost (or whose process died) is recognised: same model,
        same echoed parameters, enqueued after it was sent, and not already returned by this
        client's `enqueue` (an earlier attempt's generation is not this one). Returns [] unless
        `count` are found. Raises the list call's error if the queue cannot be read (absence
        could not be told).
        """
        sent_at = since
        candidates: list[Generation] = []
        seen: set[str] = set()
        for status in (None, "succeeded", "failed"):
            rows = await self.list_queue(model=request.model, status=status)
            for row in rows:
                gid = row.generation_id
                recent = row.enqueued_at is None or (
                    row.enqueued_at >= sent_at - _RECONCILE_SLACK_SECONDS
                )
                if gid not in seen and gid not in self._issued and recent and _echoes(row, request):
                    seen.add(gid)
                    candidates.append(row)
        candidates.sort(key=lambda row: row.enqueued_at or 0, reverse=True)
        return candidates[:count] if len(candidates) >= count else []

    async def get_generation(self, generation_id: str) -> Generation:
        """The queue row of one generation (``GET /api/ai/queue/:id``)."""
        response = await self._call("GET", f"{self.paths.queue}/{generation_id}", generation_id=generation_id)
        body = self._json(response)
        if isinstance(body, dict) and isinstance(body.get("generation"), dict):
            body = body["generation"]
        return _parse_generation(body)

    async def list_queue(
        self,
        *,
        status: str | GenerationStatus | None = None,
        model: str | None = None,
        namespace: str | None = None,
        media_type: str | None = None,
    ) -> list[Generation]:
        """Queue rows; by default only active ones (queued, processing), as the API does."""
        status_value = status.value if isinstance(status, GenerationStatus) else status
        response = await self._call(
            "GET",
            self.paths.queue,
            params={"status": status_value, "model": model, "namespace": namespace, "media_type": media_type},
        )
        body = self._json(response)
        rows = body.get("generations") if isinstance(body, dict) else None
        if not isinstance(rows, list):
            raise UnexpectedResponse("The queue list has no 'generations'.", body=body)
        return [_parse_generation(row) for row in rows]

    async def generation_costs(self, generation_ids: list[str], *, page_size: int = 1000) -> dict[str, float]:
        """Actual costs of `generation_ids` from the billing history (``GET /api/ai/generations``).

        Pages newest first and stops once every id is found, or after as many pages as the ids
        could fill plus one (older history is not walked). Ids without a cost are left out.
        """
        wanted = set(generation_ids)
        costs: dict[str, float] = {}
        max_pages = len(wanted) // page_size + 2
        for page in range(1, max_pages + 1):
            if not wanted - costs.keys():
                break
            response = await self._call("GET", self.paths.generations, params={"page": page, "page_size": page_size})
            body = self._json(response)
            rows = body.get("generations") if isinstance(body, dict) else None
            if not isinstance(rows, list) or not rows:
                break
            for row in rows:
                gid = row.get("generation_id") or row.get("id") if isinstance(row, dict) else None
                if gid in wanted and row.get("cost") is not None:
                    try:
                        costs[gid] = float(row["cost"])
                    except (TypeError, ValueError):
                        continue
            if isinstance(body, dict) and page >= int(body.get("total_pages") or page):
                break
        return costs

    async def cancel_generation(self, generation_id: str) -> None:
        """Cancel a queued or running generation (no effect on a finished one)."""
        await self._call("DELETE", f"{self.paths.queue}/{generation_id}", generation_id=generation_id)

    async def retry_generation(self, generation_id: str) -> Generation:
        """Re-run a failed or cancelled generation with the same parameters (a new paid one)."""
        response = await self._call(
            "POST", f"{self.paths.queue}/{generation_id}/retry", paid=True, generation_id=generation_id
        )
        body = self._json(response)
        if isinstance(body, dict) and isinstance(body.get("generations"), list) and body["generations"]:
            body = body["generations"][0]
        return _parse_generation(body)

    async def events(self):
        """Raw completion events from ``/api/events`` as they arrive (no replay, no reconnect)."""
        import httpx_sse

        timeout = httpx.Timeout(self.timeouts.connect, read=None)
        async with httpx_sse.aconnect_sse(
            self._http, "GET", self.base_url + self.paths.events, headers=self._auth_headers(), timeout=timeout
        ) as source:
            if source.response.status_code >= 400:
                await source.response.aread()
                raise _core.error_from_response(source.response)
            async for sse in source.aiter_sse():
                if sse.event == COMPLETION_EVENT:
                    yield CompletionEvent.model_validate_json(sse.data)

    async def wait_for_generation(
        self,
        generation_id: str,
        *,
        timeout: float | None = None,
        start_timeout: float | None = None,
    ) -> Generation:
        """Wait until `generation_id` succeeds and return its row (with `result_url`).

        Raises `GenerationFailed`, `GenerationCancelled`, `EmptyResult`, `GenerationLost`, or
        `DeadlineExceeded` (stage ``"start"`` if it is still queued after `start_timeout`,
        ``"finish"`` after `timeout`; the generation keeps running remotely).
        """
        tracker = self.tracker
        await tracker.subscribe()
        future = tracker.track(generation_id)
        started = time.monotonic()
        try:
            if start_timeout is not None:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(asyncio.shield(future), start_timeout)
                if not future.done():
                    status = tracker.last_status(generation_id)
                    if status is None:
                        row = await self.get_generation(generation_id)
                        tracker.resolve(row)
                        status = row.status
                    if status == GenerationStatus.QUEUED and not future.done():
                        raise DeadlineExceeded(
                            f"Generation {generation_id} did not start within {start_timeout:g} s; it "
                            "is still queued (cancel it or collect it later).",
                            generation_id=generation_id,
                            stage="start",
                            waited=time.monotonic() - started,
                        )
            remaining = None if timeout is None else max(0.0, timeout - (time.monotonic() - started))
            try:
                generation = await asyncio.wait_for(asyncio.shield(future), remaining)
            except asyncio.TimeoutError:
                raise DeadlineExceeded(
                    f"Generation {generation_id} did not finish within {timeout:g} s; it may still be "
                    "running (cancel it or collect it later).",
                    generation_id=generation_id,
                    stage="finish",
                    waited=time.monotonic() - started,
                ) from None
        finally:
            tracker.untrack(generation_id)
        return _successful(generation)

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

        An expired URL (403/404/410) is refreshed from the generation row when `generation_id` is
        given; without it `ResultExpired` is raised (a sync result cannot be fetched again).
        """
        destination = Path(destination)
        destination.parent.mkdir(parents=True, exist_ok=True)
        part = _part_path(destination)
        part.unlink(missing_ok=True)
        attempts = max_attempts or max(self.retry.attempts, 3)
        refreshed = False
        expected_total: int | None = None
        headers_base = self._auth_headers() if _core.same_origin(url, self.base_url) else {}
        # Hashed while written, so the file is not read again; `hashed` tracks what is covered.
        digest = hashlib.sha256()
        hashed = 0
        for attempt in range(1, attempts + 1):
            offset = part.stat().st_size if part.exists() else 0
            # Raw bytes on disk, so Range offsets are byte offsets of the file itself.
            headers = {**headers_base, "Accept-Encoding": "identity"}
            if offset:
                headers["Range"] = f"bytes={offset}-"
            try:
                async with self._http.stream(
                    "GET", url, headers=headers, timeout=self.timeouts.httpx(read=self.timeouts.download)
                ) as response:
                    if response.status_code in (401, 403, 404, 410):
                        await response.aread()
                        if not generation_id:
                            raise ResultExpired(
                                f"The result URL {redact_url(url)} is no longer valid "
                                f"({response.status_code}); a synchronous result cannot be fetched "
                                "again. Download results promptly, or use the queue.",
                                url=redact_url(url),
                            )
                        url = await self.fresh_result_url(generation_id)
                        headers_base = self._auth_headers() if _core.same_origin(url, self.base_url) else {}
                        refreshed = True
                        continue
                    if response.status_code == 416 and expected_total is not None and offset == expected_total:
                        break
                    if response.status_code >= 400:
                        await response.aread()
                        err = _core.error_from_response(response)
                        if not err.retryable:
                            raise err
                        await _pause(self.retry, attempt, err)
                        continue
                    if response.status_code == 200 and offset:
                        offset = 0  # the server ignored Range: start over
                    if offset != hashed:
                        digest, hashed = None, -1  # cannot continue the running hash
                    elif offset == 0:
                        digest, hashed = hashlib.sha256(), 0
                    expected_total = _expected_total(response, offset) or expected_total
                    with open(part, "ab" if offset else "wb") as sink:
                        async for chunk in response.aiter_raw(_CHUNK):
                            # Off the event loop: hashing and writing a megabyte take milliseconds
                            # (hashlib releases the GIL), time the loop spends on other videos.
                            await asyncio.to_thread(_write_and_hash, sink, digest, chunk)
                            if digest is not None:
                                hashed += len(chunk)
                        sink.flush()
                        await asyncio.to_thread(os.fsync, sink.fileno())
            except httpx.HTTPError as exc:
                logger.info("Download of %s interrupted (%s); resuming.", redact_url(url), type(exc).__name__)
                await _pause(self.retry, attempt, exc)
                continue
            size = part.stat().st_size
            if expected_total is None or size == expected_total:
                break
            logger.info("Download of %s cut at %d of %d bytes; resuming.", redact_url(url), size, expected_total)
        else:
            size = part.stat().st_size if part.exists() else 0
            part.unlink(missing_ok=True)
            raise DownloadError(
                f"Could not download {redact_url(url)} completely in {attempts} attempts "
                f"(got {size} of {expected_total or '?'} bytes).",
                url=redact_url(url),
            )
        size = part.stat().st_size
        sha256 = digest.hexdigest() if digest is not None and hashed == size else await asyncio.to_thread(_sha256_file, part)
        os.replace(part, destination)
        return DownloadResult(
            path=destination, size_bytes=size, sha256=sha256, attempts=attempt, refreshed_url=refreshed
        )

    async def fresh_result_url(self, generation_id: str) -> str:
        """A newly signed result URL for a succeeded generation (the API re-signs on every read)."""
        row = await self.get_generation(generation_id)
        if row.status != GenerationStatus.SUCCEEDED or not row.result_url:
            raise ResultExpired(
                f"Generation {generation_id} has no fresh result URL (status {row.status.value}).",
            )
        return row.result_url


# --- helpers -----------------------------------------------------------------------------------


def _part_path(destination: Path) -> Path:
    return destination.with_name(f".{destination.name}.part")


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_and_hash(sink: Any, digest: Any, chunk: bytes) -> None:
    sink.write(chunk)
    if digest is not None:
        digest.update(chunk)


def _expected_total(response: httpx.Response, offset: int) -> int | None:
    content_range = response.headers.get("content-range")
    if response.status_code == 206 and content_range and "/" in content_range:
        total = content_range.rsplit("/", 1)[1]
        return int(total) if total.isdigit() else None
    length = response.headers.get("content-length")
    if length and length.isdigit():
        return int(length) + (offset if response.status_code == 206 else 0)
    return None


def _why(lost: OutcomeUnknown) -> str:
    """A short reason for an unknown outcome: the server's status, or the broken connection."""
    return f"HTTP {lost.status_code}" if lost.status_code else "answer lost"


async def _pause(policy: RetryPolicy, attempt: int, exc: BaseException) -> None:
    wait = min(policy.wait_initial * (2 ** (attempt - 1)), policy.wait_max)
    if wait > 0:
        await asyncio.sleep(wait)


def _parse_generation(body: Any) -> Generation:
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


_ECHOED = ("prompt", "duration", "aspect_ratio", "seed")


def _echoes(row: Generation, request: VideoRequest) -> bool:
    """Whether a queue row echoes `request`'s parameters (how a lost enqueue is recognised)."""
    if row.model_name and row.model_name != request.model:
        return False
    echoed = row.model_dump()
    for name in _ECHOED:
        wanted = getattr(request, name)
        if wanted is not None and name in echoed and echoed[name] is not None and echoed[name] != wanted:
            return False
    if request.multi_prompt and echoed.get("multi_prompt") is not None:
        shots = [
            {"prompt": s.get("prompt"), "duration": s.get("duration")} for s in echoed["multi_prompt"] if isinstance(s, dict)
        ]
        return shots == [s.model_dump() for s in request.multi_prompt]
    return True


def _successful(generation: Generation) -> Generation:
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
