"""Each HTTP answer becomes the right exception, and is retried only where a repeat is safe.

Driven through the real client over `httpx.MockTransport`, so what is checked is what a caller
sees: the exception type, the API's own words, and how many requests went out.
"""

from __future__ import annotations

import email.utils
import time

import pytest

from prefect_oxen.client import (
    APIError,
    AuthenticationError,
    GenerationNotFound,
    InsufficientCredits,
    ModelNotFound,
    OutcomeUnknown,
    PermissionDenied,
    RateLimited,
    RequestValidationError,
    RetryPolicy,
    ServerError,
    VideoRequest,
)

from .fake_api import MODEL, FakeOxen, error, fake_client, server_error

QUEUE = "/api/ai/queue"
SYNC = "/api/ai/videos/generate"
MODEL_PATH = f"/api/ai/models/{MODEL}"
ONE_SHOT = RetryPolicy.never()


def _request(prompt: str = "a fox at dawn") -> VideoRequest:
    return VideoRequest(model=MODEL, prompt=prompt, duration=5)


# --- status -> exception type ------------------------------------------------------------------


async def test_401_is_an_authentication_error_and_not_retried() -> None:
    fake = FakeOxen()
    fake.script(
        "GET",
        "/api/ai/models",
        error(401, {"error": {"type": "unauthenticated", "title": "Unauthorized"}}),
    )
    async with fake_client(fake) as oxen:
        with pytest.raises(AuthenticationError) as caught:
            await oxen.list_models()
    assert caught.value.status_code == 401 and caught.value.error_type == "unauthenticated"
    assert fake.count("GET", "/api/ai/models") == 1


@pytest.mark.parametrize("status", [402, 403])
async def test_insufficient_credits_is_typed_whichever_status_carries_it(status: int) -> None:
    fake = FakeOxen()
    fake.script("POST", QUEUE, error(status, {"error": {"message": "Insufficient credits"}}))
    async with fake_client(fake) as oxen:
        with pytest.raises(InsufficientCredits) as caught:
            await oxen.enqueue(_request(), validate=False)
    assert caught.value.status_code == status
    assert "Insufficient credits" in str(caught.value)
    assert fake.count("POST", QUEUE) == 1 and not fake.generations


async def test_403_without_credits_wording_is_permission_denied() -> None:
    fake = FakeOxen()
    fake.script(
        "GET", "/api/ai/models", error(403, {"error": {"message": "Forbidden for this key"}})
    )
    async with fake_client(fake) as oxen:
        with pytest.raises(PermissionDenied) as caught:
            await oxen.list_models()
    assert (
        type(caught.value) is PermissionDenied and caught.value.detail == "Forbidden for this key"
    )


async def test_404_for_a_model_is_model_not_found() -> None:
    fake = FakeOxen()
    fake.script(
        "GET",
        "/api/ai/models/bad-model-name",
        error(404, {"error": {"message": "Model not found: bad-model-name"}}),
    )
    async with fake_client(fake) as oxen:
        with pytest.raises(ModelNotFound) as caught:
            await oxen.get_model("bad-model-name")
    assert caught.value.model == "bad-model-name"
    assert fake.count("GET", "/api/ai/models/bad-model-name") == 1


async def test_404_for_a_generation_is_generation_not_found() -> None:
    fake = FakeOxen()
    async with fake_client(fake) as oxen:
        with pytest.raises(GenerationNotFound) as caught:
            await oxen.get_generation("gen-unknown")
        with pytest.raises(GenerationNotFound):
            await oxen.cancel_generation("gen-unknown")
    assert caught.value.generation_id == "gen-unknown" and caught.value.status_code == 404
    assert caught.value.error_type == "resource_not_found"


MESSAGE = (
    "Getting model response error: 422 - Value error, "
    "Cannot provide both 'prompt' and 'multi_prompt'."
)

# Every documented place the human message can be, plus a bare text body.
VALIDATION_BODIES = {
    "error.detail": {
        "error": {"type": "invalid_params", "title": "Invalid", "detail": MESSAGE},
        "status": "error",
        "status_message": "invalid_params",
    },
    "error.message": {"error": {"message": MESSAGE}},
    "error.title": {"error": {"type": "invalid_params", "title": MESSAGE}},
    "error_message": {"error_message": MESSAGE},
    "status_message": {"status": "error", "status_message": MESSAGE},
    "message": {"message": MESSAGE},
    "detail": {"detail": MESSAGE},
    "text": MESSAGE,
}


@pytest.mark.parametrize("status", [400, 422])
@pytest.mark.parametrize("shape", list(VALIDATION_BODIES))
async def test_validation_errors_carry_the_api_message_from_every_body_shape(
    status: int, shape: str
) -> None:
    fake = FakeOxen()
    fake.script("POST", QUEUE, error(status, VALIDATION_BODIES[shape]))
    async with fake_client(fake) as oxen:
        with pytest.raises(RequestValidationError) as caught:
            await oxen.enqueue(_request(), validate=False)
    assert caught.value.status_code == status
    assert caught.value.detail == MESSAGE and MESSAGE in str(caught.value)
    assert fake.count("POST", QUEUE) == 1  # never repeated


async def test_429_reads_retry_after_in_seconds() -> None:
    fake = FakeOxen()
    fake.script(
        "GET",
        "/api/ai/models",
        error(429, {"error": {"message": "slow down"}}, {"Retry-After": "7"}),
    )
    async with fake_client(fake, retry=ONE_SHOT) as oxen:
        with pytest.raises(RateLimited) as caught:
            await oxen.list_models()
    assert caught.value.retry_after == 7.0 and caught.value.retryable


async def test_429_reads_retry_after_as_an_http_date() -> None:
    when = time.time() + 30
    fake = FakeOxen()
    fake.script(
        "GET",
        "/api/ai/models",
        error(
            429,
            {"error": {"message": "slow down"}},
            {"Retry-After": email.utils.formatdate(when, usegmt=True)},
        ),
    )
    async with fake_client(fake, retry=ONE_SHOT) as oxen:
        with pytest.raises(RateLimited) as caught:
            await oxen.list_models()
    assert 25 <= caught.value.retry_after <= 30


async def test_retry_after_is_honoured_before_the_next_attempt() -> None:
    fake = FakeOxen()
    fake.script(
        "GET",
        "/api/ai/models",
        error(429, {"error": {"message": "slow down"}}, {"Retry-After": "1"}),
    )
    policy = RetryPolicy(attempts=3, wait_initial=0, wait_max=0, wait_jitter=0, max_retry_after=5)
    async with fake_client(fake, retry=policy) as oxen:
        await oxen.list_models()
    first, second = (s.at for s in fake.seen if s.path == "/api/ai/models")
    assert second - first >= 1.0


# --- 5xx on calls that are safe to repeat --------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_server_errors_on_reads_are_retried_until_they_succeed(status: int) -> None:
    fake = FakeOxen()
    fake.script("GET", MODEL_PATH, server_error(status), server_error(status))
    async with fake_client(fake) as oxen:
        info = await oxen.get_model(MODEL)
    assert info.id == MODEL
    assert fake.count("GET", MODEL_PATH) == 3


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_server_errors_are_typed_once_retries_run_out(status: int) -> None:
    fake = FakeOxen()
    fake.script("GET", MODEL_PATH, server_error(status))
    async with fake_client(fake, retry=ONE_SHOT) as oxen:
        with pytest.raises(ServerError) as caught:
            await oxen.get_model(MODEL)
    assert caught.value.status_code == status and caught.value.retryable


async def test_generate_survives_a_500_while_reading_the_model() -> None:
    """Issue 15: `generate` failed on a 500 from GET /api/ai/models/...; that read is retried."""
    fake = FakeOxen()
    fake.script("GET", MODEL_PATH, server_error(500))
    async with fake_client(fake) as oxen:
        response = await oxen.generate_video(_request())
    assert response.videos[0].url
    assert fake.count("GET", MODEL_PATH) == 2 and fake.count("POST", SYNC) == 1


async def test_queue_reads_and_cancel_are_retried_on_500() -> None:
    fake = FakeOxen()
    async with fake_client(fake) as oxen:
        [generation] = await oxen.enqueue(_request(), validate=False)
        gid = generation.generation_id
        fake.script("GET", f"{QUEUE}/{gid}", server_error(500))
        fake.script("GET", QUEUE, server_error(500))
        fake.script("DELETE", f"{QUEUE}/{gid}", server_error(500))
        assert (await oxen.get_generation(gid)).generation_id == gid
        await oxen.list_queue()
        await oxen.cancel_generation(gid)
    assert fake.count("GET", f"{QUEUE}/{gid}") == 2
    assert fake.count("GET", QUEUE) == 2
    assert fake.count("DELETE", f"{QUEUE}/{gid}") == 2


# --- 5xx on paid POSTs ---------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 504])
async def test_enqueue_refused_with_an_unknown_outcome_is_reconciled_then_sent_again(
    status: int,
) -> None:
    """The server failed before creating anything: the queue shows no trace, so it is re-sent."""
    fake = FakeOxen()
    fake.script("POST", QUEUE, server_error(status))
    async with fake_client(fake) as oxen:
        [generation] = await oxen.enqueue(_request(), validate=False)
    assert list(fake.generations) == [generation.generation_id]  # exactly one created
    posts = [i for i, s in enumerate(fake.seen) if (s.method, s.path) == ("POST", QUEUE)]
    assert len(posts) == 2
    # The queue was looked at between the failed POST and the second one.
    assert any((s.method, s.path) == ("GET", QUEUE) for s in fake.seen[posts[0] : posts[1]])


@pytest.mark.parametrize("status", [500, 502, 504])
async def test_enqueue_that_was_created_despite_a_server_error_is_not_paid_twice(
    status: int,
) -> None:
    """The server created the generation and then failed: the queue has it, nothing is re-sent."""
    fake = FakeOxen()

    def created_then_failed(request):
        fake.create(request)
        return server_error(status)

    fake.script("POST", QUEUE, created_then_failed)
    async with fake_client(fake) as oxen:
        [generation] = await oxen.enqueue(_request(), validate=False)
    assert list(fake.generations) == [generation.generation_id]
    assert fake.count("POST", QUEUE) == 1


async def test_enqueue_is_not_resent_when_the_queue_cannot_be_checked() -> None:
    fake = FakeOxen()
    fake.script("POST", QUEUE, server_error(500))
    fake.script("GET", QUEUE, *[server_error(500)] * 50)
    async with fake_client(fake, retry=RetryPolicy.immediate(attempts=3)) as oxen:
        with pytest.raises(OutcomeUnknown) as caught:
            await oxen.enqueue(_request(), validate=False)
    assert fake.count("POST", QUEUE) == 1
    assert caught.value.status_code == 500 and not caught.value.retryable
    assert "could not be checked" in str(caught.value)


async def test_enqueue_turned_away_with_503_is_sent_again_without_looking() -> None:
    # 503 says the request was not taken on: repeating it cannot bill twice.
    fake = FakeOxen()
    fake.script("POST", QUEUE, server_error(503))
    async with fake_client(fake) as oxen:
        await oxen.enqueue(_request(), validate=False)
    assert fake.count("POST", QUEUE) == 2 and len(fake.generations) == 1
    assert fake.count("GET", QUEUE) == 0


@pytest.mark.parametrize("status", [500, 502, 504])
async def test_sync_generation_with_an_unknown_outcome_is_not_resent(status: int) -> None:
    fake = FakeOxen()
    fake.script("POST", SYNC, server_error(status))
    async with fake_client(fake) as oxen:
        with pytest.raises(OutcomeUnknown) as caught:
            await oxen.generate_video(_request(), validate=False)
    assert fake.count("POST", SYNC) == 1
    assert caught.value.status_code == status and not caught.value.retryable
    assert "may still have been accepted and billed" in str(caught.value)


async def test_sync_generation_to_file_with_a_500_is_not_resent(tmp_path) -> None:
    fake = FakeOxen()
    fake.script("POST", SYNC, server_error(500))
    async with fake_client(fake) as oxen:
        with pytest.raises(OutcomeUnknown) as caught:
            await oxen.generate_video_to_file(_request(), tmp_path / "fox.mp4", validate=False)
    assert fake.count("POST", SYNC) == 1 and caught.value.status_code == 500
    assert not (tmp_path / "fox.mp4").exists()


async def test_sync_generation_turned_away_with_503_is_sent_again() -> None:
    fake = FakeOxen()
    fake.script("POST", SYNC, server_error(503))
    async with fake_client(fake) as oxen:
        response = await oxen.generate_video(_request(), validate=False)
    assert response.videos and fake.count("POST", SYNC) == 2


async def test_unknown_statuses_are_plain_api_errors_and_not_retried() -> None:
    fake = FakeOxen()
    fake.script("GET", "/api/ai/models", error(418, {"message": "I'm a teapot"}))
    async with fake_client(fake) as oxen:
        with pytest.raises(APIError) as caught:
            await oxen.list_models()
    assert type(caught.value) is APIError and caught.value.detail == "I'm a teapot"
    assert fake.count("GET", "/api/ai/models") == 1


async def test_reconciling_never_hands_back_a_generation_already_returned() -> None:
    """Issue 15 under R1's faults: a retried item's enqueue got a 500, and reconciling picked the
    same request's earlier, failed generation, so every retry waited on it and failed again."""
    fake = FakeOxen()
    async with fake_client(fake) as oxen:
        [first] = await oxen.enqueue(_request(), validate=False)
        fake.generations[first.generation_id].update(status="failed", result_url=None)
        fake.script("POST", QUEUE, server_error(500))
        [second] = await oxen.enqueue(_request(), validate=False)
    assert second.generation_id != first.generation_id
    assert fake.count("POST", QUEUE) == 3 and len(fake.generations) == 2
