"""`prefect-oxen generate`: one video and one multi-shot video through the real flows."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support import FAST, O3

from .conftest import flat


def test_one_video_is_archived_with_its_manifest(cli, oxen_env, tmp_path: Path, request) -> None:
    prompt = f"a fox in the snow {request.node.name}"
    result = cli(
        "generate",
        "--model",
        FAST,
        "--prompt",
        prompt,
        "--duration",
        "3",
        "--aspect-ratio",
        "9:16",
        "--id",
        "fox",
        "--archive",
        "videos",
    )
    assert result.exit_code == 0, result.stderr
    text = flat(result.stdout)
    assert "estimated cost $0.03" in text
    [video] = (tmp_path / "videos").rglob("fox.mp4")
    manifest = json.loads(video.with_suffix(".json").read_text())
    assert manifest["request"]["prompt"] == prompt
    assert str(video) in text.replace(" ", "") or video.name in text
    [generation] = oxen_env.generations()
    assert generation["request"]["aspect_ratio"] == "9:16" and generation["billed"]


def test_shots_make_one_native_multi_shot_video(cli, oxen_env, tmp_path: Path, request) -> None:
    result = cli(
        "generate",
        "--model",
        O3,
        "--shot",
        f"a chef cracks an egg {request.node.name}:2",
        "--shot",
        "the egg sizzles:3",
        "--id",
        "chef",
        "--archive",
        "videos",
    )
    assert result.exit_code == 0, result.stderr
    assert "2 (native multi_prompt)" in flat(result.stdout)
    assert "$1.12" in result.stdout  # 5 s x $0.224
    [generation] = oxen_env.generations()
    assert [shot["duration"] for shot in generation["request"]["multi_prompt"]] == [2, 3]
    assert list((tmp_path / "videos").rglob("chef.mp4"))


def test_failed_generation_exits_1(cli, oxen_env, tmp_path: Path, request) -> None:
    oxen_env.configure(credits_usd=0.0)
    result = cli(
        "generate",
        "--model",
        FAST,
        "--prompt",
        f"a fox {request.node.name}",
        "--duration",
        "2",
        "--archive",
        "videos",
    )
    assert result.exit_code == 1
    assert "Insufficient credits" in flat(result.stderr)
    assert not list((tmp_path / "videos").rglob("*.mp4"))
