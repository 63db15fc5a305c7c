"""The demo's sample batch: short clips, a native multi-shot item and one deliberately invalid
item (a duration Kling v2.6 does not offer), as JSONL lines so rejections carry line numbers.

`deployments/sample_batch.jsonl` holds the same lines (a test keeps them identical).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["INVALID_ITEM_ID", "SAMPLE_BATCH", "write_sample_batch"]

FAST = "oxen-emu-fast-video"
KLING = "kling-video-v2-6-pro-text-to-video"
KLING_O3 = "kling-video-o3-pro-reference-to-video"

#: The item the demo expects to be rejected (Kling v2.6 renders 5 or 10 s, not 7).
INVALID_ITEM_ID = "lighthouse-7s-invalid"

SAMPLE_BATCH: list[dict[str, Any]] = [
    {
        "id": "fox-in-snow",
        "model": FAST,
        "prompt": "a red fox trotting through fresh snow at dawn",
        "duration": 3,
    },
    {
        "id": "black-sand-beach",
        "model": FAST,
        "prompt": "waves rolling onto a black sand beach, aerial shot",
        "duration": 2,
        "aspect_ratio": "9:16",
    },
    {
        "id": "paper-boat",
        "model": FAST,
        "prompt": "a paper boat drifting down a rain-soaked street",
        "duration": 3,
        "aspect_ratio": "1:1",
        "generate_audio": True,
    },
    {
        "id": "lighthouse",
        "model": KLING,
        "prompt": "a lighthouse at night, its beam sweeping over the sea",
        "duration": 5,
    },
    {
        "id": "chef-two-shots",
        "model": KLING_O3,
        "multi_prompt": [
            {"prompt": "a chef cracks an egg into a hot pan", "duration": 2},
            {"prompt": "close-up of the egg sizzling, steam rising", "duration": 2},
        ],
    },
    {
        "id": "mountain-clouds",
        "model": FAST,
        "prompt": "time-lapse of clouds rolling over mountain peaks",
        "duration": 4,
    },
    {
        "id": INVALID_ITEM_ID,
        "model": KLING,
        "prompt": "the same lighthouse, but for 7 seconds",
        "duration": 7,
    },
    {
        "id": "hummingbird",
        "model": FAST,
        "prompt": "a hummingbird hovering at a red flower, slow motion",
        "duration": 2,
    },
]


def sample_batch_text() -> str:
    """The sample batch as JSONL.

    Returns:
        One JSON request per line, newline-terminated.
    """
    return "".join(json.dumps(item) + "\n" for item in SAMPLE_BATCH)


def write_sample_batch(path: Path) -> Path:
    """Write the sample batch to `path` and return it.

    Args:
        path: The file to write (its directory is created).

    Returns:
        `path`.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(sample_batch_text(), encoding="utf-8")
    return path
