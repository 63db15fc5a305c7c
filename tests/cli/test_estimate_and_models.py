"""`estimate` prices a file from the catalogue; `models` shows it. Neither pays for anything."""

from __future__ import annotations

from pathlib import Path

from tests.support import FAST, KLING, O3

from .conftest import flat, write_jsonl

PAID_ROUTES = ("POST /api/ai/queue", "POST /api/ai/videos/generate", "POST /api/videos/generate")


def _paid_calls(emulator) -> int:
    return sum(
        n for route, n in emulator.stats()["requests"].items() if route.startswith(PAID_ROUTES)
    )


def test_estimate_totals_per_item_and_overall(cli, oxen_env, tmp_path: Path) -> None:
    batch = write_jsonl(
        tmp_path / "plan.jsonl",
        [
            {"id": "fast", "model": FAST, "prompt": "a fox", "duration": 3},
            {"id": "kling", "model": KLING, "prompt": "a lighthouse", "duration": 5},
            {
                "id": "kling-audio",
                "model": KLING,
                "prompt": "a harbour",
                "duration": 10,
                "generate_audio": True,
            },
            {
                "id": "shots",
                "model": O3,
                "multi_prompt": [{"prompt": "a", "duration": 2}, {"prompt": "b", "duration": 4}],
            },
        ],
    )
    result = cli("estimate", str(batch))
    assert result.exit_code == 0, result.stderr
    text = flat(result.stdout)
    assert "fast 1 oxen-emu-fast-video 3 $0.01 $0.03" in text
    assert "kling 2 kling-video-v2-6-pro-text-to-video 5 $0.07 $0.35" in text
    assert "kling-audio 3 kling-video-v2-6-pro-text-to-video 10 yes $0.14 $1.40" in text
    assert "shots 4 kling-video-o3-pro-reference-to-video 6 $0.22 $1.34" in text
    assert "Total: $3.12 for 4 valid item(s)" in text  # 0.03 + 0.35 + 1.40 + 1.344
    assert _paid_calls(oxen_env) == 0
    assert oxen_env.generations() == []


def test_estimate_lists_invalid_lines_and_exits_2(cli, oxen_env, tmp_path: Path) -> None:
    batch = write_jsonl(
        tmp_path / "plan.jsonl",
        [
            {"model": FAST, "prompt": "a fox", "duration": 3},
            "[1, 2]",
            {"model": KLING, "prompt": "a lighthouse", "duration": 7},
        ],
    )
    result = cli("estimate", str(batch))
    assert result.exit_code == 2
    errors = flat(result.stderr)
    assert "line 2: expected a JSON object, got list" in errors
    assert "line 3:" in errors and "duration value '7' is invalid" in errors
    assert "Total: $0.03 for 1 valid item(s); 2 invalid" in flat(result.stdout)


def test_models_lists_the_catalogue_with_pricing(cli, oxen_env) -> None:
    result = cli("models")
    assert result.exit_code == 0, result.stderr
    text = flat(result.stdout)
    assert "kling-video-v2-6-pro-text-to-video video $0.07/s $0.14/s" in text
    assert "kling-video-o3-pro-reference-to-video video $0.22/s $0.28/s yes" in text
    assert "flux-2-pro image $0.03/image" in text


def test_models_detail_shows_the_request_schema(cli, oxen_env) -> None:
    result = cli("models", O3)
    assert result.exit_code == 0, result.stderr
    text = flat(result.stdout)
    assert "multi-shot yes (multi_prompt)" in text
    assert "$0.28/s with audio; replaces the base rate" in text
    assert "duration" in text and "3..15" in text
    assert "multi_prompt array" in text
