"""One video, and one video made of several shots (natively or stitched)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prefect_oxen.flows import generate_video_flow, multi_shot_flow
from prefect_oxen.media import probe_video

FAST = "oxen-emu-fast-video"
O3 = "kling-video-o3-pro-reference-to-video"


def _path(uri: str) -> Path:
    return Path(uri.removeprefix("file://"))


async def test_single_video_flow_returns_the_archive_record(credentials, emulator, workdir: Path, unique: str) -> None:
    record = await generate_video_flow({"model": FAST, "prompt": f"one {unique}", "duration": 2}, credentials, archive=str(workdir / "archive"), key="one")
    assert record.uploaded and _path(record.uri).exists()
    assert json.loads(_path(record.manifest_uri).read_text())["model"] == FAST
    assert emulator.stats()["billed_generations"] == 1


async def test_multi_prompt_model_makes_one_native_generation(credentials, emulator, workdir: Path, unique: str) -> None:
    shots = [{"prompt": f"a {unique}", "duration": 2}, {"prompt": "b", "duration": 3}]
    result = await multi_shot_flow(O3, shots, credentials, archive=str(workdir / "archive"), key="native")
    assert result.strategy == "native"
    assert emulator.stats()["billed_generations"] == 1
    assert probe_video(_path(result.video.uri)).duration_seconds == pytest.approx(5, abs=0.2)


async def test_other_models_get_shots_generated_concurrently_and_stitched(credentials, emulator, workdir: Path, unique: str) -> None:
    shots = [{"prompt": f"first {unique}", "duration": 2}, {"prompt": "second", "duration": 3}, {"prompt": "third", "duration": 1}]
    result = await multi_shot_flow(FAST, shots, credentials, archive=str(workdir / "archive"), key="stitched", aspect_ratio="1:1")
    assert result.strategy == "stitched" and result.stitch_method == "remux"
    assert emulator.stats()["billed_generations"] == 3
    stitched = probe_video(_path(result.video.uri))
    assert stitched.duration_seconds == pytest.approx(6, abs=0.2)  # the shots' durations summed
    assert stitched.width == stitched.height
    assert [_path(r.uri).name for r in result.shots] == ["stitched-shot-01.mp4", "stitched-shot-02.mp4", "stitched-shot-03.mp4"]
    assert all(_path(r.uri).exists() for r in result.shots)
    manifest = json.loads(_path(result.video.manifest_uri).read_text())
    assert manifest["extra"]["strategy"] == "stitched" and len(manifest["extra"]["shots"]) == 3
    assert manifest["cost_usd"] == pytest.approx(0.06)
