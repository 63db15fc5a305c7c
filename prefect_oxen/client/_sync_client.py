"""`OxenClient` and `SyncRepository`: the blocking faces of `AsyncOxenClient` and `AsyncRepository`.

The sync client runs the async one on a private event loop in a background thread (anyio's
blocking portal), so both faces behave identically and a fix in one is a fix in both. Each
blocking method is made by `_blocking` from its async counterpart, which keeps the parameters
and return types of the two faces the same.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Generator
from typing import Concatenate, Generic, ParamSpec, TypeVar

from anyio.from_thread import BlockingPortal, start_blocking_portal

from prefect_oxen.client._async_client import AsyncOxenClient
from prefect_oxen.client._models import CompletionEvent
from prefect_oxen.client._repositories import AsyncRepository
from prefect_oxen.client._settings import ApiPaths, ClientTimeouts, PollPolicy, RetryPolicy

__all__ = ["OxenClient", "SyncRepository"]

AsyncT = TypeVar("AsyncT")
P = ParamSpec("P")
R = TypeVar("R")


class _BlockingFace(Generic[AsyncT]):
    """A blocking face: its `_async` object's coroutines run on `_portal`'s event loop."""

    _portal: BlockingPortal
    _async: AsyncT


def _blocking(
    method: Callable[Concatenate[AsyncT, P], Awaitable[R]],
) -> Callable[Concatenate[_BlockingFace[AsyncT], P], R]:
    """The blocking method of a face that awaits async `method` on the face's event loop.

    Args:
        method: An async method of the face's async object, e.g. `AsyncOxenClient.enqueue`.

    Returns:
        A method with `method`'s parameters and result that blocks until it is done.
    """

    def call(face: _BlockingFace[AsyncT], /, *args: P.args, **kwargs: P.kwargs) -> R:
        async def run() -> R:
            return await method(face._async, *args, **kwargs)

        return face._portal.call(run)

    # `__wrapped__` lets `inspect.signature` (and help()) show `method`'s parameters.
    functools.update_wrapper(call, method, assigned=("__name__",))
    call.__doc__ = f"Blocking `{method.__qualname__}`."
    return call


class OxenClient(_BlockingFace[AsyncOxenClient]):
    """Blocking client for the Oxen video API: every method of `AsyncOxenClient`, blocking.

    The calls run on a private event loop in a background thread, shared by every call of this
    client (one connection pool, one event stream); `close` (or the ``with`` block) stops it.
    Use it from scripts and synchronous code; use `AsyncOxenClient` inside an event loop.

    Args:
        api_key: The API key (default: ``OXEN_API_KEY``).
        base_url: The API root (default: ``OXEN_BASE_URL``, else the hosted API).
        timeouts: Per-call deadlines.
        retry: How transient failures are retried.
        poll: How waits poll and use the event stream.
        paths: Route paths (current and legacy forms).
        validate: Check requests against the model's schema before paying (per-call override).
        max_connections: Connection pool size.

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
        max_connections: int = 16,
    ) -> None:
        async def make() -> AsyncOxenClient:
            # On the portal's loop: the async client's httpx client belongs to it.
            return AsyncOxenClient(
                api_key,
                base_url,
                timeouts=timeouts,
                retry=retry,
                poll=poll,
                paths=paths,
                validate=validate,
                max_connections=max_connections,
            )

        self._portal_cm = start_blocking_portal()
        self._portal = self._portal_cm.__enter__()
        try:
            self._async = self._portal.call(make)
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
        """Close connections and stop the background event loop (again: nothing happens)."""
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

    def repository(self, namespace: str, name: str) -> SyncRepository:
        """Blocking `AsyncOxenClient.repository`: a handle whose calls run on this client's loop."""
        return SyncRepository(self._portal, self._async.repository(namespace, name))

    def events(self) -> Generator[CompletionEvent, None, None]:
        """Blocking `AsyncOxenClient.events`: each event is awaited on this client's loop."""
        stream = self._async.events()

        async def next_event() -> CompletionEvent | None:
            return await anext(stream, None)

        try:
            while (event := self._portal.call(next_event)) is not None:
                yield event
        finally:
            if not self._closed:  # a closed client's loop has ended the stream already
                self._portal.call(stream.aclose)

    list_models = _blocking(AsyncOxenClient.list_models)
    get_model = _blocking(AsyncOxenClient.get_model)
    validate_request = _blocking(AsyncOxenClient.validate_request)
    estimate_cost = _blocking(AsyncOxenClient.estimate_cost)
    generate_video = _blocking(AsyncOxenClient.generate_video)
    generate_video_to_file = _blocking(AsyncOxenClient.generate_video_to_file)
    enqueue = _blocking(AsyncOxenClient.enqueue)
    find_enqueued = _blocking(AsyncOxenClient.find_enqueued)
    get_generation = _blocking(AsyncOxenClient.get_generation)
    list_queue = _blocking(AsyncOxenClient.list_queue)
    generation_costs = _blocking(AsyncOxenClient.generation_costs)
    cancel_generation = _blocking(AsyncOxenClient.cancel_generation)
    retry_generation = _blocking(AsyncOxenClient.retry_generation)
    wait_for_generation = _blocking(AsyncOxenClient.wait_for_generation)
    download = _blocking(AsyncOxenClient.download)
    fresh_result_url = _blocking(AsyncOxenClient.fresh_result_url)


class SyncRepository(_BlockingFace[AsyncRepository]):
    """Blocking handle on one Oxen repository: every method of `AsyncRepository`, blocking.

    Made by `OxenClient.repository`; its calls run on that client's event loop and share its
    session.

    Args:
        portal: The client's event loop.
        repository: The async handle underneath.
    """

    def __init__(self, portal: BlockingPortal, repository: AsyncRepository) -> None:
        self._portal = portal
        self._async = repository
        self.namespace = repository.namespace
        self.name = repository.name

    def __repr__(self) -> str:
        return f"SyncRepository({self.namespace!r}, {self.name!r})"

    def file_url(self, revision: str, path: str) -> str:
        """`AsyncRepository.file_url`."""
        return self._async.file_url(revision, path)

    def page_url(self, revision: str, path: str = "") -> str:
        """`AsyncRepository.page_url`."""
        return self._async.page_url(revision, path)

    get = _blocking(AsyncRepository.get)
    create = _blocking(AsyncRepository.create)
    get_branch = _blocking(AsyncRepository.get_branch)
    list_branches = _blocking(AsyncRepository.list_branches)
    create_branch = _blocking(AsyncRepository.create_branch)
    create_workspace = _blocking(AsyncRepository.create_workspace)
    delete_workspace = _blocking(AsyncRepository.delete_workspace)
    upload_file = _blocking(AsyncRepository.upload_file)
    upload_bytes = _blocking(AsyncRepository.upload_bytes)
    upload_files = _blocking(AsyncRepository.upload_files)
    unstage = _blocking(AsyncRepository.unstage)
    commit_workspace = _blocking(AsyncRepository.commit_workspace)
    download_file = _blocking(AsyncRepository.download_file)
    read_bytes = _blocking(AsyncRepository.read_bytes)
    list_dir = _blocking(AsyncRepository.list_dir)
    commit_log = _blocking(AsyncRepository.commit_log)
