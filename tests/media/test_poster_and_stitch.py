"""Poster frames and stitching shots into one video."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from prefect_oxen.media import (
    StitchError,
    VideoDecodeError,
    probe_video,
    stitch_videos,
    verify_video,
    write_poster_frame,
)

from .conftest import MakeVideo

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def decoded_size(png: Path) -> tuple[int, int]:
    with av.open(str(png)) as container:
        frame = next(container.decode(video=0))
        return frame.width, frame.height


def frame_brightness(png: Path) -> int:
    """Red value of the bottom-right pixel (the fixture's frames get brighter over time)."""
    with av.open(str(png)) as container:
        frame = next(container.decode(video=0)).reformat(format="rgb24")
        plane = frame.planes[0]
        pixel: int = bytes(plane)[plane.line_size * (frame.height - 1) + 3 * (frame.width - 1)]
        return pixel


class TestPoster:
    def test_writes_png_of_the_video_size(self, video: Path, tmp_path: Path) -> None:
        out = write_poster_frame(video, tmp_path / "poster.png")
        assert out.read_bytes().startswith(PNG_MAGIC)
        assert decoded_size(out) == (64, 36)
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []

    def test_default_is_the_middle_frame(self, video: Path, tmp_path: Path) -> None:
        # Frame i has brightness i*20: the middle of 2 s at 8 fps is frame 8.
        middle = write_poster_frame(video, tmp_path / "middle.png")
        start = write_poster_frame(video, tmp_path / "start.png", at_seconds=0)
        end = write_poster_frame(video, tmp_path / "end.png", at_seconds=99)
        assert frame_brightness(start) == pytest.approx(0, abs=6)
        assert frame_brightness(middle) == pytest.approx(160, abs=6)
        assert frame_brightness(end) == pytest.approx(300 % 256, abs=6)  # frame 15

    def test_rejects_a_broken_video_and_writes_nothing(self, tmp_path: Path) -> None:
        bad = tmp_path / "bad.mp4"
        bad.write_bytes(b"<html>oops</html>")
        with pytest.raises(VideoDecodeError):
            write_poster_frame(bad, tmp_path / "poster.png")
        assert not (tmp_path / "poster.png").exists()


class TestStitch:
    def test_matching_shots_are_remuxed_and_durations_add_up(
        self, make_video: MakeVideo, tmp_path: Path
    ) -> None:
        shots = [
            make_video("a.mp4", seconds=1.5),
            make_video("b.mp4", seconds=1.0),
            make_video("c.mp4", seconds=2.0),
        ]
        result = stitch_videos(shots, tmp_path / "out.mp4")
        assert result.mode == "remux" and result.reason is None
        assert result.inputs == 3
        assert result.duration_seconds == pytest.approx(4.5, abs=0.01)
        verification = verify_video(result.path, expected_duration=4.5, duration_tolerance=0.05)
        assert verification.probe.frame_count == 12 + 8 + 16
        assert result.has_audio is False

    def test_remux_copies_packets_bit_for_bit(self, make_video: MakeVideo, tmp_path: Path) -> None:
        shots = [make_video("a.mp4", seconds=1.0), make_video("b.mp4", seconds=1.0)]

        def payloads(path: Path) -> list[bytes]:
            with av.open(str(path)) as container:
                return [bytes(p) for p in container.demux(video=0) if p.dts is not None]

        result = stitch_videos(shots, tmp_path / "out.mp4")
        assert payloads(result.path) == payloads(shots[0]) + payloads(shots[1])

    def test_audio_is_kept_when_every_shot_has_it(
        self, make_video: MakeVideo, tmp_path: Path
    ) -> None:
        shots = [make_video("a.mp4", seconds=1.5, audio=True), make_video("b.mp4", audio=True)]
        result = stitch_videos(shots, tmp_path / "out.mp4")
        assert result.mode == "remux" and result.has_audio
        assert result.duration_seconds == pytest.approx(2.5, abs=0.05)
        with av.open(str(result.path)) as container:
            audio = container.streams.audio[0]
            samples = sum(f.samples for f in container.decode(audio))
        # Each AAC shot carries encoder priming/padding (up to one 1024-sample frame at each
        # end) that only the first shot's edit list trims: at most 2 frames per shot extra.
        assert samples / 44100 == pytest.approx(2.5 + 2 * 1024 / 44100, abs=2 * 1024 / 44100)

    def test_audio_is_dropped_when_a_shot_lacks_it(
        self, make_video: MakeVideo, tmp_path: Path
    ) -> None:
        shots = [make_video("a.mp4", audio=True), make_video("b.mp4")]
        result = stitch_videos(shots, tmp_path / "out.mp4")
        assert result.has_audio is False
        assert probe_video(result.path).has_audio is False

    def test_different_sizes_force_a_reencode(self, make_video: MakeVideo, tmp_path: Path) -> None:
        shots = [
            make_video("a.mp4", seconds=1.0, audio=True),
            make_video("big.mp4", seconds=1.5, width=96, height=54, audio=True),
        ]
        result = stitch_videos(shots, tmp_path / "out.mp4")
        assert result.mode == "reencode"
        assert result.reason is not None and "big.mp4" in result.reason
        verification = verify_video(result.path, expected_duration=2.5, duration_tolerance=0.1)
        assert (verification.probe.width, verification.probe.height) == (64, 36)
        assert verification.probe.frame_count == 20
        assert result.has_audio

    def test_force_reencode(self, make_video: MakeVideo, tmp_path: Path) -> None:
        shots = [make_video("a.mp4", seconds=1.0), make_video("b.mp4", seconds=1.0)]
        result = stitch_videos(shots, tmp_path / "out.mp4", force_reencode=True)
        assert result.mode == "reencode" and result.reason == "re-encoding was forced"
        assert result.duration_seconds == pytest.approx(2.0, abs=0.05)

    def test_bad_shot_is_named_and_nothing_is_written(self, video: Path, tmp_path: Path) -> None:
        broken = tmp_path / "broken.mp4"
        broken.write_bytes(b"\0" * 100)
        with pytest.raises(VideoDecodeError, match=r"broken\.mp4"):
            stitch_videos([video, broken], tmp_path / "out.mp4")
        assert not (tmp_path / "out.mp4").exists()

    def test_needs_input(self, tmp_path: Path) -> None:
        with pytest.raises(StitchError, match="at least one"):
            stitch_videos([], tmp_path / "out.mp4")
