"""The JSON manifest stored next to each archived video, and secret scrubbing for it."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretBytes, SecretStr

REDACTED = "[REDACTED]"

# Matched against the key in snake_case, word by word, so `max_tokens` survives but
# `access_token`, `x-api-key`, `apiKey` and `Authorization` do not.
_SECRET_KEY = re.compile(
    r"(^|_)(api_?key|authorization|auth|token|secret|password|passwd|credentials?|cookie"
    r"|private_key|signature|session)($|_)"
)
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


class ArchiveManifest(BaseModel):
    """What was generated, from which request, at what cost, verified how; stored as JSON."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = Field(default=1, description="Manifest format version.")
    key: str = Field(description="Object key of the video, relative to the archive root.")
    video_uri: str | None = Field(default=None, description="Where the video is stored.")
    sha256: str | None = Field(default=None, description="Hex sha256 of the video bytes.")
    size_bytes: int | None = Field(default=None, ge=0, description="Size of the video in bytes.")
    generation_id: str | None = Field(default=None, description="Oxen generation id, if queued.")
    model: str = Field(description="Oxen model id that generated the video.")
    request: dict[str, Any] = Field(
        default_factory=dict, description="The request sent, already scrubbed of secrets."
    )
    timings: dict[str, float] = Field(
        default_factory=dict, description="Durations in seconds (queued, generating, download)."
    )
    cost_usd: float | None = Field(default=None, ge=0, description="Cost of the generation.")
    verification: dict[str, Any] | None = Field(
        default=None, description="Result of verifying the video (probe and checks)."
    )
    created_at: dt.datetime = Field(
        default_factory=lambda: dt.datetime.now(dt.timezone.utc),
        description="When the manifest was created (UTC).",
    )
    extra: dict[str, Any] = Field(default_factory=dict, description="Caller-defined fields.")

    def to_json_bytes(self) -> bytes:
        """Serialise as indented UTF-8 JSON (the stored form).

        Returns:
            The manifest's JSON, indented, as UTF-8 bytes.
        """
        return self.model_dump_json(indent=2).encode("utf-8")


def scrub_secrets(mapping: Mapping[str, Any], secrets: Iterable[str] = ()) -> dict[str, Any]:
    """Return a deep copy of `mapping` without secret-named keys and with secret values redacted.

    Keys named like api_key/authorization/token/secret/password are dropped; any string that
    contains one of `secrets` (and any pydantic `SecretStr`) becomes ``"[REDACTED]"``.

    Args:
        mapping: The data to scrub (nested mappings and lists included).
        secrets: Secret strings to redact wherever they appear.

    Returns:
        The scrubbed copy; `mapping` itself is not modified.
    """
    needles = tuple(s for s in secrets if s)  # an empty "secret" would match every string
    return _scrub_mapping(mapping, needles)


def is_secret_key(name: str) -> bool:
    """Whether a field name looks like it holds a credential (``apiKey``, ``x-api-key`` ...).

    Args:
        name: A field or header name, in any case style.

    Returns:
        True for names such as ``api_key``, ``Authorization``, ``token``, ``password``.
    """
    snake = _CAMEL_BOUNDARY.sub("_", name).lower().replace("-", "_").replace(" ", "_")
    return bool(_SECRET_KEY.search(snake))


def _scrub_mapping(mapping: Mapping[str, Any], needles: tuple[str, ...]) -> dict[str, Any]:
    """`mapping` without secret-named keys, its values scrubbed."""
    return {
        key: _scrub_value(value, needles)
        for key, value in mapping.items()
        if not (isinstance(key, str) and is_secret_key(key))
    }


def _scrub_value(value: Any, needles: tuple[str, ...]) -> Any:
    """`value` with secrets redacted, recursing through mappings and sequences."""
    if isinstance(value, (SecretStr, SecretBytes)):
        return REDACTED
    if isinstance(value, str):
        return REDACTED if any(n in value for n in needles) else value
    if isinstance(value, Mapping):
        return _scrub_mapping(value, needles)
    if isinstance(value, (list, tuple)):
        return [_scrub_value(item, needles) for item in value]
    return value
