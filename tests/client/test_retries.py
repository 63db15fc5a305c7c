"""Transient failures are retried with backoff; client errors and paid requests are not replayed."""

from __future__ import annotations

import time

import pytest
import stamina.instrumentation

from prefect_oxen.client import (
    AsyncOxenClient,
    AuthenticationError,
    OutcomeUnknown,
    RateLimited,
    RequestValidationError,
    RetryPolicy,
    ServerError,
    VideoRequest,
)
from prefect_oxen.client._error_mapping import parse_retry_after
from tests.support import FAST

from ..conftest import API_KEY, FAST_POLL

QUEUE = "POST /api/ai/queue"
SYNC = "POST /api/ai/videos/generate"


@pytest.fixture
def retry_waits():
    """Every wait stamina schedules, as seen by its instrumentation hooks."""
    waits: list[float] = []
    previous = stamina.instrumentation.get_on_retry_hooks()
    stamina.instrumentation.set_on_retry_hooks([lambda details: waits.append(details.wait_for)])
    yield waits
    stamina.instrumentation.set_on_retry_hooks(previous)


def _client(emulator, policy: RetryPolicy, api_key: str = API_KEY) -> AsyncOxenClient:
    return AsyncOxenClient(
        api_key=api_key, base_url=emulator.base_url, retry=policy, poll=FAST_POLL
    )


def _route_count(emulator, route: str) -> int:
    return emulator.stats()["requests"].get(route, 0)


async def test_retry_after_replaces_the_computed_backoff(emulator, retry_waits) -> None:
    # A slow policy (30 s waits) that finishes at once only if Retry-After: 0 is honoured.
    policy = RetryPolicy(
        attempts=3, wait_initial=30, wait_max=30, wait_jitter=0, max_retry_after=60
    )
    emulator.configure(faults={"rate_limit": 1.0, "retry_after": 0})
    async with _client(emulator, policy) as oxen:
        with pytest.raises(RateLimited) as caught:
            await oxen.list_models()
    assert caught.value.retry_after == 0
    assert retry_waits == [0.0, 0.0]
    assert _route_count(emulator, "GET /api/ai/models") == 3


async def test_retry_after_is_capped(emulator, retry_waits) -> None:
    policy = RetryPolicy(
        attempts=2, wait_initial=30, wait_max=30, wait_jitter=0, max_retry_after=0.01
    )
    emulator.configure(faults={"rate_limit": 1.0, "retry_after": 5})
    async with _client(emulator, policy) as oxen:
        with pytest.raises(RateLimited) as caught:
            await oxen.list_models()
    assert caught.value.retry_after == 5
    assert retry_waits == [0.01]


async def test_rate_limited_enqueue_is_retried_and_succeeds_once(emulator) -> None:
    emulator.configure(faults={"rate_limit": 1.0, "retry_after": 0, "routes": [QUEUE], "limit": 2})
    async with _client(emulator, RetryPolicy.immediate()) as oxen:
        [generation] = await oxen.enqueue(VideoRequest(model=FAST, prompt="a fox", duration=1))
        done = await oxen.wait_for_generation(generation.generation_id, timeout=30)
    assert done.result_url
    assert _route_count(emulator, QUEUE) == 3
    assert len(emulator.generations()) == 1


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    future = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 60))
    assert 50 <= parse_retry_after(future) <= 61
    past = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() - 60))
    assert parse_retry_after(past) == 0.0


async def test_unavailable_is_retried_up_to_the_attempt_limit(emulator) -> None:
    emulator.configure(faults={"unavailable": 1.0})
    async with _client(emulator, RetryPolicy.immediate(attempts=3)) as oxen:
        with pytest.raises(ServerError) as caught:
            await oxen.list_models()
    assert caught.value.status_code == 503
    assert _route_count(emulator, "GET /api/ai/models") == 3


async def test_validation_errors_are_not_retried(emulator) -> None:
    async with _client(emulator, RetryPolicy.immediate()) as oxen:
        with pytest.raises(RequestValidationError):
            await oxen.generate_video(
                VideoRequest(model=FAST, prompt="a", duration=99), validate=False
            )
    assert _route_count(emulator, SYNC) == 1
    assert emulator.stats()["billed_generations"] == 0


async def test_authentication_errors_are_not_retried(emulator) -> None:
    async with _client(emulator, RetryPolicy.immediate(), api_key="oxk_wrong_key") as oxen:
        with pytest.raises(AuthenticationError) as caught:
            await oxen.list_models()
    assert caught.value.status_code == 401
    assert "OXEN_API_KEY" in str(caught.value)
    assert _route_count(emulator, "GET /api/ai/models") == 1


async def test_lost_enqueue_answer_is_reconciled_not_resent(emulator) -> None:
    """The enqueue is accepted, then the connection drops: the client finds it in the queue."""
    emulator.configure(latency=0.3, faults={"connection_reset": 1.0, "routes": [QUEUE], "limit": 1})
    async with _client(emulator, RetryPolicy.immediate()) as oxen:
        [generation] = await oxen.enqueue(
            VideoRequest(model=FAST, prompt="a lost answer", duration=1)
        )
        done = await oxen.wait_for_generation(generation.generation_id, timeout=30)
    assert _route_count(emulator, QUEUE) == 1
    [record] = emulator.generations()
    assert record["id"] == generation.generation_id == done.generation_id
    assert emulator.stats()["billed_generations"] == 1


async def test_lost_sync_answer_is_reported_not_resent(emulator) -> None:
    emulator.configure(faults={"connection_reset": 1.0, "routes": [SYNC], "limit": 1})
    async with _client(emulator, RetryPolicy.immediate()) as oxen:
        with pytest.raises(OutcomeUnknown) as caught:
            await oxen.generate_video(VideoRequest(model=FAST, prompt="a fox", duration=1))
    assert "may have been accepted and billed" in str(caught.value)
    assert _route_count(emulator, SYNC) == 1


async def test_enqueue_refused_by_busy_server_is_sent_again(emulator) -> None:
    # 503 means the work was not accepted, so repeating the paid POST cannot bill twice.
    emulator.configure(faults={"unavailable": 1.0, "routes": [QUEUE], "limit": 2})
    async with _client(emulator, RetryPolicy.immediate()) as oxen:
        await oxen.enqueue(VideoRequest(model=FAST, prompt="a fox", duration=1))
    assert _route_count(emulator, QUEUE) == 3
    assert len(emulator.generations()) == 1


async def test_one_rate_limit_pauses_every_call_of_the_client(emulator) -> None:
    import asyncio

    emulator.configure(faults={"rate_limit": 1.0, "retry_after": 2, "limit": 1})
    policy = RetryPolicy(attempts=3, wait_initial=0, wait_max=0, wait_jitter=0, max_retry_after=5)
    async with _client(emulator, policy) as oxen:
        first = asyncio.create_task(oxen.list_models())
        deadline = asyncio.get_running_loop().time() + 10
        while oxen.throttle.remaining == 0:  # the 429 has arrived and set the pause
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.01)
        seen = _route_count(emulator, "GET /api/ai/models")
        second = asyncio.create_task(oxen.get_model(FAST))
        while oxen.throttle.waiting < 1:  # the new call is held back by the shared pause
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.01)
        assert _route_count(emulator, "GET /api/ai/models") == seen
        assert "GET /api/ai/models/{model_id}" not in emulator.stats()["requests"]
        await asyncio.gather(first, second)
    assert emulator.stats()["faults_injected"]["rate_limit"] == 1


async def test_enqueue_answered_500_is_reconciled_and_paid_once(emulator) -> None:
    # The emulator's 500 comes before any work: the queue shows nothing, so it is sent again.
    emulator.configure(faults={"server_error": 1.0, "routes": [QUEUE], "limit": 2})
    async with _client(emulator, RetryPolicy.immediate()) as oxen:
        [generation] = await oxen.enqueue(VideoRequest(model=FAST, prompt="a 500", duration=1))
        await oxen.wait_for_generation(generation.generation_id, timeout=30)
    assert _route_count(emulator, QUEUE) == 3
    assert _route_count(emulator, "GET /api/ai/queue") >= 2  # looked before each re-send
    [record] = emulator.generations()
    assert record["id"] == generation.generation_id
    assert emulator.stats()["billed_generations"] == 1


async def test_sync_generate_answered_500_is_not_resent(emulator) -> None:
    emulator.configure(faults={"server_error": 1.0, "routes": [SYNC], "limit": 1})
    async with _client(emulator, RetryPolicy.immediate()) as oxen:
        with pytest.raises(OutcomeUnknown) as caught:
            await oxen.generate_video(VideoRequest(model=FAST, prompt="a fox", duration=1))
    assert caught.value.status_code == 500
    assert _route_count(emulator, SYNC) == 1


async def test_model_read_answered_500_is_retried(emulator) -> None:
    model_route = "GET /api/ai/models/{model_id}"
    emulator.configure(faults={"server_error": 1.0, "routes": [model_route], "limit": 2})
    async with _client(emulator, RetryPolicy.immediate()) as oxen:
        response = await oxen.generate_video(VideoRequest(model=FAST, prompt="a fox", duration=1))
    assert response.videos
    assert _route_count(emulator, model_route) == 3
    assert emulator.stats()["billed_generations"] == 1
