"""Reading the API's answers: JSON bodies, and errors into exceptions (error bodies, statuses,
``Retry-After``, transport failures: a paid POST whose answer was lost becomes `OutcomeUnknown`)."""

from __future__ import annotations

import email.utils
import time
from typing import Any

import httpx

from prefect_oxen.client._errors import (
    APIError,
    AuthenticationError,
    GenerationNotFound,
    InsufficientCredits,
    ModelNotFound,
    NotFound,
    OutcomeUnknown,
    OxenError,
    PermissionDenied,
    RateLimited,
    RequestValidationError,
    ServerError,
    TransportError,
    UnexpectedResponse,
)
from prefect_oxen.client._redaction import redact_url

# Where the human message may be, in the order the reference says to look.
_MESSAGE_PATHS: tuple[tuple[str, ...], ...] = (
    ("error", "detail"),
    ("error", "message"),
    ("error", "title"),
    ("error_message",),
    ("status_message",),
    ("message",),
    ("detail",),
)


def read_error_message(body: Any) -> str | None:
    """Find the human message in either documented error body shape (or a bare string).

    Args:
        body: The decoded error body.

    Returns:
        The message, or None when the body holds none.
    """
    if isinstance(body, str):
        return body.strip() or None
    for path in _MESSAGE_PATHS:
        node = _at(body, path)
        if isinstance(node, str) and node.strip():
            return node.strip()
    return None


def _error_type(body: Any) -> str | None:
    """The API's machine-readable error type, from either body shape."""
    for path in (("error", "type"), ("status_message",)):
        node = _at(body, path)
        if isinstance(node, str):
            return node
    return None


def _at(body: Any, path: tuple[str, ...]) -> object:
    """The value at `path` through nested JSON objects, or None where one is missing."""
    node: object = body
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds: either delta-seconds or an HTTP date.

    Args:
        value: The header's value, if any.

    Returns:
        Seconds from now (never negative), or None when absent or unreadable.
    """
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def json_object(response: httpx.Response) -> dict[str, Any]:
    """The JSON object a successful answer holds.

    Args:
        response: The answer.

    Returns:
        The decoded object.

    Raises:
        UnexpectedResponse: The body is not JSON, or is JSON but not an object.
    """
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        where = f"{response.request.method} {redact_url(str(response.request.url))}"
        kind = response.headers.get("content-type", "no content type")
        raise UnexpectedResponse(
            f"Expected a JSON object from {where}, got {kind}.", status_code=response.status_code
        )
    return body


def _body(response: httpx.Response) -> Any:
    """The response body as JSON, else its first 2000 characters of text."""
    try:
        return response.json()
    except ValueError:
        return response.text[:2000]


def error_from_response(
    response: httpx.Response, *, model: str | None = None, generation_id: str | None = None
) -> APIError:
    """Map an error response to the most specific exception, with advice on what to do next.

    Args:
        response: An answer with status >= 400 (its body read).
        model: The model the call was about (a 404 then reads as `ModelNotFound`).
        generation_id: The generation the call was about (a 404 reads as `GenerationNotFound`).

    Returns:
        The exception to raise.
    """
    status = response.status_code
    body = _body(response)
    detail = read_error_message(body) or response.reason_phrase or f"HTTP {status}"
    kind = _error_type(body)
    where = f"{response.request.method} {redact_url(str(response.request.url))}"
    common: dict[str, Any] = {
        "status_code": status,
        "error_type": kind,
        "detail": detail,
        "body": body,
    }
    if status == 401:
        return AuthenticationError(
            f"Oxen rejected the API key ({status}: {detail}). Check OXEN_API_KEY or the "
            "OxenCredentials block.",
            **common,
        )
    if status == 402 or "insufficient credits" in detail.lower():
        return InsufficientCredits(
            f"Insufficient credits ({status}: {detail}). Add credits to the account or bill "
            "another target_namespace; nothing was generated.",
            **common,
        )
    if status == 403:
        return PermissionDenied(f"Not allowed ({status}: {detail}) on {where}.", **common)
    if status == 404:
        if detail.lower().startswith("model not found"):
            name = detail.split(":", 1)[1].strip() if ":" in detail else (model or "")
            return ModelNotFound(
                f"{detail}. Check the id with `prefect-oxen models` (or GET /api/ai/models).",
                model=name,
                **common,
            )
        if generation_id:
            return GenerationNotFound(
                f"Generation {generation_id} is not known to the API (404: {detail}).",
                generation_id=generation_id,
                **common,
            )
        return NotFound(f"Not found ({status}: {detail}) on {where}.", **common)
    if status in (400, 422):
        return RequestValidationError(
            f"The API refused the request ({status}): {detail}. Fix the request and try again.",
            **common,
        )
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        hint = f" Retry after {retry_after:g} s." if retry_after is not None else ""
        return RateLimited(
            f"Rate limited (429: {detail}).{hint}", retry_after=retry_after, **common
        )
    if status >= 500:
        return ServerError(f"Oxen server error ({status}: {detail}) on {where}.", **common)
    return APIError(f"Unexpected error ({status}: {detail}) on {where}.", **common)


def transport_error(exc: httpx.HTTPError, request: httpx.Request, *, paid: bool) -> TransportError:
    """Wrap an httpx failure; a paid POST that may have reached the server is `OutcomeUnknown`.

    Args:
        exc: What httpx raised.
        request: The request that failed.
        paid: Whether the request is a paid POST.

    Returns:
        `OutcomeUnknown` for a paid request that may have arrived, else `TransportError` (with
        `sent` False when it never left this machine).
    """
    where = f"{request.method} {redact_url(str(request.url))}"
    not_sent = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))
    reason = type(exc).__name__
    if paid and not not_sent:
        return OutcomeUnknown(
            f"{where} was sent but its answer was lost ({reason}); it may have been accepted and "
            "billed. Not re-sent automatically: check the queue or generation history before "
            "paying again.",
            method=request.method,
            url=redact_url(str(request.url)),
        )
    return TransportError(
        f"{where} failed: {reason}. The connection to the Oxen API broke; the call is retried "
        "where that is safe.",
        method=request.method,
        url=redact_url(str(request.url)),
        sent=not not_sent,
    )


# Server errors after which a paid POST may or may not have been accepted: a 500 does not say
# how far the work got, a 502 means the upstream broke mid-request, a 504 that the gateway gave
# up while the work may go on. (A 503 says the request was not taken on: safe to send again.)
_OUTCOME_UNKNOWN_STATUSES = (500, 502, 504)


def paid_post_error(response: httpx.Response, **kwargs: Any) -> OxenError:
    """An error answer to a paid POST; one that leaves the outcome unknown is `OutcomeUnknown`.

    Args:
        response: An answer with status >= 400 (its body read).
        **kwargs: ``model`` / ``generation_id``, as for `error_from_response`.

    Returns:
        `OutcomeUnknown` for a 500, 502 or 504; the mapped error otherwise.
    """
    status = response.status_code
    if status not in _OUTCOME_UNKNOWN_STATUSES:
        return error_from_response(response, **kwargs)
    detail = read_error_message(_body(response)) or response.reason_phrase or f"HTTP {status}"
    where = f"{response.request.method} {redact_url(str(response.request.url))}"
    return OutcomeUnknown(
        f"{where} failed on the server's side ({status}: {detail}); the generation may still have "
        "been accepted and billed. Not re-sent automatically: check the queue or the generation "
        "history before paying again.",
        method=response.request.method,
        url=redact_url(str(response.request.url)),
        status_code=status,
        detail=detail,
    )
