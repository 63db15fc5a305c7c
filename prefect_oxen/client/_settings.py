"""Client configuration objects: timeouts, retry policy, polling and API paths.

They are plain frozen pydantic models so a Prefect Block can hold them and a test can pass a
variant (e.g. `RetryPolicy.immediate()` to switch backoff off) without touching globals.
"""

from __future__ import annotations

import httpx
from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "API_KEY_ENV",
    "BASE_URL_ENV",
    "DEFAULT_BASE_URL",
    "ApiPaths",
    "ClientTimeouts",
    "PollPolicy",
    "RetryPolicy",
]

#: Where the key and the API root come from when neither an argument nor a block gives them.
API_KEY_ENV = "OXEN_API_KEY"
BASE_URL_ENV = "OXEN_BASE_URL"
DEFAULT_BASE_URL = "https://hub.oxen.ai"


class ClientTimeouts(BaseModel):
    """Per-call deadlines in seconds. Sync generation blocks for minutes, so it has its own."""

    model_config = ConfigDict(frozen=True)

    connect: float = Field(default=10.0, gt=0, description="Seconds to open a connection.")
    read: float = Field(
        default=60.0, gt=0, description="Seconds to wait for bytes on ordinary calls."
    )
    write: float = Field(default=60.0, gt=0, description="Seconds to send a request body.")
    pool: float = Field(default=30.0, gt=0, description="Seconds to wait for a free connection.")
    generate: float = Field(
        default=1200.0,
        gt=0,
        description="Read timeout of the synchronous generate call (1-10+ min).",
    )
    download: float = Field(
        default=120.0, gt=0, description="Read timeout between download chunks."
    )

    def httpx(self, *, read: float | None = None) -> httpx.Timeout:
        """These timeouts as an `httpx.Timeout`.

        Args:
            read: A read timeout for this call instead of `read`.

        Returns:
            The httpx timeout.
        """
        return httpx.Timeout(
            connect=self.connect, read=read or self.read, write=self.write, pool=self.pool
        )


class RetryPolicy(BaseModel):
    """How transient failures (429, 500/502/503/504 where safe, connection errors) are retried.

    Backoff is exponential with jitter and a cap (stamina); a 429's ``Retry-After`` replaces the
    computed wait, up to `max_retry_after`. Client errors (4xx) are never retried, and a paid POST
    whose outcome is unknown is never re-sent blindly.
    """

    model_config = ConfigDict(frozen=True)

    attempts: int = Field(
        default=6, ge=1, description="Total attempts per call, the first included."
    )
    timeout: float | None = Field(
        default=600.0, description="Give up retrying after this many seconds."
    )
    wait_initial: float = Field(default=0.5, ge=0, description="First backoff in seconds.")
    wait_max: float = Field(default=30.0, ge=0, description="Longest single backoff in seconds.")
    wait_jitter: float = Field(
        default=1.0, ge=0, description="Random extra wait, 0..jitter seconds."
    )
    max_retry_after: float = Field(
        default=120.0, ge=0, description="Cap on a server's Retry-After, in seconds."
    )

    @classmethod
    def immediate(cls, attempts: int = 6) -> RetryPolicy:
        """Retries with no waiting at all (tests); Retry-After is still honoured up to 0 s.

        Args:
            attempts: Total attempts per call.

        Returns:
            The policy.
        """
        return cls(attempts=attempts, wait_initial=0, wait_max=0, wait_jitter=0, max_retry_after=0)

    @classmethod
    def never(cls) -> RetryPolicy:
        """One attempt, no retries.

        Returns:
            The policy.
        """
        return cls(attempts=1)


class PollPolicy(BaseModel):
    """How a wait for a queued generation polls when server-sent events are not enough.

    Polling backs off from `initial` to `maximum` seconds with jitter; while the event stream is
    healthy it only polls every `safety_interval` seconds as a net for missed events (cancelled
    generations never get an event).
    """

    model_config = ConfigDict(frozen=True)

    initial: float = Field(default=2.0, gt=0, description="First poll interval in seconds.")
    maximum: float = Field(default=30.0, gt=0, description="Longest poll interval in seconds.")
    factor: float = Field(default=1.5, ge=1, description="Growth of the interval after each poll.")
    jitter: float = Field(
        default=0.2, ge=0, le=1, description="Relative random spread of each interval."
    )
    safety_interval: float = Field(
        default=120.0, gt=0, description="Poll interval while server-sent events are flowing."
    )
    use_events: bool = Field(default=True, description="Wait on /api/events (SSE) when possible.")


class ApiPaths(BaseModel):
    """Route paths, current form first; the next form is tried when a route answers 404.

    The docs moved from ``/api/videos/generate`` and ``/api/evaluations/models`` to the
    ``/api/ai/...`` routes in 2026-04; both are supported and either can be pinned.
    """

    model_config = ConfigDict(frozen=True)

    video_generate: tuple[str, ...] = ("/api/ai/videos/generate", "/api/videos/generate")
    models: tuple[str, ...] = ("/api/ai/models", "/api/evaluations/models")
    queue: str = "/api/ai/queue"
    events: str = "/api/events"
    generations: str = "/api/ai/generations"
