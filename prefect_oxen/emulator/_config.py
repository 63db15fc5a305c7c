"""Configuration of the emulator: what it serves, how fast, and which faults it injects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


def _share(description: str) -> Any:
    """A fault's probability field: 0 (never) to 1 (every eligible request), 0 by default."""
    return Field(default=0.0, ge=0.0, le=1.0, description=description)


class FaultConfig(BaseModel):
    """Probabilities (0-1) of each injected fault, drawn per request from seeded generators."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    rate_limit: float = _share("Share of /api/* calls answered 429 with Retry-After.")
    retry_after: float = Field(
        default=1.0,
        ge=0.0,
        description="Seconds advertised in the Retry-After header of an injected 429 "
        "(whole seconds in the header, rounded down).",
    )
    server_error: float = _share("Share of /api/* calls answered 500 unknown_error.")
    unavailable: float = _share("Share of /api/* calls answered 503 unknown_error.")
    connection_reset: float = _share(
        "Share of /api/* calls whose TCP connection is dropped without a response; "
        "paid POSTs (sync generate, enqueue) drop only after the work was accepted and billed."
    )
    truncated_download: float = _share(
        "Share of downloads that announce the full Content-Length and then close "
        "after about half of the body."
    )
    slow_body: float = _share(
        "Share of downloads whose body is trickled at slow_body_bytes_per_second."
    )
    slow_body_bytes_per_second: int = Field(
        default=64 * 1024, gt=0, description="Throughput of a slow_body download."
    )
    expired_url: float = _share(
        "Share of downloads answered 403 as if the fresh signed URL had expired."
    )
    routes: list[str] | None = Field(
        default=None,
        description="Limit API and download faults to these routes, written as in the stats "
        '("POST /api/ai/queue", "GET /api/ai/queue/{generation_id}"); None means every route.',
    )
    limit: int | None = Field(
        default=None,
        ge=0,
        description="Inject at most this many faults (all kinds together) after the fault "
        "settings were last changed or the counters reset; None is unlimited. A run-time "
        "faults change that omits it clears it.",
    )
    generation_failure: float = _share(
        "Share of accepted generations that end failed (sync: 500); never billed."
    )


class EmulatorConfig(BaseModel):
    """Everything that shapes one emulator instance; most fields can be changed at run time."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    host: str = Field(default="127.0.0.1", description="Interface to listen on.")
    port: int = Field(default=0, ge=0, le=65535, description="TCP port; 0 picks a free one.")
    api_keys: list[str] | None = Field(
        default=None,
        description="Accepted Bearer tokens; None accepts any non-empty token that is not a "
        "mask (all `*`). A missing, empty, masked or unknown token gets 401 unauthenticated.",
    )
    latency: float = Field(
        default=0.0, ge=0.0, description="Seconds one generation takes once it holds a slot."
    )
    latency_jitter: float = Field(
        default=0.0,
        ge=0.0,
        description="Uniform +/- seconds added to each generation's latency (seeded, never < 0).",
    )
    concurrency: int = Field(
        default=16,
        ge=1,
        description="Generations in progress at once; sync calls and queue work share these "
        "slots and the excess waits in FIFO order.",
    )
    url_ttl: float = Field(
        default=3600.0, ge=0.0, description="Seconds a signed result URL stays valid."
    )
    seed: int = Field(
        default=0,
        description="Seeds faults, latency jitter and generation ids so a run can be replayed.",
    )
    faults: FaultConfig = Field(default_factory=FaultConfig, description="Fault injection rates.")
    keepalive_interval: float = Field(
        default=15.0, gt=0.0, description="Seconds between SSE `: keep-alive` comments when idle."
    )
    noise_events: bool = Field(
        default=True,
        description="Also send unrelated SSE event types (deployment_status) so clients must "
        "filter on the `event:` line.",
    )
    wrap_validation_messages: bool = Field(
        default=True,
        description="Wrap parameter validation messages as the hub does since 2026-04 "
        "('Getting model response error: 422 - Value error, ...'); False gives the bare strings.",
    )
    serve_current_paths: bool = Field(
        default=True,
        description="Serve /api/ai/videos/generate and /api/ai/models*; False makes them 404 to "
        "exercise a client's fallback to /api/videos/generate and /api/evaluations/models.",
    )
    credits_usd: float | None = Field(
        default=None,
        ge=0.0,
        description="Spendable credits in USD; None is unlimited. Setting it at run time starts "
        "a fresh budget.",
    )
    insufficient_credits_status: int = Field(
        default=402, ge=400, le=499, description="HTTP status of an 'Insufficient credits' error."
    )
    video_padding_bytes: int = Field(
        default=0,
        ge=0,
        description="Size of a valid mp4 `free` box appended to every video (0 = none, else at "
        "least 8) so benchmarks get big files that still decode.",
    )
    reuse_renders: bool = Field(
        default=False,
        description="Render one mp4 per shape (shot lengths, aspect ratio, audio) and serve it "
        "to every generation of that shape: still real mp4 bytes of the right duration and size, "
        "but no encode per prompt (load tests of thousands of generations).",
    )
    fetch_inputs: bool = Field(
        default=False,
        description="Fetch every http(s) input_image before rendering, as the API does; one "
        "that cannot be fetched fails the generation, unbilled (off: tests use URLs nobody "
        "serves).",
    )
    state_dir: Path | None = Field(
        default=None,
        description="Directory that keeps generations and rendered files across restarts; "
        "queued or processing work resumes on start. None keeps everything in memory/tmp.",
    )

    @field_validator("video_padding_bytes")
    @classmethod
    def _padding_fits_a_box(cls, value: int) -> int:
        """Refuse paddings too small to hold an mp4 box header."""
        # An mp4 box header alone is 8 bytes; anything smaller cannot be a valid box.
        if 0 < value < 8:
            raise ValueError("video_padding_bytes must be 0 or at least 8 (an mp4 box header)")
        return value


#: Fields that cannot change once the server runs (they shape sockets, RNGs or storage).
FROZEN_AT_RUNTIME = frozenset({"host", "port", "seed", "state_dir"})
