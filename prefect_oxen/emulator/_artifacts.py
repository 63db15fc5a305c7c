"""Rendered result files on disk, content-addressed and shared by identical requests."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path

from prefect_oxen.emulator._render import (
    ImageSpec,
    VideoSpec,
    free_box_header,
    render_image,
    render_video,
)
from prefect_oxen.emulator._store import Artifact

_ZEROS = bytes(1 << 20)


class ArtifactStore:
    """Renders specs in worker threads and keeps one file per distinct result.

    The cache maps a spec (plus padding) to its artifact, so 200 identical jobs encode once;
    concurrent identical renders wait for the same future instead of encoding twice.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self._index_path = root / "index.jsonl"
        self._cache: dict[str, Artifact] = {}
        self.renders = 0  # encodes actually performed (cache misses)
        self._pending: dict[str, asyncio.Future[Artifact]] = {}
        if self._index_path.exists():
            for line in self._index_path.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                    artifact = Artifact(**entry["artifact"])
                except (ValueError, TypeError, KeyError):
                    continue
                if self.path(artifact).exists():
                    self._cache[entry["key"]] = artifact

    def clear(self) -> None:
        """Forget every rendered file (renders in progress still finish into the cache)."""
        self._cache.clear()
        self._index_path.unlink(missing_ok=True)
        for path in self.root.iterdir():
            if path.is_file() and not path.name.startswith("."):
                path.unlink(missing_ok=True)

    def path(self, artifact: Artifact) -> Path:
        """Where the artifact's bytes live."""
        return self.root / f"{artifact.sha256}.{artifact.extension}"

    async def video(self, spec: VideoSpec, padding: int) -> Artifact:
        """The mp4 for `spec`, followed by a `free` box of `padding` bytes when non-zero."""
        key = f"video:{spec.cache_key()}:{padding}"
        return await self._get(key, lambda: self._write(render_video(spec), "mp4", padding))

    async def image(self, spec: ImageSpec) -> Artifact:
        """The PNG for `spec`."""
        key = f"image:{spec.cache_key()}"
        return await self._get(key, lambda: self._write(render_image(spec), "png", 0))

    async def _get(self, key: str, produce: Callable[[], Artifact]) -> Artifact:
        """The cached artifact for `key`, rendering it (once, shared by waiters) on a miss."""
        if key in self._cache:
            return self._cache[key]
        task = self._pending.get(key)
        if task is None:
            self.renders += 1
            task = asyncio.ensure_future(asyncio.to_thread(produce))
            self._pending[key] = task
            task.add_done_callback(lambda done: self._finished(key, done))
        # Shielded: a cancelled waiter (e.g. a cancelled generation) must not abort an encode
        # other generations are waiting for.
        return await asyncio.shield(task)

    def _finished(self, key: str, task: asyncio.Future[Artifact]) -> None:
        """Cache and index a finished render; a failed one is simply forgotten."""
        self._pending.pop(key, None)
        if task.cancelled() or task.exception() is not None:
            return
        artifact = task.result()
        self._cache[key] = artifact
        with self._index_path.open("a", encoding="utf-8") as index:
            index.write(json.dumps({"key": key, "artifact": artifact.__dict__}) + "\n")

    def _write(self, data: bytes, extension: str, padding: int) -> Artifact:
        """Write rendered bytes (plus an optional `free` box) and name the file by its hash."""
        digest = hashlib.sha256(data)
        tmp = self.root / f".{uuid.uuid4().hex}.part"
        with tmp.open("wb") as handle:
            handle.write(data)
            if padding:
                header = free_box_header(padding)
                handle.write(header)
                digest.update(header)
                remaining = padding - len(header)
                while remaining > 0:
                    chunk = _ZEROS[: min(remaining, len(_ZEROS))]
                    handle.write(chunk)
                    digest.update(chunk)
                    remaining -= len(chunk)
        content_type = "video/mp4" if extension == "mp4" else "image/png"
        artifact = Artifact(digest.hexdigest(), len(data) + padding, extension, content_type)
        os.replace(tmp, self.path(artifact))
        return artifact
