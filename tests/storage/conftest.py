"""Fixtures for storage: sample files, manifests, an in-process moto S3 and a moto HTTP server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto.server import ThreadedMotoServer

from prefect_oxen.storage import ArchiveManifest
from tests.support.moto_s3 import BUCKET, aws_env, s3

__all__ = ["BUCKET", "aws_env", "s3"]  # pytest finds fixtures by their names in the conftest

MiB = 1024 * 1024


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """moto's S3 over real HTTP on 127.0.0.1 (ephemeral port); yields the endpoint URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def video_file(tmp_path: Path) -> Path:
    """200 KiB of deterministic pseudo-video bytes (storage never decodes them)."""
    path = tmp_path / "video.mp4"
    path.write_bytes(os.urandom(200 * 1024))
    return path


def make_manifest(**overrides: Any) -> ArchiveManifest:
    """A manifest as the tasks layer would build it."""
    fields: dict[str, Any] = {
        "key": "placeholder",
        "model": "kling-video-v2-6-pro-text-to-video",
        "generation_id": "bb8f5eb7-0000-4000-8000-000000000001",
        "request": {"prompt": "a red fox in snow", "duration": 5},
        "timings": {"generate_seconds": 41.5},
        "cost_usd": 0.35,
    }
    fields.update(overrides)
    return ArchiveManifest(**fields)
