"""`OxenClient` is the same protocol with a blocking face."""

from __future__ import annotations

import inspect
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from prefect_oxen.client import (
    AsyncOxenClient,
    AsyncRepository,
    AuthenticationError,
    DownloadError,
    OxenClient,
    SyncRepository,
    VideoRequest,
)
from tests.support import FAST, EmulatorControl, wait_for


def test_generate_video_returns_the_api_answer(
    oxen_sync: OxenClient, emulator: EmulatorControl
) -> None:
    response = oxen_sync.generate_video(VideoRequest(model=FAST, prompt="a fox", duration=1))
    assert response.videos[0].url
    assert emulator.stats()["billed_generations"] == 1


def test_queue_round_trip_and_download(
    oxen_sync: OxenClient, emulator: EmulatorControl, tmp_path: Path
) -> None:
    [generation] = oxen_sync.enqueue(VideoRequest(model=FAST, prompt="a fox", duration=1))
    done = oxen_sync.wait_for_generation(generation.generation_id, timeout=30)
    assert done.result_url
    result = oxen_sync.download(
        done.result_url, tmp_path / "fox.mp4", generation_id=done.generation_id
    )
    assert result.size_bytes == (tmp_path / "fox.mp4").stat().st_size > 0


def test_close_stops_its_event_loop_thread(emulator: EmulatorControl) -> None:
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


def test_environment_supplies_key_and_base_url(
    monkeypatch: pytest.MonkeyPatch, emulator: EmulatorControl
) -> None:
    from ..conftest import API_KEY

    monkeypatch.setenv("OXEN_API_KEY", API_KEY)
    monkeypatch.setenv("OXEN_BASE_URL", emulator.base_url)
    with OxenClient() as oxen:
        assert oxen.base_url == emulator.base_url
        assert oxen.get_model(FAST).id == FAST


# --- the blocking face has the async face's whole surface ---------------------------------------

#: The blocking name of an async method whose name says "async".
_BLOCKING_NAME = {"aclose": "close"}


def _public_methods(face: type) -> dict[str, Callable[..., object]]:
    return {
        name: member
        for name, member in vars(face).items()
        if callable(member) and not name.startswith("_")
    }


def _parameters(method: Callable[..., object]) -> list[inspect.Parameter]:
    return list(inspect.signature(method).parameters.values())


@pytest.mark.parametrize(
    ("async_face", "sync_face"),
    [(AsyncOxenClient, OxenClient), (AsyncRepository, SyncRepository)],
)
def test_every_async_method_has_a_blocking_twin_with_the_same_parameters(
    async_face: type, sync_face: type
) -> None:
    async_methods = _public_methods(async_face)
    assert len(async_methods) > 10  # the comparison below compares something
    for name, method in async_methods.items():
        twin = getattr(sync_face, _BLOCKING_NAME.get(name, name), None)
        assert twin is not None, f"{sync_face.__name__} has no blocking {name}"
        assert _parameters(twin) == _parameters(method), name


def test_the_constructors_take_the_same_settings() -> None:
    # An httpx.AsyncClient belongs to the event loop it was made on; the sync client's loop is
    # private, so it cannot be handed one.
    async_settings = [p for p in _parameters(AsyncOxenClient) if p.name != "http_client"]
    assert _parameters(OxenClient) == async_settings


# --- the methods the blocking face gained -------------------------------------------------------


def test_list_queue_filters_by_namespace_and_media_type(
    oxen_sync: OxenClient, emulator: EmulatorControl
) -> None:
    emulator.configure(latency=30)  # stays active, so the default listing shows it
    request = VideoRequest(model=FAST, prompt="a fox", duration=1, target_namespace="team-a")
    [generation] = oxen_sync.enqueue(request)

    def listed(**filters: str) -> bool:
        rows = oxen_sync.list_queue(**filters)
        return generation.generation_id in {row.generation_id for row in rows}

    assert listed(namespace="team-a", media_type="video")
    assert not listed(namespace="team-b")
    assert not listed(media_type="image")


def test_retry_then_fresh_url_and_actual_cost(
    oxen_sync: OxenClient, emulator: EmulatorControl, tmp_path: Path
) -> None:
    emulator.configure(latency=30)
    [held] = oxen_sync.enqueue(VideoRequest(model=FAST, prompt="a fox", duration=1))
    oxen_sync.cancel_generation(held.generation_id)
    emulator.configure(latency=0)
    retried = oxen_sync.retry_generation(held.generation_id)
    assert retried.generation_id != held.generation_id
    done = oxen_sync.wait_for_generation(retried.generation_id, timeout=30)

    url = oxen_sync.fresh_result_url(done.generation_id)
    assert url.startswith(emulator.base_url)
    assert oxen_sync.download(url, tmp_path / "fox.mp4").size_bytes > 0
    assert oxen_sync.generation_costs([done.generation_id, held.generation_id]) == {
        done.generation_id: 0.01,
        held.generation_id: 0.0,  # cancelled before it ran: never billed
    }


def test_download_takes_max_attempts(
    oxen_sync: OxenClient, emulator: EmulatorControl, tmp_path: Path
) -> None:
    [generation] = oxen_sync.enqueue(VideoRequest(model=FAST, prompt="a fox", duration=1))
    done = oxen_sync.wait_for_generation(generation.generation_id, timeout=30)
    assert done.result_url
    emulator.configure(faults={"truncated_download": 1.0})
    with pytest.raises(DownloadError):
        oxen_sync.download(done.result_url, tmp_path / "fox.mp4", max_attempts=2)
    assert emulator.stats()["faults_injected"]["truncated_download"] == 2


def test_events_is_a_blocking_iterator_of_completions(
    oxen_sync: OxenClient, emulator: EmulatorControl
) -> None:
    before = emulator.stats()["sse_subscribers"]
    events = oxen_sync.events()
    with ThreadPoolExecutor(max_workers=1) as pool:
        first = pool.submit(next, events)
        # Events are not replayed: enqueue only once the stream is open.
        wait_for(lambda: emulator.stats()["sse_subscribers"] > before, what="the event stream")
        [generation] = oxen_sync.enqueue(VideoRequest(model=FAST, prompt="a fox", duration=1))
        event = first.result(timeout=30)
    assert (event.generation_id, event.status) == (generation.generation_id, "succeeded")
    events.close()  # closes the stream on the client's loop
    wait_for(lambda: emulator.stats()["sse_subscribers"] <= before + 1, what="the stream closed")


def test_repository_is_a_blocking_handle(oxen_sync: OxenClient, tmp_path: Path) -> None:
    repo = oxen_sync.repository("tests", f"s-{uuid.uuid4().hex[:12]}")
    assert isinstance(repo, SyncRepository)
    assert repo.create(description="sync").name == repo.name
    workspace = repo.create_workspace()
    assert repo.upload_bytes(workspace.id, b"hello", "greeting.txt") == "greeting.txt"
    commit = repo.commit_workspace(workspace, message="hello", author="a", email="a@example.com")
    assert repo.commit_log("main", limit=1)[0].id == commit.id
    assert repo.read_bytes("main", "greeting.txt") == b"hello"
    got = repo.download_file("main", "greeting.txt", tmp_path / "greeting.txt")
    assert got.path.read_bytes() == b"hello"
    assert repo.file_url("main", "greeting.txt").endswith("/file/main/greeting.txt")
