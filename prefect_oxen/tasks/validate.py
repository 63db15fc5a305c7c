"""`validate_video_request`: the gate every request passes before money is spent."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from prefect_oxen.blocks import OxenCredentials
from prefect_oxen.client import VideoRequest, validate_request
from prefect_oxen.storage import validate_item_id
from prefect_oxen.tasks.clients import shared_async_client
from prefect_oxen.tasks.results import ValidatedRequest
from prefect_oxen.tasks.retry_conditions import retry_if_transient

__all__ = ["validate_video_request"]


async def check_request(
    request: VideoRequest | dict[str, Any], credentials: OxenCredentials, *, key: str | None = None
) -> ValidatedRequest:
    """Validate without a task run (for flows that check many requests in one task)."""
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

    Raises `RequestValidationError` naming the field, or `ModelNotFound`, with the API's words.

    Example:
        ```python
        from prefect import flow
        from prefect_oxen import OxenCredentials
        from prefect_oxen.tasks import validate_video_request

        @flow
        async def check():
            creds = OxenCredentials.load("BLOCK_NAME")
            checked = await validate_video_request(
                {"model": "kling-video-v2-6-pro-text-to-video", "prompt": "a fox", "duration": 5}, creds
            )
            print(checked.estimated_cost_usd)  # 0.35
        ```
    """
    return await check_request(request, credentials, key=key)
