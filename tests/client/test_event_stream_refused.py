"""An API without an event stream for this client is waited on by polling, without a stall.

Issue 15: with ``/api/events`` answering 404 the first enqueue waited out the 10 s subscribe
timeout. A refusal (404, 401, 403) now ends the stream task, which wakes every waiter at once,
and the client does not ask for the stream again.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from prefect_oxen.client import APIError, AsyncOxenClient, PollPolicy, RetryPolicy, VideoRequest
from tests.support import FAST

from ..conftest import API_KEY, FAST_POLL
from .fake_api import MODEL, FakeOxen, error, fake_client

EVENTS = "/api/events"
WITH_EVENTS = PollPolicy(initial=0.01, maximum=0.05, safety_interval=1.0, use_events=True)
# Far longer than any test may take: a subscribe that waits it out shows up as a deadline hit.
NEVER = 3600.0
DEADLINE = 60.0


@pytest.mark.parametrize("status", [401, 403, 404])
async def test_a_refused_stream_falls_back_to_polling_at_once(status: int) -> None:
    fake = FakeOxen()
    fake.script("GET", EVENTS, error(status, {"error": {"message": "no events for you"}}))
    async with fake_client(fake, poll=WITH_EVENTS) as oxen:
        subscribed = await asyncio.wait_for(oxen.tracker.subscribe(timeout=NEVER), DEADLINE)
        assert subscribed is False and oxen.tracker.events_unavailable
        request = VideoRequest(model=MODEL, prompt="a fox", duration=5)
        for _ in range(2):
            [generation] = await oxen.enqueue(request, validate=False)
            done = await asyncio.wait_for(
                oxen.wait_for_generation(generation.generation_id), DEADLINE
            )
            assert done.result_url
    assert fake.count("GET", EVENTS) == 1  # remembered for the client's life


async def test_a_failing_stream_is_not_given_up() -> None:
    """A 503 is transient: the stream is asked for again, and is used once it connects."""
    fake = FakeOxen()
    fake.script("GET", EVENTS, error(503, {"error": {"message": "busy"}}))
    fake.script(
        "GET",
        EVENTS,
        httpx.Response(200, headers={"content-type": "text/event-stream"}, content=_open_stream()),
    )
    async with fake_client(fake, poll=WITH_EVENTS) as oxen:
        assert await asyncio.wait_for(oxen.tracker.subscribe(timeout=NEVER), DEADLINE)
        assert not oxen.tracker.events_unavailable
    assert fake.count("GET", EVENTS) >= 2


async def _open_stream():
    """An event stream that sends one keep-alive and then stays open until the client leaves."""
    yield b": keep-alive\n\n"
    await asyncio.Event().wait()


class _NoEventStream(httpx.AsyncBaseTransport):
    """Passes every request to the emulator except the event stream, which is a 404."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.stream_requests = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == EVENTS:
            self.stream_requests += 1
            return httpx.Response(404, json={"error": {"type": "resource_not_found"}})
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


async def test_queue_work_against_an_api_without_events_does_not_stall(emulator) -> None:
    transport = _NoEventStream()
    async with (
        httpx.AsyncClient(transport=transport) as http,
        AsyncOxenClient(
            api_key=API_KEY,
            base_url=emulator.base_url,
            retry=RetryPolicy.immediate(),
            poll=FAST_POLL,
            http_client=http,
        ) as oxen,
    ):
        assert not await asyncio.wait_for(oxen.tracker.subscribe(timeout=NEVER), DEADLINE)
        for prompt in ("a fox", "a hare"):
            request = VideoRequest(model=FAST, prompt=prompt, duration=1)
            [generation] = await oxen.enqueue(request)
            done = await oxen.wait_for_generation(generation.generation_id, timeout=DEADLINE)
            assert done.result_url
    assert transport.stream_requests == 1
    assert emulator.stats()["billed_generations"] == 2


# --- `events()`: the same reader and the same status policy as the tracker ----------------------

_DONE = b'{"generation_id": "gen-1", "status": "succeeded", "url": "https://cdn.oxen.test/v.mp4"}'


async def _two_events():
    yield b"event: media_generation_completed\ndata: not json\n\n"  # malformed: skipped
    yield b"event: keepalive\ndata: {}\n\n"  # another kind: skipped
    yield b"event: media_generation_completed\ndata: " + _DONE + b"\n\n"


async def test_events_yields_completion_events_and_skips_the_rest() -> None:
    fake = FakeOxen()
    stream = httpx.Response(
        200, headers={"content-type": "text/event-stream"}, content=_two_events()
    )
    fake.script("GET", EVENTS, stream)
    async with fake_client(fake) as oxen:
        events = [event async for event in oxen.events()]
    assert [(e.generation_id, e.status.value) for e in events] == [("gen-1", "succeeded")]
    [request] = [s.request for s in fake.seen if s.path == EVENTS]
    assert request.headers["accept"] == "text/event-stream"


@pytest.mark.parametrize("status", [401, 403, 404, 405, 501])
async def test_events_raises_a_refusal_at_once(status: int) -> None:
    fake = FakeOxen()
    fake.script("GET", EVENTS, *[error(status, {"error": {"message": "no events"}})] * 3)
    async with fake_client(fake) as oxen:
        with pytest.raises(APIError) as caught:
            async for _ in oxen.events():
                pass
    assert caught.value.status_code == status
    assert fake.count("GET", EVENTS) == 1


async def test_events_connect_is_retried_while_the_failure_is_transient() -> None:
    fake = FakeOxen()
    stream = httpx.Response(
        200, headers={"content-type": "text/event-stream"}, content=_two_events()
    )
    fake.script("GET", EVENTS, error(503, {"error": {"message": "busy"}}), stream)
    async with fake_client(fake) as oxen:
        events = [event async for event in oxen.events()]
    assert len(events) == 1 and fake.count("GET", EVENTS) == 2
