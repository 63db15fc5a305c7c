"""`OxenClient` is the same protocol with a blocking face."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from prefect_oxen.client import AuthenticationError, OxenClient, VideoRequest
from tests.support import FAST


def test_generate_video_returns_the_api_answer(oxen_sync: OxenClient, emulator) -> None:
    response = oxen_sync.generate_video(VideoRequest(model=FAST, prompt="a fox", duration=1))
    assert response.videos[0].url
    assert emulator.stats()["billed_generations"] == 1


def test_queue_round_trip_and_download(oxen_sync: OxenClient, emulator, tmp_path: Path) -> None:
    [generation] = oxen_sync.enqueue(VideoRequest(model=FAST, prompt="a fox", duration=1))
    done = oxen_sync.wait_for_generation(generation.generation_id, timeout=30)
    result = oxen_sync.download(
        done.result_url, tmp_path / "fox.mp4", generation_id=done.generation_id
    )
    assert result.size_bytes == (tmp_path / "fox.mp4").stat().st_size > 0


def test_close_stops_its_event_loop_thread(emulator) -> None:
    # The threads the client started, not the process's thread count: other tests' background
    # threads (Prefect's services) may end meanwhile and make a global count move.
    before = set(threading.enumerate())
    client = OxenClient(api_key="k", base_url=emulator.base_url)
    started = set(threading.enumerate()) - before
    assert started  # the client runs its event loop on a thread of its own
    client.close()
    client.close()  # idempotent
    assert [thread for thread in started if thread.is_alive()] == []


def test_missing_api_key_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OXEN_API_KEY", raising=False)
    with pytest.raises(AuthenticationError) as caught:
        OxenClient(base_url="http://127.0.0.1:9")
    assert "OXEN_API_KEY" in str(caught.value)


def test_environment_supplies_key_and_base_url(monkeypatch: pytest.MonkeyPatch, emulator) -> None:
    from ..conftest import API_KEY

    monkeypatch.setenv("OXEN_API_KEY", API_KEY)
    monkeypatch.setenv("OXEN_BASE_URL", emulator.base_url)
    with OxenClient() as oxen:
        assert oxen.base_url == emulator.base_url
        assert oxen.get_model(FAST).id == FAST
