"""The streamed synchronous generation: one paid POST whose answer is decoded while it arrives.

A ``b64_json`` answer can be hundreds of megabytes of base64; it is decoded chunk by chunk into
the part file, so memory stays flat. The POST goes through the session's send path (throttle
included) and is retried by stamina only where that cannot pay twice (a 429, a 503, a request
that never left): a lost answer is `OutcomeUnknown` and is raised, never re-sent.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import BaseModel

from prefect_oxen.client._download import CHUNK, DownloadResult
from prefect_oxen.client._error_mapping import transport_error
from prefect_oxen.client._session import Session

if TYPE_CHECKING:
    from prefect_oxen.media import Base64Extraction


class SyncGenerationResult(BaseModel):
    """The outcome of `generate_video_to_file`: the file plus what the API said about it."""

    download: DownloadResult
    model: str | None = None
    created: int | None = None
    delivered_as: str  # "url" or "b64_json"


async def stream_generation(
    session: Session, path: str, payload: dict[str, Any], *, model: str, part: Path
) -> Base64Extraction:
    """POST `payload` to `path`, decoding an inline video into `part` as it arrives.

    Args:
        session: The client's send path.
        path: The generate route.
        payload: The request body.
        model: The model id (for error messages).
        part: Where the decoded video is written.

    Returns:
        The decoded size (0: no inline video), its hash and the answer's other fields.

    Raises:
        OutcomeUnknown: The answer was lost, or a 500/502/504 came back.
        OxenError: The API refused the request.
    """
    async for attempt in session.attempts():
        with attempt:
            return await _stream_once(session, path, payload, model=model, part=part)
    raise AssertionError("unreachable")  # pragma: no cover


async def _stream_once(
    session: Session, path: str, payload: dict[str, Any], *, model: str, part: Path
) -> Base64Extraction:
    """One POST of the streamed generation, decoded into `part` as it arrives."""
    from prefect_oxen.media import Base64VideoExtractor  # loads PyAV: only when needed

    extractor = Base64VideoExtractor()
    request = session.build("POST", path, json=payload, read_timeout=session.timeouts.generate)
    response = await session.send_checked(request, paid=True, stream=True, model=model)
    try:
        part.parent.mkdir(parents=True, exist_ok=True)
        with open(part, "wb") as sink:
            async for chunk in response.aiter_bytes(CHUNK):
                if decoded := extractor.feed(chunk):
                    # Small blocking writes to the page cache: cheaper than a thread hop each.
                    sink.write(decoded)
            extractor.close()
            sink.flush()
            os.fsync(sink.fileno())
    except httpx.HTTPError as exc:
        raise transport_error(exc, request, paid=True) from None
    finally:
        await response.aclose()
    return extractor.extraction
