"""Bad requests are refused before any money is spent, with the API's own words and the field."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prefect_oxen.client import (
    AsyncOxenClient,
    ModelNotFound,
    RequestValidationError,
    VideoRequest,
)
from tests.support import FAST, I2V, IMAGE, O3
from tests.support import KLING as T2V

BOTH = "Cannot provide both 'prompt' and 'multi_prompt'."
NEITHER = "Either 'prompt' or 'multi_prompt' must be provided."

# (case id, request fields, field named in the error, words the message must contain)
LOCALLY_INVALID: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "both prompts",
        {"model": T2V, "prompt": "a", "multi_prompt": [{"prompt": "b", "duration": 3}]},
        "prompt",
        BOTH,
    ),
    ("neither prompt", {"model": T2V}, "prompt", NEITHER),
    ("empty multi_prompt is neither", {"model": O3, "multi_prompt": []}, "prompt", NEITHER),
    ("blank prompt is neither", {"model": T2V, "prompt": "   "}, "prompt", NEITHER),
    ("model missing", {"prompt": "a fox"}, "model", "Field required"),
    ("model empty", {"model": "", "prompt": "a fox"}, "model", "at least 1 character"),
    ("model not a string", {"model": 42, "prompt": "a fox"}, "model", "valid string"),
    ("prompt not a string", {"model": T2V, "prompt": 123}, "prompt", "valid string"),
    (
        "duration as text",
        {"model": T2V, "prompt": "a", "duration": "5"},
        "duration",
        "valid integer",
    ),
    ("duration zero", {"model": T2V, "prompt": "a", "duration": 0}, "duration", "greater than 0"),
    (
        "duration negative",
        {"model": T2V, "prompt": "a", "duration": -3},
        "duration",
        "greater than 0",
    ),
    (
        "duration fractional",
        {"model": T2V, "prompt": "a", "duration": 5.5},
        "duration",
        "valid integer",
    ),
    (
        "duration boolean",
        {"model": T2V, "prompt": "a", "duration": True},
        "duration",
        "valid integer",
    ),
    (
        "aspect ratio with x",
        {"model": T2V, "prompt": "a", "aspect_ratio": "16x9"},
        "aspect_ratio",
        "W:H",
    ),
    (
        "aspect ratio zero side",
        {"model": T2V, "prompt": "a", "aspect_ratio": "0:9"},
        "aspect_ratio",
        "W:H",
    ),
    (
        "aspect ratio number",
        {"model": T2V, "prompt": "a", "aspect_ratio": 1.78},
        "aspect_ratio",
        "valid string",
    ),
    (
        "input_video ftp",
        {"model": T2V, "prompt": "a", "input_video": "ftp://host/v.mp4"},
        "input_video",
        "http(s) URL",
    ),
    (
        "input_video not a url",
        {"model": T2V, "prompt": "a", "input_video": "clip.mp4"},
        "input_video",
        "http(s) URL",
    ),
    (
        "input_image empty list",
        {"model": I2V, "prompt": "a", "input_image": []},
        "input_image",
        "non-empty",
    ),
    (
        "input_image blank",
        {"model": I2V, "prompt": "a", "input_image": " "},
        "input_image",
        "non-empty",
    ),
    (
        "response_format unknown",
        {"model": T2V, "prompt": "a", "response_format": "mp4"},
        "response_format",
        "'url' or 'b64_json'",
    ),
    (
        "generate_audio as text",
        {"model": T2V, "prompt": "a", "generate_audio": "yes"},
        "generate_audio",
        "valid boolean",
    ),
    ("seed as text", {"model": T2V, "prompt": "a", "seed": "42"}, "seed", "valid integer"),
    (
        "shot without prompt",
        {"model": O3, "multi_prompt": [{"duration": 3}]},
        "multi_prompt.0.prompt",
        "Field required",
    ),
    (
        "shot duration zero",
        {"model": O3, "multi_prompt": [{"prompt": "a", "duration": 0}]},
        "multi_prompt.0.duration",
        "greater than 0",
    ),
    (
        "shot unknown field",
        {"model": O3, "multi_prompt": [{"prompt": "a", "camera": "pan"}]},
        "multi_prompt.0.camera",
        "Extra inputs",
    ),
    (
        "multi_prompt not a list",
        {"model": O3, "multi_prompt": "shot one"},
        "multi_prompt",
        "valid list",
    ),
    (
        "second shot bad",
        {"model": O3, "multi_prompt": [{"prompt": "a"}, {"prompt": "b", "duration": "x"}]},
        "multi_prompt.1.duration",
        "valid integer",
    ),
    (
        "namespace traversal",
        {"model": T2V, "prompt": "a", "target_namespace": "../billing"},
        "target_namespace",
        "organisation name",
    ),
    (
        "extra not JSON",
        {"model": T2V, "prompt": "a", "negative_prompt": object()},
        "negative_prompt",
        "not JSON-serialisable",
    ),
    (
        "extra NaN",
        {"model": T2V, "prompt": "a", "cfg_scale": float("nan")},
        "cfg_scale",
        "not JSON-serialisable",
    ),
    (
        "extra with bad name",
        {"model": T2V, "prompt": "a", "bad name": 1},
        "request",
        "not a valid parameter name",
    ),
    (
        "num_generations in the request",
        {"model": T2V, "prompt": "a", "num_generations": 2},
        "num_generations",
        "option of the queue call",
    ),
]

# Valid in general, refused by the model's own request schema (fetched once, no paid call made).
MODEL_INVALID: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "duration the model lacks",
        {"model": T2V, "prompt": "a", "duration": 2},
        "duration",
        "duration value '2' is invalid. Try using duration='5' instead...",
    ),
    (
        "nearest duration suggested",
        {"model": T2V, "prompt": "a", "duration": 9},
        "duration",
        "Try using duration='10' instead",
    ),
    (
        "no multi_prompt support",
        {"model": T2V, "multi_prompt": [{"prompt": "a", "duration": 5}]},
        "multi_prompt",
        "does not support multi_prompt",
    ),
    (
        "multi-shot too long",
        {
            "model": O3,
            "multi_prompt": [{"prompt": "a", "duration": 8}, {"prompt": "b", "duration": 8}],
        },
        "multi_prompt",
        "Total shot duration (16s) exceeds maximum allowed (15s).",
    ),
    (
        "multi-shot too short",
        {
            "model": O3,
            "multi_prompt": [{"prompt": "a", "duration": 1}, {"prompt": "b", "duration": 1}],
        },
        "multi_prompt",
        "Total shot duration (2s) is below minimum allowed (3s).",
    ),
    (
        "shot prompt too long",
        {"model": O3, "multi_prompt": [{"prompt": "x" * 513, "duration": 5}]},
        "multi_prompt.0.prompt",
        "too long",
    ),
    (
        "shot longer than 15 s",
        {"model": O3, "multi_prompt": [{"prompt": "a", "duration": 16}]},
        "multi_prompt.0.duration",
        "out of range",
    ),
    ("prompt too long", {"model": FAST, "prompt": "x" * 2501}, "prompt", "too long"),
    (
        "duration out of range",
        {"model": FAST, "prompt": "a", "duration": 11},
        "duration",
        "out of range",
    ),
    (
        "aspect ratio not offered",
        {"model": FAST, "prompt": "a", "aspect_ratio": "4:3"},
        "aspect_ratio",
        "aspect_ratio value '4:3' is invalid",
    ),
    (
        "image-to-video needs an image",
        {"model": I2V, "prompt": "a"},
        "input_image",
        "Field required",
    ),
    (
        "image model is not a video model",
        {"model": IMAGE, "prompt": "a"},
        "model",
        "generates image, not video",
    ),
    (
        "misspelt parameter",
        {"model": FAST, "prompt": "a", "aspect_ration": "16:9"},
        "aspect_ration",
        "did you mean 'aspect_ratio'?",
    ),
]


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [c[1:] for c in LOCALLY_INVALID],
    ids=[c[0] for c in LOCALLY_INVALID],
)
async def test_invalid_request_is_refused_before_any_http_request(
    oxen: AsyncOxenClient, emulator, fields: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(RequestValidationError) as caught:
        await oxen.enqueue(VideoRequest(**fields))
    assert caught.value.field == field
    assert words in str(caught.value)
    assert "nothing was sent or billed" in str(caught.value)
    assert emulator.api_requests() == 0


@pytest.mark.parametrize(
    ("fields", "field", "words"), [c[1:] for c in MODEL_INVALID], ids=[c[0] for c in MODEL_INVALID]
)
@pytest.mark.parametrize("entry", ["enqueue", "generate_video"])
async def test_request_the_model_cannot_take_is_refused_before_any_paid_call(
    oxen: AsyncOxenClient, emulator, fields: dict[str, Any], field: str, words: str, entry: str
) -> None:
    with pytest.raises(RequestValidationError) as caught:
        await getattr(oxen, entry)(VideoRequest(**fields))
    assert caught.value.field == field
    assert words in str(caught.value)
    requests = emulator.stats()["requests"]
    assert all(route.startswith("GET ") for route in requests), requests
    assert emulator.stats()["billed_generations"] == 0


def test_the_table_is_large_enough() -> None:
    # The acceptance floor for the table-driven test is 30 invalid requests.
    assert len(LOCALLY_INVALID) + len(MODEL_INVALID) >= 30


async def test_unknown_model_is_refused_with_the_api_message(
    oxen: AsyncOxenClient, emulator
) -> None:
    with pytest.raises(ModelNotFound) as caught:
        await oxen.enqueue(VideoRequest(model="bad-model-name", prompt="a fox"))
    assert "Model not found: bad-model-name" in str(caught.value)
    assert caught.value.model == "bad-model-name"
    assert not any(route.startswith("POST") for route in emulator.stats()["requests"])


async def test_the_server_agrees_with_the_local_checks(oxen: AsyncOxenClient, emulator) -> None:
    """With local validation off, the emulator refuses the same request with the same words."""
    request = VideoRequest(model=T2V, prompt="a", duration=2)
    with pytest.raises(RequestValidationError) as caught:
        await oxen.generate_video(request, validate=False)
    assert caught.value.status_code in (400, 422)
    assert "duration value '2' is invalid" in caught.value.detail


async def test_model_details_are_fetched_once_per_client(oxen: AsyncOxenClient, emulator) -> None:
    for duration in (2, 3, 4):
        with pytest.raises(RequestValidationError):
            await oxen.validate_request(VideoRequest(model=T2V, prompt="a", duration=duration))
    model_gets = {r: n for r, n in emulator.stats()["requests"].items() if "models" in r}
    assert sum(model_gets.values()) == 1


def test_valid_request_keeps_model_specific_fields() -> None:
    request = VideoRequest(model=O3, prompt="a fox", negative_prompt="blur", elements=[{"id": 1}])
    assert request.to_payload() == {
        "model": O3,
        "prompt": "a fox",
        "negative_prompt": "blur",
        "elements": [{"id": 1}],
    }


def test_fingerprint_is_stable_and_sensitive() -> None:
    a = VideoRequest(model=FAST, prompt="a fox", duration=3)
    assert a.fingerprint() == VideoRequest(duration=3, prompt="a fox", model=FAST).fingerprint()
    assert a.fingerprint() != VideoRequest(model=FAST, prompt="a fox", duration=4).fingerprint()


_json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-10, 100)
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
)


@settings(max_examples=300, deadline=None)
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "model": _json_scalars,
            "prompt": _json_scalars,
            "multi_prompt": st.lists(
                st.dictionaries(st.sampled_from(["prompt", "duration", "x"]), _json_scalars),
                max_size=3,
            )
            | _json_scalars,
            "duration": _json_scalars,
            "aspect_ratio": _json_scalars,
            "input_video": _json_scalars,
            "input_image": _json_scalars | st.lists(_json_scalars, max_size=2),
            "generate_audio": _json_scalars,
            "response_format": _json_scalars,
            "seed": _json_scalars,
            "target_namespace": _json_scalars,
        },
    )
)
def test_any_json_input_is_either_a_valid_request_or_a_named_validation_error(
    fields: dict[str, Any],
) -> None:
    try:
        request = VideoRequest.model_validate(fields)
    except RequestValidationError as exc:
        assert exc.errors and all(field for field, _ in exc.errors)
        assert "nothing was sent or billed" in str(exc)
    else:
        assert (request.prompt is None) != (not request.multi_prompt)
        assert request.total_duration > 0
