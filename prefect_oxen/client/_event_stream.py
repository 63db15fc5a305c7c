"""The one reader of ``/api/events`` (server-sent completion events), and its status policy.

Both `AsyncOxenClient.events` and the tracker connect through `connect_event_stream` and read
through `EventStream.events`, so they agree on what an answer means: a refusal (`REFUSALS`, or
an answer that is not an event stream at all) says the stream is unavailable to this client, and
asking again cannot change that; any other failure is transient and worth retrying.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import httpx_sse

from prefect_oxen.client._error_mapping import transport_error
from prefect_oxen.client._errors import APIError, OxenError
from prefect_oxen.client._models import CompletionEvent
from prefect_oxen.client._retrying import Decision, Hook, backoff_hook
from prefect_oxen.client._session import Session
from prefect_oxen.client._settings import RetryPolicy

logger = logging.getLogger("prefect_oxen.client")

COMPLETION_EVENT = "media_generation_completed"
# Answers to the stream request that will not change by asking again: no such route (404, 405,
# 501), or this key may not listen (401, 403). Other errors (5xx, 429) are retried with backoff.
REFUSALS = frozenset({401, 403, 404, 405, 501})
_SSE_HEADERS = {"Accept": "text/event-stream", "Cache-Control": "no-store"}


def stream_refused(exc: BaseException) -> bool:
    """Whether `exc` says the event stream is unavailable for good (not worth asking again).

    Args:
        exc: What connecting to or reading the stream raised.

    Returns:
        True for a refusal status or an answer that is not an event stream.
    """
    if isinstance(exc, httpx_sse.SSEError):
        return True
    return isinstance(exc, APIError) and exc.status_code in REFUSALS


def stream_retry_hook(policy: RetryPolicy) -> Hook:
    """A stamina hook for connecting to the stream: a refusal is final, the rest as any call.

    Args:
        policy: The client's retry policy.

    Returns:
        The hook, for ``stamina.retry_context(on=...)``.
    """
    backoff = backoff_hook(policy)

    def hook(exc: Exception) -> Decision:
        return False if stream_refused(exc) else backoff(exc)

    return hook


class EventStream:
    """One open connection to ``/api/events``."""

    def __init__(self, request: httpx.Request, response: httpx.Response) -> None:
        self._request = request
        self._response = response

    async def events(self) -> AsyncIterator[CompletionEvent]:
        """Completion events as they arrive; a malformed one is logged and skipped.

        Returns:
            An async iterator of `CompletionEvent`; it ends when the server closes the stream.

        Raises:
            TransportError: The connection broke mid-stream.
        """
        source = httpx_sse.EventSource(self._response)
        try:
            async for sse in source.aiter_sse():
                if sse.event != COMPLETION_EVENT:
                    continue
                try:
                    yield CompletionEvent.model_validate_json(sse.data)
                except (ValueError, OxenError):
                    logger.warning("Ignoring a malformed %s event.", COMPLETION_EVENT)
        except httpx.HTTPError as exc:
            raise transport_error(exc, self._request, paid=False) from None

    async def aclose(self) -> None:
        """Close the connection."""
        await self._response.aclose()


async def connect_event_stream(session: Session, path: str) -> EventStream:
    """Open the event stream once (no retry: the caller decides, with `stream_refused`).

    Args:
        session: The send path (throttle, key, httpx client).
        path: The events route, e.g. ``/api/events``.

    Returns:
        The open stream.

    Raises:
        httpx_sse.SSEError: The answer is not an event stream.
        OxenError: The connect failed or the API answered with an error status.
    """
    # No read timeout: the stream is quiet between events for as long as nothing finishes.
    timeout = httpx.Timeout(session.timeouts.connect, read=None)
    request = session.build("GET", path, headers=_SSE_HEADERS, timeout=timeout)
    response = await session.send_checked(request, stream=True)
    content_type = response.headers.get("content-type", "").partition(";")[0]
    if "text/event-stream" not in content_type:
        await response.aclose()
        raise httpx_sse.SSEError(
            f"Expected an event stream from {path}, got {content_type or 'no content type'!r}."
        )
    return EventStream(request, response)
