"""Checking requests before money is spent: one request, or every item of a batch."""

from __future__ import annotations

from typing import Any

from prefect_oxen.blocks import OxenCredentials
from prefect_oxen.client import OxenError, VideoRequest, redact_text, validate_request
from prefect_oxen.engine._clients import shared_async_client
from prefect_oxen.engine._inputs import BatchInput, BatchItem
from prefect_oxen.engine._records import ValidatedRequest
from prefect_oxen.engine._report import ItemReport
from prefect_oxen.storage import validate_item_id

__all__ = ["check_batch", "check_request", "describe_error"]


def describe_error(exc: BaseException, secrets: tuple[str, ...] = ()) -> str:
    """A one-line, secret-free reason for the report.

    Args:
        exc: What went wrong.
        secrets: Values to redact wherever they appear in the message.

    Returns:
        The reason, led by the error's type unless it is one of ours, at most 500 characters.
    """
    name = type(exc).__name__
    text = str(exc) if isinstance(exc, (OxenError, ValueError)) else f"{name}: {exc}"
    if not text.startswith(name) and not isinstance(exc, OxenError):
        text = f"{name}: {text}"
    return redact_text(text, secrets)[:500]


async def check_request(
    request: VideoRequest | dict[str, Any], credentials: OxenCredentials, key: str | None = None
) -> ValidatedRequest:
    """Check `request` (types, then the model's request schema) and price it; nothing is paid.

    The function of the `validate_video_request` task (and of every batch item's check).

    Example:
        ```python
        from prefect import flow
        from prefect_oxen import OxenCredentials
        from prefect_oxen.tasks import validate_video_request


        @flow
        async def check():
            creds = OxenCredentials.load("BLOCK_NAME")
            checked = await validate_video_request(
                {"model": "kling-video-v2-6-pro-text-to-video", "prompt": "a fox", "duration": 5},
                creds,
            )
            print(checked.estimated_cost_usd)  # 0.35
        ```

    Args:
        request: The request, as a model or as its JSON.
        credentials: The credentials whose API knows the model (and whose defaults apply).
        key: The item's id; it follows the same rule as the CLI's ``--id`` and batch files.

    Returns:
        The validated request with its fingerprint and estimated cost.

    Raises:
        InvalidItemId: `key` is not a valid id.
        RequestValidationError: The request does not fit the model, naming the field, with
            the API's words.
        ModelNotFound: The API has no such model.
    """
    if key is not None:
        validate_item_id(key)  # the same id rule as the CLI and batch files, before any API call
    if not isinstance(request, VideoRequest):
        request = VideoRequest.model_validate(request)
    request = credentials.apply_defaults(request)
    client = shared_async_client(credentials)
    model = await client.get_model(request.model)
    validate_request(request, model)
    return ValidatedRequest(
        request=request,
        key=key,
        fingerprint=request.fingerprint(),
        estimated_cost_usd=model.estimate_cost(request),
        supports_multi_prompt=model.supports_multi_prompt,
    )


async def check_batch(
    batch: BatchInput, credentials: OxenCredentials
) -> tuple[list[tuple[BatchItem, ValidatedRequest]], list[ItemReport]]:
    """Check every item of `batch` before anything is paid; invalid ones become rejections.

    The function of the `validate_batch` task: one task run for the whole batch, since a run per
    item would cost more than the checks.

    Args:
        batch: The items read from the input, with the lines that could not be read.
        credentials: The credentials whose API knows the models.

    Returns:
        The valid items with their validated requests, and a `rejected` report for every
        unreadable line and invalid item.

    Raises:
        OxenError: The API could not be reached (retryable): that is not the items' fault.
    """
    valid: list[tuple[BatchItem, ValidatedRequest]] = []
    rejected = [
        ItemReport(key=problem.key, line=problem.line, status="rejected", error=problem.error)
        for problem in batch.problems
    ]
    for item in batch.items:
        where = f"line {item.line}: " if batch.source != "parameters" and item.line else ""
        try:
            valid.append((item, await check_request(item.request, credentials, key=item.key)))
        except (OxenError, ValueError) as exc:
            if isinstance(exc, OxenError) and exc.retryable:
                raise  # the API is unreachable: that is not the item's fault
            error = where + describe_error(exc, credentials.secret_values())
            model = str(item.request.get("model") or "") or None
            rejected.append(
                ItemReport(
                    key=item.key, line=item.line, model=model, status="rejected", error=error
                )
            )
    return valid, rejected
