"""Real (tiny) mp4 files made with PyAV, for probing, verifying and stitching."""

from __future__ import annotations

import array
import fractions
import math
from collections.abc import Callable
from pathlib import Path

import av
import pytest

MakeVideo = Callable[..., Path]


def write_video(
    path: Path,
    *,
    seconds: float = 1.0,
    width: int = 64,
    height: int = 36,
    fps: int = 8,
    audio: bool = False,
    codec: str = "libx264",
) -> Path:
    """Encode a moving gradient (and a 440 Hz tone when `audio`) into an mp4 at `path`."""
    with av.open(str(path), "w", format="mp4") as container:
        video = container.add_stream(codec, rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        if codec == "libx264":
            video.options = {"preset": "ultrafast", "bf": "0"}
        sound = container.add_stream("aac", rate=44100) if audio else None
        if sound is not None:
            sound.layout = "mono"
        n_frames = round(seconds * fps)
        for i in range(n_frames):
            frame = av.VideoFrame(width, height, "rgb24")
            plane = frame.planes[0]
            bar = (i * 3) % width
            row = bytes([255, 255, 255]) * bar + bytes([(i * 20) % 256] * 3) * (width - bar)
            plane.update((row + bytes(plane.line_size - len(row))) * height)
            frame.pts = i
            frame.time_base = fractions.Fraction(1, fps)
            container.mux(video.encode(frame))
        container.mux(video.encode())
        if sound is not None:
            rate, block = 44100, 1024
            total = round(seconds * rate)
            for start in range(0, total, block):
                count = min(block, total - start)
                tone = [
                    round(6000 * math.sin(2 * math.pi * 440 * (start + k) / rate))
                    for k in range(count)
                ]
                samples = av.AudioFrame(format="s16", layout="mono", samples=count)
                samples.planes[0].update(
                    array.array("h", tone).tobytes().ljust(samples.planes[0].buffer_size, b"\0")
                )
                samples.sample_rate, samples.pts = rate, start
                samples.time_base = fractions.Fraction(1, rate)
                container.mux(sound.encode(samples))
            container.mux(sound.encode())
    return path


@pytest.fixture
def make_video(tmp_path: Path) -> MakeVideo:
    """Factory: ``make_video("name.mp4", seconds=1.5, audio=True)`` -> path of a real mp4."""

    def make(name: str = "clip.mp4", **options: object) -> Path:
        return write_video(tmp_path / name, **options)  # type: ignore[arg-type]

    return make


@pytest.fixture
def video(make_video: MakeVideo) -> Path:
    """A 2 s, 64x36 (16:9), 8 fps H.264 mp4 without audio."""
    return make_video("video.mp4", seconds=2.0)


@pytest.fixture
def video_with_audio(make_video: MakeVideo) -> Path:
    """A 1.5 s, 64x36, 8 fps H.264 mp4 with a mono AAC track."""
    return make_video("with-audio.mp4", seconds=1.5, audio=True)
