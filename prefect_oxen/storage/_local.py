"""An archive in a local (or mounted) directory, with the same key layout as S3."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from prefect_oxen._files import atomic_write, copy_file, link_into_place, sha256_file
from prefect_oxen.storage._archive import ArchiveRecord, manifest_key
from prefect_oxen.storage._errors import ArchiveConflict, ChecksumMismatch
from prefect_oxen.storage._keys import validate_object_key
from prefect_oxen.storage._manifest import ArchiveManifest


class LocalArchive:
    """Archive videos under `root` at `root/<key>`, with a `<key minus .mp4>.json` manifest.

    `link=True` hard-links instead of copying when source and root share a filesystem: free, but
    the archive then shares the inode, so never modify the source in place afterwards.

    Args:
        root: The archive directory (resolved to an absolute path).
        link: Hard-link instead of copying where possible.
    """

    def __init__(self, root: str | os.PathLike[str], *, link: bool = False) -> None:
        self.root = Path(root).resolve()
        self.link = link

    def path_for(self, key: str) -> Path:
        """The local path of the video at `key` (validated not to escape the root).

        Args:
            key: Object key of the video.

        Returns:
            ``root / key``.

        Raises:
            InvalidObjectKey: The key is unsafe.
        """
        return self.root / validate_object_key(key)

    def uri_for(self, key: str) -> str:
        """The ``file://`` URI of ``root / key``."""
        return self.path_for(key).as_uri()

    def exists(self, key: str, sha256: str) -> bool:
        """Whether the file at `key` exists and hashes to `sha256`."""
        path = self.path_for(key)
        return path.is_file() and sha256_file(path) == sha256

    def read_manifest(self, key: str) -> dict[str, Any] | None:
        """The sidecar manifest of `key` as a dict, or None if absent."""
        path = self.root / manifest_key(validate_object_key(key))
        try:
            manifest: dict[str, Any] = json.loads(path.read_bytes())
            return manifest
        except FileNotFoundError:
            return None

    def put(
        self,
        video_path: str | os.PathLike[str],
        key: str,
        manifest: ArchiveManifest,
        *,
        sha256: str | None = None,
        overwrite: bool = False,
    ) -> ArchiveRecord:
        """Copy (or link) the video to `key` atomically, then its manifest; a given `sha256` is
        checked while copying, so a stale or wrong one raises `ChecksumMismatch`."""
        source = Path(video_path)
        target = self.path_for(key)
        sidecar = self.root / manifest_key(key)
        uri = target.as_uri()
        target.parent.mkdir(parents=True, exist_ok=True)

        uploaded = True
        if target.exists():
            existing = sha256_file(target)
            expected = sha256 or sha256_file(source)
            if existing == expected:
                uploaded = False
                sha256 = existing
            elif not overwrite:
                raise ArchiveConflict(uri=uri, existing_sha256=existing, new_sha256=expected)
        if uploaded:
            sha256 = self._store(source, target, expected_sha256=sha256)

        size = target.stat().st_size
        if uploaded or not sidecar.exists():
            # A missing sidecar next to an existing video means an earlier put died in between.
            stored = manifest.model_copy(
                update={"key": key, "video_uri": uri, "sha256": sha256, "size_bytes": size}
            )
            with atomic_write(sidecar, "wb") as f:
                f.write(stored.to_json_bytes())
        assert sha256 is not None
        return ArchiveRecord(
            uri=uri,
            manifest_uri=sidecar.as_uri(),
            key=key,
            sha256=sha256,
            size_bytes=size,
            uploaded=uploaded,
            view_url=uri,
        )

    def _store(self, source: Path, target: Path, *, expected_sha256: str | None) -> str:
        """Put `source` at `target` (link or verified copy); its sha256."""
        if self.link and link_into_place(source, target):
            # A link shares the source's bytes, so a given sha256 is trusted rather than re-read.
            return expected_sha256 or sha256_file(target)

        def verify(actual: str) -> None:
            # Hashed while copying: the copy is checked against the caller's sha256 for free.
            if expected_sha256 is not None and actual != expected_sha256:
                raise ChecksumMismatch(
                    uri=target.as_uri(),
                    expected=expected_sha256,
                    found=actual,
                    detail=f"hash of {source} while copying",
                )

        return copy_file(source, target, verify=verify)
