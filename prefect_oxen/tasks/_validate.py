"""`validate_video_request` and `validate_batch`: the gate before any money is spent."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from prefect_oxen.blocks import OxenCredentials
from prefect_oxen.client import VideoRequest
from prefect_oxen.engine import (
    BatchInput,
    BatchItem,
    ItemReport,
    ValidatedRequest,
    check_batch,
    check_request,
    retry_if_transient,
)

__all__ = ["validate_batch", "validate_video_request"]


@task(
    name="validate-video-request",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=2,
    retry_condition_fn=retry_if_transient,
)
async def validate_video_request(
    request: VideoRequest | dict[str, Any], credentials: OxenCredentials, key: str | None = None
) -> ValidatedRequest:
    """Check `request` (types, then the model's request schema) and price it; nothing is paid.

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
        key: The item's id (the rule of the CLI's ``--id`` and batch files).

    Returns:
        The validated request with its fingerprint and estimated cost.

    Raises:
        RequestValidationError: The request does not fit the model, naming the field, with
            the API's words.
        ModelNotFound: The API has no such model.
    """
    return await check_request(request, credentials, key=key)


@task(name="validate-batch", cache_policy=NO_CACHE)
async def validate_batch(
    batch: BatchInput, credentials: OxenCredentials
) -> tuple[list[tuple[BatchItem, ValidatedRequest]], list[ItemReport]]:
    """Check every item before anything is paid; invalid ones become `rejected` reports.

    One task run for the whole batch: a run per item would cost more than the checks.

    Args:
        batch: The items read from the input, with the lines that could not be read.
        credentials: The credentials whose API knows the models.

    Returns:
        The valid items with their validated requests, and the rejected items' reports.

    Raises:
        OxenError: The API could not be reached (not the items' fault).
    """
    return await check_batch(batch, credentials)
