"""The small records the steps hand to each other (never video bytes, only ids, paths, figures),
and how loud each step's one-line summary is.

A step logs its summary at INFO as its own task run and at DEBUG inside a fused body
(`deliver_result`, `produce_result`), which logs one line per video itself. A context variable,
not a parameter, says which, so that the tasks' parameters stay the user's.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from prefect_oxen.client import VideoRequest, redact_url
from prefect_oxen.storage import ArchiveRecord

__all__ = [
    "DeliveredVideo",
    "GenerationResult",
    "PersistedVideo",
    "ProducedVideo",
    "ValidatedRequest",
    "fused_steps",
    "summary_level",
]


class ValidatedRequest(BaseModel):
    """A request that passed the client's and the model's checks, with its price."""

    model_config = ConfigDict(frozen=True)

    request: VideoRequest
    key: str | None = Field(default=None, description="The caller's id for this item, if any.")
    fingerprint: str = Field(description="sha256 of the request body.")
    estimated_cost_usd: float | None = Field(description="Price from the model's pricing.")
    supports_multi_prompt: bool = False

    @property
    def identity(self) -> str:
        """What makes two generations "the same" for caching and the journal: key + request."""
        return f"{self.key or ''}:{self.fingerprint}"

    @property
    def label(self) -> str:
        """How logs and reports name this item: its key, else the start of its fingerprint."""
        return self.key or self.fingerprint[:12]


class GenerationResult(BaseModel):
    """What a generation returns: where the video is, not the video itself."""

    model_config = ConfigDict(frozen=True)

    key: str | None = None
    fingerprint: str
    model: str
    mode: Literal["sync", "queue"]
    generation_id: str | None = Field(
        default=None, description="Queue generation id (None for sync)."
    )
    result_url: str | None = Field(default=None, repr=False, description="Temporary signed URL.")
    staged_path: str | None = Field(
        default=None, description="Local file already written (sync mode)."
    )
    request: dict[str, Any] = Field(default_factory=dict, description="The request body sent.")
    cost_usd: float | None = None
    submitted_at: float | None = None
    completed_at: float | None = None
    wall_seconds: float | None = None
    reattached: bool = Field(
        default=False, description="True when an earlier paid generation was reused."
    )

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        yield from super().__repr_args__()
        if self.result_url:
            yield "result_url", redact_url(self.result_url)

    @property
    def label(self) -> str:
        """How logs name this item: its key, else the start of its fingerprint."""
        return self.key or self.fingerprint[:12]

    @property
    def total_duration(self) -> int:
        """Seconds of video the request asked for (the sum of its shots for multi-shot)."""
        return VideoRequest.model_validate(self.request).total_duration

    @property
    def aspect_ratio(self) -> str:
        """The aspect ratio the request asked for (the API's default 16:9 when it named none)."""
        return str(self.request.get("aspect_ratio") or "16:9")


class PersistedVideo(BaseModel):
    """A verified mp4 on local disk."""

    model_config = ConfigDict(frozen=True)

    path: str
    size_bytes: int
    sha256: str
    duration_seconds: float
    width: int
    height: int
    has_audio: bool
    poster_path: str | None = None
    verification: dict[str, Any] = Field(default_factory=dict)


class DeliveredVideo(BaseModel):
    """The verified local file (possibly removed since) and where it was archived."""

    persisted: PersistedVideo
    record: ArchiveRecord


class ProducedVideo(BaseModel):
    """What the generation returned, the verified file (possibly removed since) and the archive."""

    result: GenerationResult
    persisted: PersistedVideo
    record: ArchiveRecord


_FUSED: ContextVar[bool] = ContextVar("prefect_oxen_fused_steps", default=False)


@contextmanager
def fused_steps() -> Iterator[None]:
    """Run steps inside a fused body: their summary lines drop to DEBUG."""
    token = _FUSED.set(True)
    try:
        yield
    finally:
        _FUSED.reset(token)


def summary_level() -> int:
    """The level of a step's one-line summary here: DEBUG inside `fused_steps`, else INFO."""
    return logging.DEBUG if _FUSED.get() else logging.INFO
