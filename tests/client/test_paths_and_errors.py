"""Both documented path forms and both error body shapes are understood."""

from __future__ import annotations

import httpx
import pytest

from prefect_oxen.client import (
    AsyncOxenClient,
    GenerationNotFound,
    InsufficientCredits,
    ModelNotFound,
    RetryPolicy,
    VideoRequest,
)
from prefect_oxen.client._error_mapping import error_from_response, read_error_message
from tests.support import FAST, KLING, O3

from ..conftest import API_KEY, FAST_POLL


@pytest.fixture
def legacy_emulator():
    """An emulator that serves only the older route forms."""
    from prefect_oxen.emulator import running_emulator

    with running_emulator(api_keys=[API_KEY], serve_current_paths=False) as server:
        yield server


async def test_older_routes_are_used_when_the_current_ones_404(legacy_emulator) -> None:
    async with AsyncOxenClient(
        api_key=API_KEY,
        base_url=legacy_emulator.base_url,
        retry=RetryPolicy.immediate(),
        poll=FAST_POLL,
    ) as oxen:
        models = await oxen.list_models()
        assert FAST in {m.id for m in models}
        info = await oxen.get_model(FAST)
        assert info.request_schema and info.pricing.cost_per_second
        response = await oxen.generate_video(VideoRequest(model=FAST, prompt="a fox", duration=1))
        assert response.videos[0].url
        # The working form is remembered: a second call goes straight to it.
        await oxen.generate_video(VideoRequest(model=FAST, prompt="a fox", duration=1))
    requests = legacy_emulator.stats()["requests"]
    assert requests.get("POST /api/videos/generate") == 2
    assert requests.get("POST /api/ai/videos/generate") == 1


async def test_models_are_read_from_the_catalogue(oxen: AsyncOxenClient) -> None:
    models = {m.id: m for m in await oxen.list_models()}
    t2v = models[KLING]
    assert t2v.pricing.cost_per_second == pytest.approx(0.07)
    assert t2v.pricing.cost_per_second_with_audio == pytest.approx(0.14)
    assert models[O3].supports_multi_prompt
    assert not t2v.supports_multi_prompt
    request = VideoRequest(model=t2v.id, prompt="a", duration=10, generate_audio=True)
    assert t2v.estimate_cost(request) == pytest.approx(
        1.40
    )  # the audio rate replaces the base rate


async def test_unknown_generation_is_typed(oxen: AsyncOxenClient) -> None:
    with pytest.raises(GenerationNotFound) as caught:
        await oxen.get_generation("00000000-0000-0000-0000-000000000000")
    assert caught.value.status_code == 404


async def test_unknown_model_detail_is_typed(oxen: AsyncOxenClient) -> None:
    with pytest.raises(ModelNotFound) as caught:
        await oxen.get_model("bad-model-name")
    assert "Model not found: bad-model-name" in str(caught.value)


async def test_running_out_of_credits_is_typed(oxen: AsyncOxenClient, emulator) -> None:
    emulator.configure(credits_usd=0.0)
    with pytest.raises(InsufficientCredits) as caught:
        await oxen.enqueue(VideoRequest(model=FAST, prompt="a fox", duration=1))
    assert "Insufficient credits" in str(caught.value)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {
                "error": {"type": "invalid_params", "title": "Bad", "detail": "the detail"},
                "status": "error",
            },
            "the detail",
        ),
        ({"error": {"message": "Model not found: x"}}, "Model not found: x"),
        (
            {
                "error": {
                    "type": "resource_not_found",
                    "title": "The requested resource could not be found",
                }
            },
            "The requested resource could not be found",
        ),
        ({"error_message": "top level"}, "top level"),
        ({"status": "error", "status_message": "invalid_params"}, "invalid_params"),
        ({"message": "plain"}, "plain"),
        ({"detail": "fastapi style"}, "fastapi style"),
        ("a bare string", "a bare string"),
        ({}, None),
    ],
)
def test_error_message_is_found_in_every_documented_shape(body, expected) -> None:
    assert read_error_message(body) == expected


def test_status_codes_map_to_types() -> None:
    request = httpx.Request("POST", "https://hub.oxen.ai/api/ai/queue?sig=secret")
    cases = {
        402: "InsufficientCredits",
        403: "PermissionDenied",
        422: "RequestValidationError",
        429: "RateLimited",
        500: "ServerError",
        503: "ServerError",
        418: "APIError",
    }
    for status, name in cases.items():
        response = httpx.Response(status, json={"error": {"detail": "boom"}}, request=request)
        error = error_from_response(response)
        assert type(error).__name__ == name
        assert "sig=secret" not in str(error)
    forbidden_credits = httpx.Response(
        403, json={"error": {"message": "Insufficient credits"}}, request=request
    )
    assert isinstance(error_from_response(forbidden_credits), InsufficientCredits)
