"""The small records tasks hand to each other: never video bytes, only ids, paths and figures."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from prefect_oxen.client import VideoRequest
from prefect_oxen.client.redaction import redact_url

__all__ = ["GenerationResult", "PersistedVideo", "ValidatedRequest"]


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


class GenerationResult(BaseModel):
    """What `generate_video` returns: where the video is, not the video itself."""

    model_config = ConfigDict(frozen=True)

    key: str | None = None
    fingerprint: str
    model: str
    mode: Literal["sync", "queue"]
    generation_id: str | None = Field(default=None, description="Queue generation id (None for sync).")
    result_url: str | None = Field(default=None, repr=False, description="Temporary signed URL.")
    staged_path: str | None = Field(default=None, description="Local file already written (sync mode).")
    request: dict[str, Any] = Field(default_factory=dict, description="The request body sent.")
    cost_usd: float | None = None
    submitted_at: float | None = None
    completed_at: float | None = None
    wall_seconds: float | None = None
    reattached: bool = Field(default=False, description="True when an earlier paid generation was reused.")

    def __repr_args__(self):
        yield from super().__repr_args__()
        if self.result_url:
            yield "result_url", redact_url(self.result_url)

    @property
    def total_duration(self) -> int:
        return VideoRequest.model_validate(self.request).total_duration

    @property
    def aspect_ratio(self) -> str:
        return self.request.get("aspect_ratio") or "16:9"


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
