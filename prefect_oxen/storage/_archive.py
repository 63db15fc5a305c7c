"""The contract every archive target (local directory, S3 bucket) implements."""

from __future__ import annotations

import os
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from prefect_oxen.storage._manifest import ArchiveManifest


class ArchiveRecord(BaseModel):
    """Where an archived video and its manifest live, and whether this call uploaded them."""

    model_config = ConfigDict(frozen=True)

    uri: str = Field(description="URI of the video (s3://bucket/key or file:///...).")
    manifest_uri: str = Field(description="URI of the JSON manifest next to the video.")
    key: str = Field(description="Object key relative to the archive root.")
    sha256: str = Field(description="Hex sha256 of the stored video.")
    size_bytes: int = Field(ge=0, description="Size of the stored video in bytes.")
    uploaded: bool = Field(description="False when an identical video was already stored.")
    view_url: str = Field(description="URL a person can open (presigned for S3).")


@runtime_checkable
class ArchiveTarget(Protocol):
    """A place to keep videos with sidecar manifests, idempotently keyed by object key."""

    def put(
        self,
        video_path: str | os.PathLike[str],
        key: str,
        manifest: ArchiveManifest,
        *,
        sha256: str | None = None,
        overwrite: bool = False,
    ) -> ArchiveRecord:
        """Store the video and its manifest at `key`; skip if identical, raise on conflict.

        Args:
            video_path: The verified video file to store.
            key: Object key relative to the archive root (``.mp4``).
            manifest: The manifest stored next to the video.
            sha256: The file's hex sha256 when already known (saves a read).
            overwrite: Replace a different video already stored at `key`.

        Returns:
            Where the video and manifest are, and whether this call stored them.

        Raises:
            ArchiveConflict: A different video is stored at `key` and `overwrite` is False.
        """
        ...

    def exists(self, key: str, sha256: str) -> bool:
        """Whether a video with this sha256 is already stored at `key`.

        Args:
            key: Object key of the video.
            sha256: Hex sha256 the stored video must have.

        Returns:
            True when a video with that sha256 is stored at `key`.
        """
        ...

    def uri_for(self, key: str) -> str:
        """The URI the video at `key` has (or would have).

        Args:
            key: Object key of the video.

        Returns:
            Its URI (``file://`` or ``s3://``).
        """
        ...

    def read_manifest(self, key: str) -> dict[str, Any] | None:
        """The stored manifest of the video at `key`, or None if there is none.

        Args:
            key: Object key of the video.

        Returns:
            The manifest as a mapping, or None.
        """
        ...


def manifest_key(key: str) -> str:
    """The sidecar manifest key for a video key: ``a/b.mp4`` -> ``a/b.json``.

    Args:
        key: The video's object key.

    Returns:
        The manifest's object key.
    """
    stem = key[: -len(".mp4")] if key.endswith(".mp4") else key
    return stem + ".json"
