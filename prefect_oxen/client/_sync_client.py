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
        return self._async.base_url

    @property
    def async_client(self) -> AsyncOxenClient:
        """The async client underneath (its coroutines must run on this client's loop)."""
        return self._async

    def _run(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return self._portal.call(lambda: func(*args, **kwargs))

    def list_models(self, **filters: Any) -> list[ModelInfo]:
        """The model catalogue."""
        return self._run(self._async.list_models, **filters)

    def get_model(self, model_id: str, *, refresh: bool = False) -> ModelInfo:
        """One model with pricing and request schema (cached)."""
        return self._run(self._async.get_model, model_id, refresh=refresh)

    def validate_request(self, request: VideoRequest) -> VideoRequest:
        """Check `request` against its model's schema; raises before any spend."""
        return self._run(self._async.validate_request, request)

    def estimate_cost(self, request: VideoRequest) -> float | None:
        """Price of `request` in USD from the model's pricing."""
        return self._run(self._async.estimate_cost, request)

    def generate_video(
        self, request: VideoRequest, *, validate: bool | None = None
    ) -> VideoResponse:
        """Generate one video on the blocking endpoint; the answer as the API sent it."""
        return self._run(self._async.generate_video, request, validate=validate)

    def generate_video_to_file(
        self,
        request: VideoRequest,
        destination: str | os.PathLike[str],
        *,
        validate: bool | None = None,
    ) -> SyncGenerationResult:
        """Generate on the blocking endpoint and stream the result to `destination`."""
        return self._run(
            self._async.generate_video_to_file, request, destination, validate=validate
        )

    def enqueue(
        self, request: VideoRequest, *, num_generations: int = 1, validate: bool | None = None
    ) -> list[Generation]:
        """Queue 1-4 paid generations of `request`."""
        return self._run(
            self._async.enqueue, request, num_generations=num_generations, validate=validate
        )

    def get_generation(self, generation_id: str) -> Generation:
        """One queue row."""
        return self._run(self._async.get_generation, generation_id)

    def list_queue(
        self, *, status: str | GenerationStatus | None = None, model: str | None = None
    ) -> list[Generation]:
        """Queue rows (active ones unless `status` says otherwise)."""
        return self._run(self._async.list_queue, status=status, model=model)

    def cancel_generation(self, generation_id: str) -> None:
        """Cancel a queued or running generation."""
        return self._run(self._async.cancel_generation, generation_id)

    def wait_for_generation(
        self,
        generation_id: str,
        *,
        timeout: float | None = None,
        start_timeout: float | None = None,
    ) -> Generation:
        """Wait until the generation succeeds; raises a typed error otherwise."""
        return self._run(
            self._async.wait_for_generation,
            generation_id,
            timeout=timeout,
            start_timeout=start_timeout,
        )

    def download(
        self, url: str, destination: str | os.PathLike[str], *, generation_id: str | None = None
    ) -> DownloadResult:
        """Stream a result URL to `destination` atomically, with resume and URL refresh."""
        return self._run(self._async.download, url, destination, generation_id=generation_id)


async def _make_async_client(kwargs: dict[str, Any]) -> AsyncOxenClient:
    return AsyncOxenClient(**kwargs)
