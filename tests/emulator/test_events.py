"""Server-Sent Events: completions, keep-alives, noise, no replay, no event for cancellations."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from prefect_oxen.emulator import EmulatorServer
from tests.emulator.conftest import AUTH, configure, enqueue, parse_sse, stats
from tests.support import FAST, wait_for

Events = list[tuple[str | None, str]]


@pytest.fixture
async def stream(reset_emulator: EmulatorServer) -> AsyncIterator[httpx.Response]:
    async with (
        httpx.AsyncClient(base_url=reset_emulator.base_url, headers=AUTH, timeout=20) as http,
        http.stream("GET", "/api/events") as response,
    ):
        yield response


async def read_until(
    response: httpx.Response, done: Callable[[Events], bool], timeout: float = 10
) -> Events:
    """Read the stream until `done(events)` holds; fail after `timeout` seconds."""
    lines: list[str] = []

    async def pump() -> None:
        async for line in response.aiter_lines():
            lines.append(line)
            if done(parse_sse(lines)):
                return
        raise AssertionError("stream ended early")

    await asyncio.wait_for(pump(), timeout)
    return parse_sse(lines)


def completions(events: Events) -> dict[str, dict]:
    found = {}
    for name, data in events:
        if name == "media_generation_completed":
            payload = json.loads(data)
            found[payload["generation_id"]] = payload
    return found


async def test_completion_events_and_none_for_cancelled(
    client: httpx.Client, stream: httpx.Response
) -> None:
    assert stream.status_code == 200
    assert stream.headers["content-type"].startswith("text/event-stream")
    configure(client, concurrency=1, latency=0.05)
    [ok] = enqueue(client, model=FAST, prompt="ok", duration=1)
    [bad] = enqueue(client, model=FAST, prompt="bad", duration=99)
    [doomed] = enqueue(client, model=FAST, prompt="cancel me", duration=1)
    assert client.delete(f"/api/ai/queue/{doomed}").status_code == 200
    [marker] = enqueue(client, model=FAST, prompt="marker", duration=1)
    events = await read_until(stream, lambda ev: marker in completions(ev))
    done = completions(events)
    assert set(done) == {ok, bad, marker}  # FIFO: the cancelled one would have come before
    assert done[ok]["status"] == "succeeded"
    assert done[ok]["media_type"] == "video"
    assert done[ok]["model"] == FAST
    assert done[ok]["url"].startswith("http://")
    assert done[bad]["status"] == "failed"
    assert done[bad]["media_type"] == "video"
    assert "duration value '99' is invalid" in done[bad]["error"]
    assert "url" not in done[bad]
    noise = [name for name, _ in events if name not in ("media_generation_completed", "comment")]
    assert "deployment_status" in noise


async def test_keep_alive_comments(client: httpx.Client, reset_emulator: EmulatorServer) -> None:
    configure(client, keepalive_interval=0.05)
    async with (
        httpx.AsyncClient(base_url=reset_emulator.base_url, headers=AUTH, timeout=20) as http,
        http.stream("GET", "/api/events") as response,
    ):
        events = await read_until(response, lambda ev: ev.count(("comment", "keep-alive")) >= 2)
    assert ("comment", "keep-alive") in events


async def test_no_replay_and_no_noise_when_disabled(
    client: httpx.Client, reset_emulator: EmulatorServer
) -> None:
    configure(client, noise_events=False)
    [before] = enqueue(client, model=FAST, prompt="before", duration=1)
    wait_for(lambda: client.get(f"/api/ai/queue/{before}").json()["status"] == "succeeded")
    async with (
        httpx.AsyncClient(base_url=reset_emulator.base_url, headers=AUTH, timeout=20) as http,
        http.stream("GET", "/api/events") as response,
    ):
        [after] = enqueue(client, model=FAST, prompt="after", duration=1)
        events = await read_until(response, lambda ev: after in completions(ev))
    assert set(completions(events)) == {after}
    assert {name for name, _ in events} <= {"media_generation_completed", "comment"}


async def test_client_disconnect_ends_the_stream(
    client: httpx.Client, reset_emulator: EmulatorServer
) -> None:
    async with (
        httpx.AsyncClient(base_url=reset_emulator.base_url, headers=AUTH, timeout=20) as http,
        http.stream("GET", "/api/events") as response,
    ):
        assert response.status_code == 200
        assert stats(client)["sse_subscribers"] == 1
    await asyncio.to_thread(wait_for, lambda: stats(client)["sse_subscribers"] == 0)
