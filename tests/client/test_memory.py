"""A large inline (b64_json) video is decoded to disk with memory that does not grow with it.

The emulator runs in its own process here so that only this process's allocations are traced.
How flat, in megabytes, is measured in bench/b64_memory.py; this asserts the behaviour.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from prefect_oxen.client import AsyncOxenClient, RetryPolicy, VideoRequest
from tests.support import FAST

from ..conftest import API_KEY

PADDING = 40 * 1024 * 1024


@pytest.fixture(scope="module")
def big_video_emulator() -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "prefect_oxen.emulator",
            "--port",
            str(port),
            "--api-key",
            API_KEY,
            "--video-padding-bytes",
            str(PADDING),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert child.poll() is None, "the emulator process exited"
            try:
                httpx.get(f"{base_url}/_emulator/stats", timeout=2).raise_for_status()
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "the emulator did not answer within 60 s"
                time.sleep(0.05)  # polling a condition with a deadline, not waiting for an event
        yield base_url
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait(timeout=30)


async def test_inline_video_is_streamed_to_disk(big_video_emulator: str, tmp_path: Path) -> None:
    request = VideoRequest(
        model=FAST, prompt="a large inline fox", duration=2, response_format="b64_json"
    )
    async with AsyncOxenClient(
        api_key=API_KEY, base_url=big_video_emulator, retry=RetryPolicy.immediate()
    ) as oxen:
        await oxen.get_model(request.model)  # warm: only the generation is traced
        tracemalloc.start()
        try:
            result = await oxen.generate_video_to_file(request, tmp_path / "big.mp4")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    size = (tmp_path / "big.mp4").stat().st_size
    assert size > PADDING
    assert result.download.sha256 == hashlib.sha256((tmp_path / "big.mp4").read_bytes()).hexdigest()
    [record] = httpx.get(f"{big_video_emulator}/_emulator/generations").json()["generations"]
    assert result.download.sha256 == record["sha256"]
    # The base64 body is ~54 MB and the video ~40 MB; holding either would show here.
    assert peak < 8 * 1024 * 1024, (
        f"peak traced memory {peak / 2**20:.1f} MB for a {size / 2**20:.0f} MB video"
    )
