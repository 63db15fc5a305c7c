"""Malformed requests, ids and batch lines, each with the words its rejection must contain."""

from __future__ import annotations

from tests.support import FAST, I2V, KLING, O3

# (name, request, words the message must contain: the field, or the API's own phrase)
REQUESTS: list[tuple[str, dict, tuple[str, ...]]] = [
    # both / neither prompt
    (
        "both-prompts",
        {"model": O3, "prompt": "a", "multi_prompt": [{"prompt": "b", "duration": 3}]},
        ("Cannot provide both 'prompt' and 'multi_prompt'",),
    ),
    (
        "neither-prompt",
        {"model": FAST, "duration": 2},
        ("Either 'prompt' or 'multi_prompt' must be provided",),
    ),
    (
        "empty-multi-prompt",
        {"model": O3, "multi_prompt": []},
        ("Either 'prompt' or 'multi_prompt' must be provided",),
    ),
    (
        "blank-prompt",
        {"model": FAST, "prompt": "   \n\t"},
        ("Either 'prompt' or 'multi_prompt' must be provided",),
    ),
    (
        "empty-prompt",
        {"model": FAST, "prompt": ""},
        ("Either 'prompt' or 'multi_prompt' must be provided",),
    ),
    # model
    ("no-model", {"prompt": "a fox"}, ("model",)),
    ("model-null", {"model": None, "prompt": "a fox"}, ("model",)),
    ("model-empty", {"model": "", "prompt": "a fox"}, ("model",)),
    ("model-int", {"model": 7, "prompt": "a fox"}, ("model",)),
    (
        "unknown-model",
        {"model": "kling-video-v9-ultra", "prompt": "a fox"},
        ("Model not found: kling-video-v9-ultra",),
    ),
    ("image-model", {"model": "flux-2-pro", "prompt": "a fox"}, ("model", "image")),
    ("text-model", {"model": "oxen-emu-chat", "prompt": "a fox"}, ("model",)),
    ("model-traversal", {"model": "../../etc/passwd", "prompt": "a fox"}, ("Model not found",)),
    # types
    ("prompt-int", {"model": FAST, "prompt": 42}, ("prompt",)),
    ("prompt-list", {"model": FAST, "prompt": ["a", "b"]}, ("prompt",)),
    ("prompt-dict", {"model": FAST, "prompt": {"text": "a"}}, ("prompt",)),
    ("duration-str", {"model": FAST, "prompt": "a", "duration": "5"}, ("duration",)),
    ("duration-float", {"model": FAST, "prompt": "a", "duration": 2.5}, ("duration",)),
    ("duration-bool", {"model": FAST, "prompt": "a", "duration": True}, ("duration",)),
    ("seed-str", {"model": FAST, "prompt": "a", "seed": "42"}, ("seed",)),
    ("seed-float", {"model": FAST, "prompt": "a", "seed": 4.2}, ("seed",)),
    ("audio-str", {"model": FAST, "prompt": "a", "generate_audio": "yes"}, ("generate_audio",)),
    ("audio-int", {"model": FAST, "prompt": "a", "generate_audio": 1}, ("generate_audio",)),
    ("aspect-int", {"model": FAST, "prompt": "a", "aspect_ratio": 16}, ("aspect_ratio",)),
    ("multi-prompt-str", {"model": O3, "multi_prompt": "shot one"}, ("multi_prompt",)),
    (
        "shot-no-prompt",
        {"model": O3, "multi_prompt": [{"duration": 3}]},
        ("multi_prompt.0.prompt", "Field required"),
    ),
    (
        "shot-extra-field",
        {"model": O3, "multi_prompt": [{"prompt": "a", "duration": 3, "camera": "pan"}]},
        ("multi_prompt.0.camera",),
    ),
    (
        "shot-duration-str",
        {"model": O3, "multi_prompt": [{"prompt": "a", "duration": "3"}]},
        ("multi_prompt.0.duration",),
    ),
    ("input-image-int", {"model": I2V, "prompt": "a", "input_image": 5}, ("input_image",)),
    ("input-image-empty", {"model": I2V, "prompt": "a", "input_image": []}, ("input_image",)),
    (
        "input-video-not-url",
        {"model": FAST, "prompt": "a", "input_video": "file:///etc/passwd"},
        ("input_video",),
    ),
    (
        "response-format",
        {"model": FAST, "prompt": "a", "response_format": "mp4"},
        ("response_format",),
    ),
    (
        "namespace-traversal",
        {"model": FAST, "prompt": "a", "target_namespace": "../other-org"},
        ("target_namespace",),
    ),
    ("namespace-int", {"model": FAST, "prompt": "a", "target_namespace": 3}, ("target_namespace",)),
    # ranges
    ("duration-zero", {"model": FAST, "prompt": "a", "duration": 0}, ("duration",)),
    ("duration-negative", {"model": FAST, "prompt": "a", "duration": -5}, ("duration",)),
    ("duration-too-long", {"model": FAST, "prompt": "a", "duration": 11}, ("duration",)),
    ("duration-huge", {"model": FAST, "prompt": "a", "duration": 10**12}, ("duration",)),
    (
        "kling-duration-2",
        {"model": KLING, "prompt": "a", "duration": 2},
        ("duration value '2' is invalid",),
    ),
    (
        "kling-duration-7",
        {"model": KLING, "prompt": "a", "duration": 7},
        ("duration value '7' is invalid",),
    ),
    ("aspect-shape", {"model": FAST, "prompt": "a", "aspect_ratio": "wide"}, ("aspect_ratio",)),
    ("aspect-zero", {"model": FAST, "prompt": "a", "aspect_ratio": "0:9"}, ("aspect_ratio",)),
    (
        "aspect-unsupported",
        {"model": KLING, "prompt": "a", "aspect_ratio": "21:9"},
        ("aspect_ratio",),
    ),
    (
        "shots-too-long",
        {
            "model": O3,
            "multi_prompt": [{"prompt": "a", "duration": 10}, {"prompt": "b", "duration": 6}],
        },
        ("Total shot duration (16s) exceeds maximum allowed (15s)",),
    ),
    (
        "shot-duration-zero",
        {"model": O3, "multi_prompt": [{"prompt": "a", "duration": 0}]},
        ("multi_prompt.0.duration",),
    ),
    (
        "shot-prompt-long",
        {"model": O3, "multi_prompt": [{"prompt": "x" * 513, "duration": 5}]},
        ("multi_prompt.0.prompt",),
    ),
    (
        "multi-prompt-unsupported",
        {"model": FAST, "multi_prompt": [{"prompt": "a", "duration": 3}]},
        ("multi_prompt",),
    ),
    # size and text
    ("huge-prompt", {"model": FAST, "prompt": "a fox " * 100_000}, ("prompt", "too long")),
    (
        "huge-unicode-prompt",
        {"model": KLING, "prompt": "\U0001f98a" * 3000},
        ("prompt", "too long"),
    ),
    (
        "negative-prompt-long",
        {"model": KLING, "prompt": "a", "negative_prompt": "n" * 2501},
        ("negative_prompt",),
    ),
    # unknown / misspelt parameters
    (
        "misspelt-duration",
        {"model": FAST, "prompt": "a", "durration": 5},
        ("durration", "did you mean 'duration'"),
    ),
    (
        "misspelt-aspect",
        {"model": FAST, "prompt": "a", "aspect_ration": "16:9"},
        ("aspect_ration", "did you mean 'aspect_ratio'"),
    ),
    ("bad-parameter-name", {"model": FAST, "prompt": "a", "../evil": 1}, ("../evil",)),
    ("input-video-int", {"model": FAST, "prompt": "a", "input_video": 12}, ("input_video",)),
    ("aspect-list", {"model": FAST, "prompt": "a", "aspect_ratio": ["16:9"]}, ("aspect_ratio",)),
]

# Batch-level problems: (name, row, words). Rows go through the batch loader (ids, shapes).
ROWS: list[tuple[str, object, tuple[str, ...]]] = [
    (
        "id-traversal",
        {"id": "../../etc/passwd", "model": FAST, "prompt": "a"},
        ("id", "../../etc/passwd"),
    ),
    ("id-absolute", {"id": "/tmp/x", "model": FAST, "prompt": "a"}, ("id", "/tmp/x")),
    ("id-backslash", {"id": "..\\..\\win", "model": FAST, "prompt": "a"}, ("id",)),
    ("id-unicode", {"id": "vid\u00e9o-\u202e", "model": FAST, "prompt": "a"}, ("id",)),
    ("id-too-long", {"id": "a" * 200, "model": FAST, "prompt": "a"}, ("id", "at most 128")),
    ("id-dot", {"id": ".hidden", "model": FAST, "prompt": "a"}, ("id", ".hidden")),
    ("row-list", ["model", FAST], ("expected a JSON object", "list")),
    ("row-string", "a fox", ("expected a JSON object", "str")),
    ("row-null", None, ("expected a JSON object",)),
]

# Templates for object keys that try to leave the archive: (template, words).
KEY_TEMPLATES: list[tuple[str, tuple[str, ...]]] = [
    ("../{key}.mp4", ("would escape",)),
    ("/abs/{key}.mp4", ("would escape",)),
    ("{prefix}/..\\{key}.mp4", ("would escape",)),
    ("{key.__class__}.mp4", ("only plain named fields",)),
    ("static.mp4", ("has no fields",)),
    ("{prefix}/{secret}/{key}.mp4", ("secret",)),
]
