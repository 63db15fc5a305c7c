"""Results reach the disk whole: streamed, resumed when cut, refreshed when the URL expired."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from prefect_oxen.client import AsyncOxenClient, ResultExpired, VideoRequest
from tests.support import FAST


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _record(emulator, generation_id: str) -> dict:
    return next(g for g in emulator.generations() if g["id"] == generation_id)


async def _finished(oxen: AsyncOxenClient, prompt: str = "a fox", duration: int = 2):
    [generation] = await oxen.enqueue(VideoRequest(model=FAST, prompt=prompt, duration=duration))
    return await oxen.wait_for_generation(generation.generation_id, timeout=30)


async def test_download_matches_the_emulators_record(
    oxen: AsyncOxenClient, emulator, tmp_path: Path
) -> None:
    done = await _finished(oxen)
    result = await oxen.download(
        done.result_url, tmp_path / "fox.mp4", generation_id=done.generation_id
    )
    assert (
        result.sha256
        == _sha256(tmp_path / "fox.mp4")
        == _record(emulator, done.generation_id)["sha256"]
    )
    assert not list(tmp_path.glob(".*.part"))


async def test_truncated_download_is_resumed(
    oxen: AsyncOxenClient, emulator, tmp_path: Path
) -> None:
    done = await _finished(oxen)
    emulator.configure(faults={"truncated_download": 1.0, "limit": 2})
    result = await oxen.download(
        done.result_url, tmp_path / "fox.mp4", generation_id=done.generation_id
    )
    assert result.attempts >= 2
    assert result.sha256 == _record(emulator, done.generation_id)["sha256"]


async def test_expired_url_is_refreshed_from_the_generation(
    oxen: AsyncOxenClient, emulator, tmp_path: Path
) -> None:
    done = await _finished(oxen)
    emulator.configure(faults={"expired_url": 1.0, "limit": 1})
    result = await oxen.download(
        done.result_url, tmp_path / "fox.mp4", generation_id=done.generation_id
    )
    assert result.refreshed_url
    assert result.sha256 == _record(emulator, done.generation_id)["sha256"]
    assert emulator.stats()["billed_generations"] == 1


async def test_expired_sync_url_cannot_be_recovered(
    oxen: AsyncOxenClient, emulator, tmp_path: Path
) -> None:
    response = await oxen.generate_video(VideoRequest(model=FAST, prompt="a fox", duration=1))
    emulator.configure(faults={"expired_url": 1.0})
    with pytest.raises(ResultExpired) as caught:
        await oxen.download(response.videos[0].url, tmp_path / "fox.mp4")
    assert "?" not in caught.value.url.replace("?[REDACTED]", "")
    assert not (tmp_path / "fox.mp4").exists()


async def test_sync_generation_returns_a_url(oxen: AsyncOxenClient, emulator) -> None:
    response = await oxen.generate_video(VideoRequest(model=FAST, prompt="a fox", duration=1))
    assert response.videos[0].url and response.videos[0].b64_json is None
    assert response.model == FAST
    assert emulator.stats()["billed_generations"] == 1


async def test_sync_b64_generation_is_decoded_to_a_file(
    oxen: AsyncOxenClient, emulator, tmp_path: Path
) -> None:
    request = VideoRequest(model=FAST, prompt="inline fox", duration=2, response_format="b64_json")
    result = await oxen.generate_video_to_file(request, tmp_path / "inline.mp4")
    assert result.delivered_as == "b64_json"
    [record] = emulator.generations()
    assert result.download.sha256 == _sha256(tmp_path / "inline.mp4") == record["sha256"]


async def test_sync_b64_response_keeps_the_inline_video(oxen: AsyncOxenClient) -> None:
    import base64

    request = VideoRequest(model=FAST, prompt="inline fox", duration=1, response_format="b64_json")
    response = await oxen.generate_video(request)
    video = base64.b64decode(response.videos[0].b64_json)
    assert video[4:8] == b"ftyp"
    assert "base64 chars" in repr(response.videos[0])


async def test_sync_url_generation_is_downloaded_to_a_file(
    oxen: AsyncOxenClient, emulator, tmp_path: Path
) -> None:
    result = await oxen.generate_video_to_file(
        VideoRequest(model=FAST, prompt="a fox", duration=1), tmp_path / "f.mp4"
    )
    assert result.delivered_as == "url"
    assert result.download.sha256 == emulator.generations()[0]["sha256"]
