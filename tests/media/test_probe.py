"""probe_video / verify_video: real facts from real files, clear rejection of bad ones."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from prefect_oxen.media import (
    MediaError,
    VideoDecodeError,
    VideoVerificationError,
    parse_aspect_ratio,
    probe_video,
    verify_video,
)

from .conftest import MakeVideo


def faststart_copy(source: Path, target: Path) -> Path:
    """Remux with the moov atom first, as streaming servers deliver mp4s."""
    with (
        av.open(str(source)) as src,
        av.open(str(target), "w", format="mp4", options={"movflags": "faststart"}) as dst,
    ):
        streams = {s.index: dst.add_stream_from_template(s) for s in src.streams}
        for packet in src.demux():
            if packet.dts is not None:
                packet.stream = streams[packet.stream.index]
                dst.mux(packet)
    return target


class TestProbe:
    def test_reads_header_facts(self, video: Path) -> None:
        probe = probe_video(video)
        assert (probe.width, probe.height) == (64, 36)
        assert probe.duration_seconds == pytest.approx(2.0, abs=0.01)
        assert probe.fps == pytest.approx(8.0)
        assert probe.video_codec == "h264"
        assert probe.has_audio is False and probe.audio_codec is None
        assert probe.frame_count == 16
        assert probe.size_bytes == video.stat().st_size
        assert probe.aspect_ratio == pytest.approx(16 / 9)

    def test_detects_audio(self, video_with_audio: Path) -> None:
        probe = probe_video(video_with_audio)
        assert probe.has_audio and probe.audio_codec == "aac"
        assert probe.duration_seconds == pytest.approx(1.5, abs=0.05)


class TestVerifyAccepts:
    def test_good_video_passes_all_checks(self, video: Path) -> None:
        result = verify_video(video, expected_duration=2, expected_aspect_ratio="16:9")
        assert result.checks == {"decodes": True, "duration": True, "aspect_ratio": True}
        assert result.first_frame_seconds == 0.0
        assert result.last_frame_seconds == pytest.approx(1.875)  # frame 16 of 8 fps

    def test_only_requested_checks_are_reported(self, video: Path) -> None:
        assert verify_video(video).checks == {"decodes": True}

    def test_faststart_video_passes(self, video: Path, tmp_path: Path) -> None:
        fast = faststart_copy(video, tmp_path / "fast.mp4")
        assert verify_video(fast, expected_duration=2).checks["duration"]


class TestVerifyRejectsBadFiles:
    @pytest.mark.parametrize(
        ("content", "hint"),
        [
            (b"<!DOCTYPE html><html><body>502 Bad Gateway</body></html>", "HTML"),
            (b'{"error": {"message": "Insufficient credits"}}', "JSON"),
            (bytes(range(256)) * 40, "FFmpeg cannot read it"),
        ],
        ids=["html-error-page", "json-error-body", "random-bytes"],
    )
    def test_not_an_mp4(self, tmp_path: Path, content: bytes, hint: str) -> None:
        path = tmp_path / "video.mp4"
        path.write_bytes(content)
        with pytest.raises(VideoDecodeError, match="not a playable mp4") as info:
            verify_video(path)
        assert hint in str(info.value)
        assert "again" in str(info.value)  # says what to do
        assert info.value.path == path

    def test_empty_file(self, tmp_path: Path) -> None:
        path = tmp_path / "empty.mp4"
        path.write_bytes(b"")
        with pytest.raises(VideoDecodeError, match="empty"):
            verify_video(path)

    def test_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(VideoDecodeError, match="does not exist"):
            probe_video(tmp_path / "nope.mp4")

    def test_truncated_plain_mp4(self, video: Path) -> None:
        data = video.read_bytes()
        video.write_bytes(data[: len(data) // 2])  # the moov atom at the end is lost
        with pytest.raises(VideoDecodeError):
            verify_video(video)

    @pytest.mark.parametrize("fraction", [0.5, 0.8, 0.95])
    def test_truncated_faststart_mp4_is_caught_by_decoding(
        self, video: Path, tmp_path: Path, fraction: float
    ) -> None:
        fast = faststart_copy(video, tmp_path / "fast.mp4")
        data = fast.read_bytes()
        fast.write_bytes(data[: int(len(data) * fraction)])
        probe_video(fast)  # the header alone still looks fine...
        with pytest.raises(VideoDecodeError, match="damaged or truncated"):
            verify_video(fast)  # ...but the frames stop early

    def test_not_mp4_container(self, tmp_path: Path) -> None:
        path = tmp_path / "clip.mkv"
        with av.open(str(path), "w", format="matroska") as out:
            stream = out.add_stream("mpeg4", rate=8)
            stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
            frame = av.VideoFrame(32, 32, "yuv420p")
            frame.pts = 0
            out.mux(stream.encode(frame))
            out.mux(stream.encode(None))
        with pytest.raises(VideoDecodeError, match="matroska"):
            verify_video(path)


class TestVerifyRejectsMismatches:
    def test_duration_mismatch(self, video: Path) -> None:
        with pytest.raises(VideoVerificationError) as info:
            verify_video(video, expected_duration=5)
        message = str(info.value)
        assert "duration is 2.00 s, expected 5 s" in message
        assert "regenerate" in message
        assert not isinstance(info.value, VideoDecodeError)
        assert isinstance(info.value, MediaError)

    def test_duration_within_tolerance(self, video: Path) -> None:
        assert verify_video(video, expected_duration=2.4, duration_tolerance=0.5).checks["duration"]

    def test_aspect_mismatch_lists_every_problem(self, video: Path) -> None:
        with pytest.raises(VideoVerificationError) as info:
            verify_video(video, expected_duration=10, expected_aspect_ratio="9:16")
        assert len(info.value.problems) == 2
        assert "64x36" in info.value.problems[1] and "9:16" in info.value.problems[1]

    def test_square_video_is_not_16_9(self, make_video: MakeVideo) -> None:
        square = make_video("square.mp4", width=48, height=48, seconds=1)
        assert verify_video(square, expected_aspect_ratio="1:1").checks["aspect_ratio"]
        with pytest.raises(VideoVerificationError, match="16:9"):
            verify_video(square, expected_aspect_ratio="16:9")


@pytest.mark.parametrize(
    ("text", "ratio"), [("16:9", 16 / 9), ("9/16", 9 / 16), ("1:1", 1.0), ("2.35", 2.35)]
)
def test_parse_aspect_ratio(text: str, ratio: float) -> None:
    assert parse_aspect_ratio(text) == pytest.approx(ratio)


@pytest.mark.parametrize("text", ["wide", "16:0", "0:9", "-1", "1:2:3"])
def test_parse_aspect_ratio_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="not like '16:9'"):
        parse_aspect_ratio(text)
