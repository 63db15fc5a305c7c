"""`OxenClient`: the blocking face of `AsyncOxenClient`.

Rather than a second, hand-kept copy of the protocol (retries, reconciliation, resumable
downloads, event-driven waits), the sync client runs the async one on a private event loop in a
background thread (anyio's blocking portal). Both faces therefore behave identically, and a fix
in one is a fix in both.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from anyio.from_thread import BlockingPortal, start_blocking_portal

from prefect_oxen.client._async_client import AsyncOxenClient
from prefect_oxen.client._download import DownloadResult
from prefect_oxen.client._models import (
    Generation,
    GenerationStatus,
    ModelInfo,
    VideoRequest,
    VideoResponse,
)
from prefect_oxen.client._settings import ApiPaths, ClientTimeouts, PollPolicy, RetryPolicy
from prefect_oxen.client._sync_generation import SyncGenerationResult

__all__ = ["OxenClient"]


class OxenClient:
    """Blocking client for the Oxen video API.

    Args:
        api_key: The API key (default: ``OXEN_API_KEY``).
        base_url: The API root (default: ``OXEN_BASE_URL``, else the hosted API).
        timeouts: Per-call deadlines.
        retry: How transient failures are retried.
        poll: How waits poll and use the event stream.
        paths: Route paths (current and legacy forms).
        validate: Check requests against the model's schema before paying.

    Raises:
        AuthenticationError: No API key was given or found.

    Example:
        >>> with OxenClient(api_key="...", base_url="http://127.0.0.1:8765") as oxen:
        ...     response = oxen.generate_video(
        ...         VideoRequest(model="...", prompt="a fox", duration=5)
        ...     )
        ...     response.videos[0].url
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
    ) -> None:
        self._portal_cm = start_blocking_portal()
        self._portal: BlockingPortal = self._portal_cm.__enter__()
        try:
            self._async = self._portal.call(
                _make_async_client,
                dict(
                    api_key=api_key,
                    base_url=base_url,
                    timeouts=timeouts,
                    retry=retry,
                    poll=poll,
                    paths=paths,
                    validate=validate,
                ),
            )
        except BaseException:
            self._portal_cm.__exit__(None, None, None)
            raise
        self._closed = False

    def __repr__(self) -> str:
        return f"OxenClient(base_url={self.base_url!r})"

    def __enter__(self) -> OxenClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close connections and stop the background event loop."""
        if self._closed:
            return
        self._closed = True
        try:
            self._portal.call(self._async.aclose)
        finally:
            self._portal_cm.__exit__(None, None, None)

    @property
    def base_url(self) -> str:
        """The API root this client talks to."""
        return self._async.base_url

    @property
    def async_client(self) -> AsyncOxenClient:
        """The async client underneath (its coroutines must run on this client's loop)."""
        return self._async

    def _run(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run `func` on the client's event loop and wait for its result."""
        return self._portal.call(lambda: func(*args, **kwargs))

    def list_models(self, **filters: Any) -> list[ModelInfo]:
        """The model catalogue; see `AsyncOxenClient.list_models`.

        Args:
            **filters: Query parameters passed through.

        Returns:
            Every model the API lists.

        Raises:
            OxenError: The call failed.
        """
        return self._run(self._async.list_models, **filters)

    def get_model(self, model_id: str, *, refresh: bool = False) -> ModelInfo:
        """One model with pricing and request schema (cached).

        Args:
            model_id: The model's id.
            refresh: Ask the API again even if the model is cached.

        Returns:
            The model's details.

        Raises:
            ModelNotFound: The API does not know `model_id`.
        """
        return self._run(self._async.get_model, model_id, refresh=refresh)

    def validate_request(self, request: VideoRequest) -> VideoRequest:
        """Check `request` against its model's schema, before any spend.

        Args:
            request: The request to check.

        Returns:
            `request` itself, when the model can take it.

        Raises:
            RequestValidationError: The model cannot take `request`.
        """
        return self._run(self._async.validate_request, request)

    def estimate_cost(self, request: VideoRequest) -> float | None:
        """Price of `request` in USD from the model's pricing.

        Args:
            request: The request to price.

        Returns:
            The price, or None if the model has no rate.

        Raises:
            ModelNotFound: The model does not exist.
        """
        return self._run(self._async.estimate_cost, request)

    def generate_video(
        self, request: VideoRequest, *, validate: bool | None = None
    ) -> VideoResponse:
        """Generate one video on the blocking endpoint; the answer as the API sent it.

        Args:
            request: What to generate.
            validate: Check `request` against the model first (default: the client's setting).

        Returns:
            The API's answer.

        Raises:
            OutcomeUnknown: The answer was lost; the generation may have been billed.
            OxenError: The call failed otherwise.
        """
        return self._run(self._async.generate_video, request, validate=validate)

    def generate_video_to_file(
        self,
        request: VideoRequest,
        destination: str | os.PathLike[str],
        *,
        validate: bool | None = None,
    ) -> SyncGenerationResult:
        """Generate on the blocking endpoint and stream the result to `destination`.

        Args:
            request: What to generate.
            destination: Where the video is written.
            validate: Check `request` against the model first (default: the client's setting).

        Returns:
            The file and what the API said about it.

        Raises:
            EmptyResult: The answer held no video.
            OutcomeUnknown: The answer was lost; the generation may have been billed.
            OxenError: The call or the download failed otherwise.
        """
        return self._run(
            self._async.generate_video_to_file, request, destination, validate=validate
        )

    def enqueue(
        self, request: VideoRequest, *, num_generations: int = 1, validate: bool | None = None
    ) -> list[Generation]:
        """Queue 1-4 paid generations of `request`; see `AsyncOxenClient.enqueue`.

        Args:
            request: What to generate.
            num_generations: How many generations (1-4).
            validate: Check `request` against the model first (default: the client's setting).

        Returns:
            The new generations' rows.

        Raises:
            OutcomeUnknown: The outcome could not be told; not re-sent.
            OxenError: The call failed otherwise.
        """
        return self._run(
            self._async.enqueue, request, num_generations=num_generations, validate=validate
        )

    def get_generation(self, generation_id: str) -> Generation:
        """One queue row.

        Args:
            generation_id: The generation's id.

        Returns:
            Its current row.

        Raises:
            GenerationNotFound: The API does not know the id.
        """
        return self._run(self._async.get_generation, generation_id)

    def list_queue(
        self, *, status: str | GenerationStatus | None = None, model: str | None = None
    ) -> list[Generation]:
        """Queue rows (active ones unless `status` says otherwise).

        Args:
            status: Only rows in this status.
            model: Only rows of this model.

        Returns:
            The rows, as the API lists them.

        Raises:
            OxenError: The call failed.
        """
        return self._run(self._async.list_queue, status=status, model=model)

    def cancel_generation(self, generation_id: str) -> None:
        """Cancel a queued or running generation.

        Args:
            generation_id: The generation's id.

        Raises:
            GenerationNotFound: The API does not know the id.
        """
        return self._run(self._async.cancel_generation, generation_id)

    def find_enqueued(
        self, request: VideoRequest, *, since: float, count: int = 1
    ) -> list[Generation]:
        """Generations of `request` enqueued since `since`; see `AsyncOxenClient.find_enqueued`.

        Args:
            request: The request that was enqueued.
            since: Unix time the enqueue was sent.
            count: How many generations the enqueue asked for.

        Returns:
            The `count` newest matching rows, or [] unless `count` are found.

        Raises:
            OxenError: The queue cannot be read.
        """
        return self._run(self._async.find_enqueued, request, since=since, count=count)

    def wait_for_generation(
        self,
        generation_id: str,
        *,
        timeout: float | None = None,
        start_timeout: float | None = None,
    ) -> Generation:
        """Wait until the generation succeeds; see `AsyncOxenClient.wait_for_generation`.

        Args:
            generation_id: The generation to wait for.
            timeout: Seconds to wait for it to finish (None: no limit).
            start_timeout: Seconds it may stay queued before the wait gives up.

        Returns:
            The succeeded row.

        Raises:
            GenerationError: It failed, was cancelled, came back empty, vanished, or missed a
                deadline (`DeadlineExceeded`).
        """
        return self._run(
            self._async.wait_for_generation,
            generation_id,
            timeout=timeout,
            start_timeout=start_timeout,
        )

    def download(
        self, url: str, destination: str | os.PathLike[str], *, generation_id: str | None = None
    ) -> DownloadResult:
        """Stream a result URL to `destination` atomically, with resume and URL refresh.

        Args:
            url: The result URL.
            destination: Where the file is written.
            generation_id: The queued generation the URL belongs to, so it can be re-signed.

        Returns:
            The file's path, size and sha256.

        Raises:
            ResultExpired: The URL expired and cannot be refreshed.
            DownloadError: The file could not be completed.
        """
        return self._run(self._async.download, url, destination, generation_id=generation_id)


async def _make_async_client(kwargs: dict[str, Any]) -> AsyncOxenClient:
    """Build the async client on the portal's loop (its httpx client belongs there)."""
    return AsyncOxenClient(**kwargs)
