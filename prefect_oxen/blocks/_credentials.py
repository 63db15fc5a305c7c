"""`OxenCredentials`: the Prefect block that holds an Oxen API key and where to reach the API."""

from __future__ import annotations

import os
from typing import Any

from prefect.blocks.abstract import CredentialsBlock
from prefect.blocks.core import Block
from prefect.blocks.core import schema_extra as block_schema_extra
from pydantic import ConfigDict, Field, HttpUrl, SecretStr

from prefect_oxen.client import (
    API_KEY_ENV,
    BASE_URL_ENV,
    DEFAULT_BASE_URL,
    AsyncOxenClient,
    ClientTimeouts,
    OxenClient,
    PollPolicy,
    RetryPolicy,
    VideoRequest,
)

__all__ = ["OxenCredentials"]


def _key_from_env() -> SecretStr | None:
    """The default `api_key`: ``OXEN_API_KEY`` as a secret, or None when unset."""
    value = os.environ.get(API_KEY_ENV)
    return SecretStr(value) if value else None


def _base_url_from_env() -> str:
    """The default `base_url`: ``OXEN_BASE_URL``, else the public API root."""
    return os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL


def _block_schema_that_admits_references(schema: dict[str, Any], model: type[Block]) -> None:
    """Prefect's block schema, with `base_url` required (and pre-filled in forms).

    A deployment parameter typed with this block holds a saved block's ``{"$ref": ...}``. When
    a run is created the server checks it against "this block's fields, or a reference" (one
    of them, not both), so the fields must not accept a bare reference: one required field
    does that. The check made when a deployment is saved ignores "required", so the reference
    passes there as well.
    """
    block_schema_extra(schema, model)
    schema["required"] = sorted({*schema.get("required", []), "base_url"})
    schema["properties"]["base_url"].setdefault("default", DEFAULT_BASE_URL)


class OxenCredentials(CredentialsBlock):
    """Credentials and connection settings for the Oxen.ai API.

    Fields left empty fall back to the environment variables OXEN_API_KEY and OXEN_BASE_URL, so
    scripts and the command line work without a saved block. The API key is kept secret: it is
    read only when a client is made, and never shows in logs or in the Prefect UI.

    Example:
        Load stored Oxen credentials and generate a video:
        ```python
        from prefect_oxen import OxenCredentials
        from prefect_oxen.client import VideoRequest

        oxen_credentials_block = OxenCredentials.load("BLOCK_NAME")
        with oxen_credentials_block.get_client() as oxen:
            oxen.generate_video(
                VideoRequest(model="kling-video-v2-6-pro-text-to-video", prompt="a fox")
            )
        ```
    """

    model_config = ConfigDict(json_schema_extra=_block_schema_that_admits_references)

    _block_type_name = "Oxen Credentials"
    _logo_url = HttpUrl("https://avatars.githubusercontent.com/u/106255232?s=200&v=4")
    _documentation_url = HttpUrl("https://docs.oxen.ai/")

    api_key: SecretStr | None = Field(
        default_factory=_key_from_env,
        title="API Key",
        description="Oxen.ai API key sent as a Bearer token; defaults to the OXEN_API_KEY variable.",
    )
    base_url: str = Field(
        default_factory=_base_url_from_env,
        title="Base URL",
        description="Root URL of the Oxen API (or a compatible server such as the emulator).",
    )
    target_namespace: str | None = Field(
        default=None,
        description="User or organisation that stores results and is billed, unless a request says.",
    )
    timeouts: ClientTimeouts = Field(
        default_factory=ClientTimeouts,
        title="Timeouts",
        description="Per-call timeouts in seconds (the synchronous generate call has its own).",
    )
    retry: RetryPolicy = Field(
        default_factory=RetryPolicy,
        title="Retry",
        description="How rate limits and transient server or connection errors are retried.",
    )
    poll: PollPolicy = Field(
        default_factory=PollPolicy,
        title="Poll",
        description="How waits for queued generations use events and polling.",
    )

    def _client_kwargs(self) -> dict[str, Any]:
        """The client settings this block holds, as `OxenClient` and `AsyncOxenClient` take them."""
        return {
            "api_key": self.api_key.get_secret_value() if self.api_key else None,
            "base_url": self.base_url,
            "timeouts": self.timeouts,
            "retry": self.retry,
            "poll": self.poll,
        }

    def get_client(self) -> OxenClient:
        """A blocking `OxenClient` configured from this block (close it, or use `with`).

        Returns:
            A new client with this block's key, base URL, timeouts, retry and poll policies.
        """
        return OxenClient(**self._client_kwargs())

    def get_async_client(self) -> AsyncOxenClient:
        """An `AsyncOxenClient` configured from this block (use `async with`).

        Returns:
            A new async client with this block's key, base URL, timeouts, retry and poll policies.
        """
        return AsyncOxenClient(**self._client_kwargs())

    def apply_defaults(self, request: VideoRequest) -> VideoRequest:
        """`request` with this block's `target_namespace` filled in when the request has none.

        Args:
            request: A video request.

        Returns:
            The request, or a copy with the block's namespace.
        """
        if self.target_namespace and request.target_namespace is None:
            return request.model_copy(update={"target_namespace": self.target_namespace})
        return request

    def secret_values(self) -> tuple[str, ...]:
        """The secret strings this block holds, for scrubbing logs, manifests and artifacts.

        Returns:
            The API key when the block has one, else an empty tuple.
        """
        return (self.api_key.get_secret_value(),) if self.api_key else ()
