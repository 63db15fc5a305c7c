"""Streaming a result URL to disk: atomic, hashed while written, resumed with Range requests.

Each attempt goes through the session's one send path (so the shared throttle holds it back
like any other request) and the attempts are paced by stamina, like every other retry of the
client. An attempt that did not finish the file raises `_Unfinished`, the one failure the
download's retry hook retries: a cut body or a refreshed URL at once, a broken connection or a
transient error status after the policy's backoff.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
from pydantic import BaseModel

from prefect_oxen._files import sha256_file
from prefect_oxen.client._error_mapping import error_from_response
from prefect_oxen.client._errors import DownloadError, RateLimited, ResultExpired, TransportError
from prefect_oxen.client._redaction import redact_url
from prefect_oxen.client._retrying import Decision, Hook, backoff_hook
from prefect_oxen.client._session import Session
from prefect_oxen.client._settings import RetryPolicy

logger = logging.getLogger("prefect_oxen.client")

CHUNK = 1024 * 1024
# Answers that say the signed URL is no longer good (a queued result can be re-signed).
_EXPIRED = (401, 403, 404, 410)


class DownloadResult(BaseModel):
    """A finished download: where the file is, its size and its sha256."""

    path: Path
    size_bytes: int
    sha256: str
    attempts: int = 1
    refreshed_url: bool = False


def part_path(destination: Path) -> Path:
    """Where `destination` is written until it is complete (then renamed into place).

    Args:
        destination: The final path.

    Returns:
        A hidden ``.part`` sibling of `destination`.
    """
    return destination.with_name(f".{destination.name}.part")


class _Unfinished(Exception):
    """This attempt did not finish the file; another one may (resume, refresh or back off)."""

    def __init__(self, cause: BaseException | None = None, *, wait: bool) -> None:
        super().__init__(type(cause).__name__ if cause else "unfinished")
        self.cause = cause
        #: False for a cut body or a refreshed URL: nothing to wait for, go again at once.
        self.wait = wait


def _retry_hook(policy: RetryPolicy) -> Hook:
    """Retry only an unfinished attempt: at once, after a 429's Retry-After, or with backoff."""
    backoff = backoff_hook(policy)

    def hook(exc: Exception) -> Decision:
        if not isinstance(exc, _Unfinished):
            return False
        if not exc.wait:
            return 0.0
        return backoff(exc.cause) if isinstance(exc.cause, RateLimited) else True

    return hook


@dataclass
class _Progress:
    """What the attempts of one download share: the URL, the part file and the running hash."""

    url: str
    part: Path
    generation_id: str | None
    digest: Any = field(default_factory=hashlib.sha256)
    # How many bytes of the part file `digest` covers (-1: the running hash was abandoned).
    hashed: int = 0
    expected_total: int | None = None
    refreshed: bool = False


class Downloader:
    """Runs downloads over `session`; `refresh` re-signs a queued generation's result URL.

    Args:
        session: The client's send path.
        refresh: Returns a fresh result URL for a generation id.
    """

    def __init__(self, session: Session, refresh: Callable[[str], Awaitable[str]]) -> None:
        self._session = session
        self._refresh = refresh

    async def download(
        self,
        url: str,
        destination: Path,
        *,
        generation_id: str | None,
        max_attempts: int | None,
    ) -> DownloadResult:
        """Stream `url` to `destination`; see `AsyncOxenClient.download`.

        Raises:
            ResultExpired: The URL expired and cannot be refreshed.
            DownloadError: The file could not be completed in the attempts allowed.
            OxenError: The server refused the download for good.
        """
        destination.parent.mkdir(parents=True, exist_ok=True)
        progress = _Progress(url=url, part=part_path(destination), generation_id=generation_id)
        progress.part.unlink(missing_ok=True)
        limit = max_attempts or max(self._session.retry.attempts, 3)
        # No overall time limit: a large file may rightly take longer than any API call.
        retrying = self._session.attempts(
            _retry_hook(self._session.retry), attempts=limit, timeout=None
        )
        number = 0
        try:
            async for attempt in retrying:
                with attempt:
                    number = attempt.num
                    await self._attempt(progress)
        except _Unfinished:
            size = progress.part.stat().st_size if progress.part.exists() else 0
            progress.part.unlink(missing_ok=True)
            raise DownloadError(
                f"Could not download {redact_url(progress.url)} completely in {limit} attempts "
                f"(got {size} of {progress.expected_total or '?'} bytes).",
                url=redact_url(progress.url),
            ) from None
        return await _finish(progress, destination, attempts=number)

    async def _attempt(self, progress: _Progress) -> None:
        """One GET of what is still missing; returns once the file is complete."""
        offset = progress.part.stat().st_size if progress.part.exists() else 0
        # Raw bytes on disk, so Range offsets are byte offsets of the file itself.
        headers = {"Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        timeouts = self._session.timeouts
        request = self._session.build(
            "GET", progress.url, headers=headers, read_timeout=timeouts.download
        )
        try:
            response = await self._session.send(request, stream=True)
        except TransportError as exc:
            raise _interrupted(progress, exc) from None
        try:
            if await self._answered_in_full(progress, response, offset):
                return
            await _write_body(progress, response, offset)
        except httpx.HTTPError as exc:
            raise _interrupted(progress, exc) from None
        finally:
            await response.aclose()
        size = progress.part.stat().st_size
        if progress.expected_total is not None and size != progress.expected_total:
            logger.info(
                "Download of %s cut at %d of %d bytes; resuming.",
                redact_url(progress.url),
                size,
                progress.expected_total,
            )
            raise _Unfinished(wait=False)

    async def _answered_in_full(
        self, progress: _Progress, response: httpx.Response, offset: int
    ) -> bool:
        """Deal with an error status: True when the file was already complete (a 416).

        Raises:
            _Unfinished: Worth another attempt (refreshed URL, transient error).
            ResultExpired: The URL expired and there is no generation to re-sign it from.
            OxenError: An error that asking again cannot fix.
        """
        status = response.status_code
        if status in _EXPIRED:
            await response.aread()
            if not progress.generation_id:
                raise ResultExpired(
                    f"The result URL {redact_url(progress.url)} is no longer valid ({status}); a "
                    "synchronous result cannot be fetched again. Download results promptly, or "
                    "use the queue.",
                    url=redact_url(progress.url),
                )
            progress.url = await self._refresh(progress.generation_id)
            progress.refreshed = True
            raise _Unfinished(wait=False)
        if status == 416 and offset == progress.expected_total:
            return True  # resumed at the very end: nothing was missing
        if status >= 400:
            await response.aread()
            error = error_from_response(response)
            if not error.retryable:
                raise error
            raise _Unfinished(error, wait=True)
        return False


def _interrupted(progress: _Progress, exc: BaseException) -> _Unfinished:
    """A broken connection: logged, and retried after the backoff."""
    logger.info(
        "Download of %s interrupted (%s); resuming.", redact_url(progress.url), type(exc).__name__
    )
    return _Unfinished(exc, wait=True)


async def _write_body(progress: _Progress, response: httpx.Response, offset: int) -> None:
    """Append (or, when the server ignored Range, write afresh) the body to the part file."""
    if response.status_code == 200 and offset:
        offset = 0  # the server ignored Range: start over
    if offset != progress.hashed:
        progress.digest, progress.hashed = None, -1  # cannot continue the running hash
    elif offset == 0:
        progress.digest, progress.hashed = hashlib.sha256(), 0
    progress.expected_total = _expected_total(response, offset) or progress.expected_total
    with open(progress.part, "ab" if offset else "wb") as sink:
        async for chunk in response.aiter_raw(CHUNK):
            # Off the event loop: hashing and writing a megabyte take milliseconds (hashlib
            # releases the GIL), time the loop spends on other videos.
            await asyncio.to_thread(_write_and_hash, sink, progress.digest, chunk)
            if progress.digest is not None:
                progress.hashed += len(chunk)
        sink.flush()
        await asyncio.to_thread(os.fsync, sink.fileno())


async def _finish(progress: _Progress, destination: Path, *, attempts: int) -> DownloadResult:
    """Move the complete part file into place and describe it."""
    size = progress.part.stat().st_size
    if progress.digest is not None and progress.hashed == size:
        sha256 = progress.digest.hexdigest()
    else:
        sha256 = await asyncio.to_thread(sha256_file, progress.part)
    os.replace(progress.part, destination)
    return DownloadResult(
        path=destination,
        size_bytes=size,
        sha256=sha256,
        attempts=attempts,
        refreshed_url=progress.refreshed,
    )


def _write_and_hash(sink: IO[bytes], digest: Any, chunk: bytes) -> None:
    """Write `chunk` and add it to the running hash (if any)."""
    sink.write(chunk)
    if digest is not None:
        digest.update(chunk)


def _expected_total(response: httpx.Response, offset: int) -> int | None:
    """The complete file's size as the response states it, if it does."""
    content_range = response.headers.get("content-range")
    if response.status_code == 206 and content_range and "/" in content_range:
        total = content_range.rsplit("/", 1)[1]
        return int(total) if total.isdigit() else None
    length = response.headers.get("content-length")
    if length and length.isdigit():
        return int(length) + (offset if response.status_code == 206 else 0)
    return None
