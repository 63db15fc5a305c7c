"""A paid video that fails verification is kept aside with a note, and advisory checks warn."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prefect_oxen.media import (
    VideoQuarantined,
    VideoVerificationError,
    quarantine_video,
    verify_video,
)


def test_a_duration_mismatch_can_be_a_warning_instead_of_a_failure(video: Path) -> None:
    checked = verify_video(
        video, expected_duration=7, expected_aspect_ratio="16:9", duration_must_match=False
    )
    assert checked.checks == {"decodes": True, "duration": False, "aspect_ratio": True}
    [warning] = checked.warnings
    assert warning.startswith("duration is 2.00 s, expected 7 s")
    assert video.exists()


def test_advisory_duration_still_fails_on_a_wrong_shape(video: Path) -> None:
    with pytest.raises(VideoVerificationError) as caught:
        verify_video(
            video, expected_duration=7, expected_aspect_ratio="9:16", duration_must_match=False
        )
    assert [problem.split(" ")[0] for problem in caught.value.problems] == ["picture"]


def test_a_strict_duration_mismatch_still_fails(video: Path) -> None:
    with pytest.raises(VideoVerificationError, match=r"duration is 2\.00 s, expected 7 s"):
        verify_video(video, expected_duration=7)
    assert verify_video(video, expected_duration=2).warnings == ()


def test_quarantine_moves_the_video_and_writes_why(video: Path, tmp_path: Path) -> None:
    original = video.read_bytes()
    kept = quarantine_video(
        video,
        tmp_path / "quarantine",
        name="clip.abc123.mp4",
        reason={"problems": ["duration is 2.00 s, expected 7 s"], "generation_id": "g-1"},
    )
    assert not video.exists()
    assert kept.path == tmp_path / "quarantine" / "clip.abc123.mp4"
    assert kept.path.read_bytes() == original
    note = json.loads(kept.reason_path.read_text())
    assert kept.reason_path.name == "clip.abc123.json"
    assert note["video"] == "clip.abc123.mp4" and note["generation_id"] == "g-1"
    assert note["problems"] == ["duration is 2.00 s, expected 7 s"] and note["quarantined_at"]
    assert sorted(p.name for p in kept.path.parent.iterdir()) == [
        "clip.abc123.json",
        "clip.abc123.mp4",
    ]


def test_quarantine_can_keep_the_original_in_place(video: Path, tmp_path: Path) -> None:
    kept = quarantine_video(video, tmp_path / "q", reason={}, keep_original=True)
    assert video.exists() and kept.path.read_bytes() == video.read_bytes()


def test_quarantined_is_a_verification_error() -> None:
    error = VideoQuarantined("kept", path="q/a.mp4", reason_path="q/a.json", problems=("x",))
    assert isinstance(error, VideoVerificationError)
    assert error.path == Path("q/a.mp4") and error.reason_path == Path("q/a.json")
