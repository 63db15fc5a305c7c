"""`Session`: the one send path of the client, shared by `AsyncOxenClient` and the tracker.

It owns the httpx client, the key and the shared throttle. Every request the client makes (API
calls, downloads, the streamed synchronous generation, the event-stream connect) leaves through
`Session.send`, so each one waits out a server-requested pause first and any 429 it gets
holds back every other request.
"""

from __future__ import annotations

from collections.abc import AsyncIterable
from typing import Any

import httpx
import stamina

from prefect_oxen.client._config import same_origin
from prefect_oxen.client._error_mapping import (
    error_from_response,
    paid_post_error,
    parse_retry_after,
    transport_error,
)
from prefect_oxen.client._retrying import Hook, attempts
from prefect_oxen.client._settings import ClientTimeouts, RetryPolicy
from prefect_oxen.client._throttle import SharedThrottle


class Session:
    """The httpx client, credentials, throttle and retry policy behind one `AsyncOxenClient`."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        api_key: str,
        base_url: str,
        timeouts: ClientTimeouts,
        retry: RetryPolicy,
    ) -> None:
        self.http = http
        self.__api_key = api_key
        self.base_url = base_url
        self.timeouts = timeouts
        self.retry = retry
        self.throttle = SharedThrottle()

    def url(self, path_or_url: str) -> str:
        """An absolute URL: `path_or_url` itself, or an API path joined to the base URL.

        Args:
            path_or_url: An API path (``/api/...``) or a full URL.

        Returns:
            The absolute URL.
        """
        return path_or_url if "://" in path_or_url else self.base_url + path_or_url

    def auth_headers(self, url: str | None = None) -> dict[str, str]:
        """The ``Authorization`` header, or nothing for a `url` on another host (a CDN).

        Args:
            url: Where the request goes (None: an API path).

        Returns:
            The headers to add.
        """
        if url is not None and not same_origin(url, self.base_url):
            return {}
        return {"Authorization": f"Bearer {self.__api_key}"}

    def build(
        self,
        method: str,
        path_or_url: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        read_timeout: float | None = None,
        timeout: httpx.Timeout | None = None,
    ) -> httpx.Request:
        """A request with the key (same origin only), unset params dropped, and a timeout.

        Args:
            method: The HTTP method.
            path_or_url: An API path or a full URL.
            json: The JSON body, if any.
            params: Query parameters; None values are left out.
            headers: Extra headers.
            read_timeout: A read timeout instead of the usual one.
            timeout: A whole timeout instead of the usual one.

        Returns:
            The request, ready for `send`.
        """
        url = self.url(path_or_url)
        return self.http.build_request(
            method,
            url,
            json=json,
            params={k: v for k, v in (params or {}).items() if v is not None} or None,
            headers={**self.auth_headers(url), **(headers or {})},
            timeout=timeout or self.timeouts.httpx(read=read_timeout),
        )

    async def send(
        self, request: httpx.Request, *, paid: bool = False, stream: bool = False
    ) -> httpx.Response:
        """Send `request` once, after any shared pause; a 429's ``Retry-After`` pauses all.

        Args:
            request: From `build`.
            paid: Whether a lost answer may have cost money.
            stream: Leave the body unread (the caller reads and closes it).

        Returns:
            The response, whatever its status.

        Raises:
            TransportError: The exchange failed (`OutcomeUnknown` for a paid request that may
                have arrived).
        """
        await self.throttle.wait()
        try:
            response = await self.http.send(request, stream=stream)
        except httpx.HTTPError as exc:
            raise transport_error(exc, request, paid=paid) from None
        self._note_rate_limit(response)
        return response

    async def send_checked(
        self,
        request: httpx.Request,
        *,
        paid: bool = False,
        stream: bool = False,
        model: str | None = None,
        generation_id: str | None = None,
    ) -> httpx.Response:
        """`send`, with an error status raised as the matching `OxenError`.

        Args:
            request: From `build`.
            paid: Whether a lost answer may have cost money.
            stream: Leave a successful body unread.
            model: For the error mapping (`ModelNotFound`).
            generation_id: For the error mapping (`GenerationNotFound`).

        Returns:
            A response with a status below 400.

        Raises:
            OxenError: The transport failed or the API answered with an error.
        """
        response = await self.send(request, paid=paid, stream=stream)
        if response.status_code < 400:
            return response
        if stream:
            try:
                await response.aread()
            except httpx.HTTPError as exc:
                raise transport_error(exc, request, paid=paid) from None
            finally:
                await response.aclose()
        if paid:
            raise paid_post_error(response, model=model, generation_id=generation_id)
        raise error_from_response(response, model=model, generation_id=generation_id)

    def attempts(self, on: Hook | None = None, **overrides: Any) -> AsyncIterable[stamina.Attempt]:
        """Attempts under this client's retry policy (see `_retrying.attempts`).

        Args:
            on: Which failures to retry (default: the policy's backoff hook).
            **overrides: stamina arguments that differ from the policy.

        Returns:
            The attempts, for ``async for attempt in ...: with attempt: ...``.
        """
        return attempts(self.retry, on, **overrides)

    async def call(
        self,
        method: str,
        path: str,
        *,
        paid: bool = False,
        model: str | None = None,
        generation_id: str | None = None,
        **build: Any,
    ) -> httpx.Response:
        """One API call with the retry policy: transient failures retried, the rest raised.

        Args:
            method: The HTTP method.
            path: The API path.
            paid: Whether a lost answer may have cost money (then it is not re-sent).
            model: For the error mapping.
            generation_id: For the error mapping.
            **build: Passed to `build` (``json``, ``params``, ``read_timeout``...).

        Returns:
            The successful response.

        Raises:
            OxenError: The call failed for good.
        """
        async for attempt in self.attempts():
            with attempt:
                request = self.build(method, path, **build)
                return await self.send_checked(
                    request, paid=paid, model=model, generation_id=generation_id
                )
        raise AssertionError("unreachable")  # pragma: no cover

    def _note_rate_limit(self, response: httpx.Response) -> None:
        """On a 429 with ``Retry-After``, hold back every request of this session that long."""
        if response.status_code == 429:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            if retry_after:
                self.throttle.pause(min(retry_after, self.retry.max_retry_after))
