"""Reference inputs from where pipelines keep them: ``s3://`` and ``oxen://`` made fetchable.

The API fetches `input_image` / `input_video` itself, so it needs URLs it can open: an
``s3://bucket/key`` is presigned (for at least the generation's lifetime, at most S3's 7 days),
an ``oxen://NS/REPO[@BRANCH]/PATH`` becomes the hub's file URL. This happens once, just before
the request is sent; the request the run validated, fingerprinted and journaled keeps the
original references, so a re-run (with fresh signatures) still reattaches to its generation.
"""

from __future__ import annotations

import asyncio
from typing import Any

from prefect_oxen.client import AsyncOxenClient, OxenRepoUri, VideoRequest

__all__ = ["MAX_PRESIGN_SECONDS", "REFERENCE_FIELDS", "presign_s3", "sendable_request"]

#: The longest a SigV4 presigned URL may live (S3 refuses longer).
MAX_PRESIGN_SECONDS = 7 * 24 * 3600
#: The shortest lifetime given, so a URL outlives the request's own retries.
MIN_PRESIGN_SECONDS = 3600
#: The request fields the API fetches by URL.
REFERENCE_FIELDS = ("input_image", "input_video")


def presign_s3(uri: str, *, lifetime: float) -> str:
    """A presigned GET URL for an ``s3://bucket/key`` object (the environment's credentials).

    Args:
        uri: The object.
        lifetime: Seconds it must stay valid (raised to an hour, capped at 7 days).

    Returns:
        The URL.

    Raises:
        InvalidS3Uri: `uri` names no object.
    """
    from prefect_oxen.storage import default_s3_client, parse_s3_uri

    bucket, key = parse_s3_uri(uri)
    seconds = int(min(max(lifetime, MIN_PRESIGN_SECONDS), MAX_PRESIGN_SECONDS))
    return str(
        default_s3_client().generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=seconds
        )
    )


async def _resolved(value: str, client: AsyncOxenClient, lifetime: float) -> str:
    """One reference as a URL the API can fetch (others unchanged)."""
    if value.startswith("s3://"):
        return await asyncio.to_thread(presign_s3, value, lifetime=lifetime)
    if OxenRepoUri.is_oxen_uri(value):
        uri = OxenRepoUri.parse(value)
        return client.repository(uri.namespace, uri.repo).file_url(uri.branch, uri.path)
    return value


async def sendable_request(
    request: VideoRequest, client: AsyncOxenClient, *, lifetime: float
) -> VideoRequest:
    """`request` with its ``s3://`` and ``oxen://`` references resolved to fetchable URLs.

    Args:
        request: The validated request (kept as it is: its fingerprint names the item).
        client: The client the request is sent with (its base URL makes the hub's file URLs).
        lifetime: Seconds the generation may take; presigned URLs live at least this long.

    Returns:
        A copy with resolved references, or `request` itself when it has none to resolve.

    Raises:
        InvalidS3Uri: An ``s3://`` reference names no object.
        InvalidRepoUri: An ``oxen://`` reference is not a repository file URI.
    """
    update: dict[str, Any] = {}
    for name in REFERENCE_FIELDS:
        value = getattr(request, name)
        if isinstance(value, str):
            resolved: Any = await _resolved(value, client, lifetime)
        elif isinstance(value, list):
            resolved = [await _resolved(item, client, lifetime) for item in value]
        else:
            continue
        if resolved != value:
            update[name] = resolved
    return request.model_copy(update=update) if update else request
