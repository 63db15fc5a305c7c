"""Synchronous generation: both paths, the documented validation messages, formats, billing."""

from __future__ import annotations

import base64
import hashlib

import httpx
import pytest

from tests.emulator.conftest import configure, enqueue, error_detail, probe, stats, wait_terminal
from tests.support import CHAT, FAST, I2V, IMAGE, KLING, O3

WRAP = "Getting model response error: 422 - Value error, "


@pytest.mark.parametrize("path", ["/api/ai/videos/generate", "/api/videos/generate"])
def test_sync_generate_returns_a_downloadable_real_video(
    client: httpx.Client, plain: httpx.Client, path: str
) -> None:
    response = client.post(path, json={"model": FAST, "prompt": "a red fox", "duration": 2})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == FAST
    assert isinstance(body["created"], int)
    assert set(body["videos"][0]) == {"url"}
    url = body["videos"][0]["url"]
    assert "/api/repos/emulator-user/emulator-results/files/generations/" in url
    assert "expires=" in url and "signature=" in url
    download = plain.get(url)
    assert download.status_code == 200
    assert download.headers["content-type"] == "video/mp4"
    info = probe(download.content)
    assert info["codec"] == "h264"
    assert info["frames"] == 2 * 8
    s = stats(client)
    assert s["billed_generations"] == 1
    assert s["billed_cost_usd"] == pytest.approx(0.02)


CASES = [
    (
        {"model": O3, "prompt": "a", "multi_prompt": [{"prompt": "b"}]},
        422,
        "Cannot provide both 'prompt' and 'multi_prompt'.",
    ),
    ({"model": O3}, 422, "Either 'prompt' or 'multi_prompt' must be provided."),
    ({"model": O3, "multi_prompt": []}, 422, "Either 'prompt' or 'multi_prompt' must be provided."),
    ({"model": O3, "multi_prompt": [{"prompt": "a"}, {"duration": 3}]}, 422, "Field required"),
    (
        {"model": KLING, "prompt": "a", "duration": 2},
        422,
        "duration value '2' is invalid. Try using duration='5' instead...",
    ),
    (
        {
            "model": O3,
            "multi_prompt": [{"prompt": "a", "duration": 8}, {"prompt": "b", "duration": 8}],
        },
        422,
        "Total shot duration (16s) exceeds maximum allowed (15s).",
    ),
    ({"model": KLING, "multi_prompt": [{"prompt": "a", "duration": 5}]}, 422, "multi_prompt"),
    ({"model": I2V, "prompt": "a"}, 422, "input_image: Field required"),
    ({"model": KLING, "prompt": "a", "aspect_ratio": "4:3"}, 422, "aspect_ratio"),
    (
        {"model": O3, "multi_prompt": [{"prompt": "x" * 513, "duration": 5}]},
        422,
        "multi_prompt.0.prompt",
    ),
    ({"model": KLING, "prompt": "a", "generate_audio": "yes"}, 422, "generate_audio"),
]


@pytest.mark.parametrize(("body", "status", "message"), CASES)
@pytest.mark.parametrize("wrapped", [True, False])
def test_validation_messages(
    client: httpx.Client, body: dict, status: int, message: str, wrapped: bool
) -> None:
    configure(client, wrap_validation_messages=wrapped)
    response = client.post("/api/ai/videos/generate", json=body)
    assert response.status_code == status
    payload = response.json()
    assert payload["error"]["type"] == "invalid_params"
    assert payload["status_message"] == "invalid_params"
    detail = error_detail(response)
    assert message in detail
    assert detail.startswith(WRAP) is wrapped
    assert stats(client)["billed_generations"] == 0


def test_unknown_model_and_missing_model(client: httpx.Client) -> None:
    response = client.post(
        "/api/ai/videos/generate", json={"model": "bad-model-name", "prompt": "a"}
    )
    assert response.status_code == 404
    assert response.json() == {"error": {"message": "Model not found: bad-model-name"}}
    missing = client.post("/api/ai/videos/generate", json={"prompt": "a"})
    assert missing.status_code == 422
    assert "Field required" in error_detail(missing)


def test_non_video_models_are_refused_on_the_video_route(client: httpx.Client) -> None:
    for model in (IMAGE, CHAT):
        response = client.post("/api/ai/videos/generate", json={"model": model, "prompt": "a"})
        assert response.status_code == 422
        assert model in error_detail(response)


def test_b64_json_decodes_to_a_valid_mp4_with_audio(client: httpx.Client) -> None:
    body = {
        "model": FAST,
        "prompt": "waves",
        "duration": 3,
        "generate_audio": True,
        "response_format": "b64_json",
    }
    response = client.post("/api/ai/videos/generate", json=body)
    assert response.status_code == 200
    videos = response.json()["videos"]
    assert set(videos[0]) == {"b64_json"}
    data = base64.b64decode(videos[0]["b64_json"], validate=True)
    info = probe(data)
    assert info["frames"] == 24
    assert info["audio"] == ["aac"]
    logged = client.get("/_emulator/generations").json()["generations"]
    assert logged[0]["sha256"] == hashlib.sha256(data).hexdigest()
    assert stats(client)["billed_cost_usd"] == pytest.approx(3 * 0.015)


def test_cost_uses_the_audio_rate_instead_of_the_base_rate(client: httpx.Client) -> None:
    client.post("/api/ai/videos/generate", json={"model": KLING, "prompt": "a", "duration": 10})
    client.post(
        "/api/ai/videos/generate",
        json={"model": KLING, "prompt": "a", "duration": 5, "generate_audio": True},
    )
    s = stats(client)
    assert s["billed_generations"] == 2
    assert s["billed_cost_usd"] == pytest.approx(10 * 0.07 + 5 * 0.14)


def test_image_generation(client: httpx.Client, plain: httpx.Client) -> None:
    response = client.post("/api/ai/images/generate", json={"model": IMAGE, "prompt": "a cat"})
    assert response.status_code == 200
    body = response.json()
    assert body["model"] == IMAGE
    image = plain.get(body["images"][0]["url"])
    assert image.headers["content-type"] == "image/png"
    assert image.content.startswith(b"\x89PNG\r\n\x1a\n")
    inline = client.post(
        "/api/ai/images/generate",
        json={"model": IMAGE, "prompt": "a cat", "response_format": "b64_json"},
    )
    assert base64.b64decode(inline.json()["images"][0]["b64_json"]) == image.content
    for prompt in ("", "   ", None):
        empty = client.post("/api/ai/images/generate", json={"model": IMAGE, "prompt": prompt})
        assert empty.status_code == 422
        assert error_detail(empty) == "Prompt cannot be empty"
    assert stats(client)["billed_cost_usd"] == pytest.approx(0.06)


def test_insufficient_credits(client: httpx.Client) -> None:
    configure(client, credits_usd=0.05)
    ok = client.post("/api/ai/videos/generate", json={"model": FAST, "prompt": "a", "duration": 4})
    assert ok.status_code == 200
    refused = client.post(
        "/api/ai/videos/generate", json={"model": FAST, "prompt": "a", "duration": 2}
    )
    assert refused.status_code == 402
    assert refused.json()["error"]["detail"] == "Insufficient credits"
    configure(client, insufficient_credits_status=403)
    again = client.post(
        "/api/ai/videos/generate", json={"model": FAST, "prompt": "a", "duration": 2}
    )
    assert again.status_code == 403
    assert "Insufficient credits" in error_detail(again)
    # 0.01 left: enqueue only checks that some credit remains; the run checks the cost.
    [late] = enqueue(client, model=FAST, prompt="a", duration=2)
    row = wait_terminal(client, late)
    assert (row["status"], row["error_message"]) == ("failed", "Insufficient credits")
    spend = client.post(
        "/api/ai/videos/generate", json={"model": FAST, "prompt": "a", "duration": 1}
    )
    assert spend.status_code == 200
    spent = client.post("/api/ai/queue", json={"model": FAST, "prompt": "a", "duration": 1})
    assert spent.status_code == 403
    assert error_detail(spent) == "Insufficient credits"
    s = stats(client)
    assert s["billed_cost_usd"] == pytest.approx(0.05)
    assert s["credits_remaining_usd"] == pytest.approx(0.0)


@pytest.mark.parametrize(
    "body",
    [
        {"model": I2V, "prompt": "animate", "input_image": "https://example.com/cat.png"},
        {
            "model": O3,
            "prompt": "ref",
            "duration": 3,
            "input_image": ["a.png", "b.png"],
            "negative_prompt": "blur",
            "start_image_url": "s.png",
            "elements": [{"id": 1}],
        },
        {
            "model": O3,
            "multi_prompt": [{"prompt": "a", "duration": 1}, {"prompt": "b", "duration": 2}],
        },
    ],
)
def test_model_specific_parameters_are_accepted(client: httpx.Client, body: dict) -> None:
    response = client.post("/api/ai/videos/generate", json=body)
    assert response.status_code == 200, response.text
