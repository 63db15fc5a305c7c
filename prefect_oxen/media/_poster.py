"""Poster frames (thumbnails) for videos, as PNG."""

from __future__ import annotations

import os
from pathlib import Path

import av

from prefect_oxen._files import atomic_write
from prefect_oxen.media._errors import VideoDecodeError
from prefect_oxen.media._probe import probe_video


def write_poster_frame(
    video_path: str | os.PathLike[str],
    png_path: str | os.PathLike[str],
    *,
    at_seconds: float | None = None,
) -> Path:
    """Write the frame shown at `at_seconds` (default: the middle) as a PNG, atomically.

    Times past the end give the last frame. Encoded with FFmpeg's PNG encoder, so no imaging
    library is needed.

    Args:
        video_path: The mp4 file.
        png_path: The PNG to write.
        at_seconds: Time of the frame (clamped to the video's length); None for the middle.

    Returns:
        `png_path` as a `Path`.

    Raises:
        VideoDecodeError: The video cannot be read or has no decodable frame there.
    """
    probe = probe_video(video_path)
    target = probe.duration_seconds / 2 if at_seconds is None else at_seconds
    target = min(max(target, 0.0), probe.duration_seconds)
    try:
        with av.open(str(video_path)) as container:
            stream = container.streams.video[0]
            if target > 0 and stream.time_base is not None:
                container.seek(int(target / stream.time_base), stream=stream, backward=True)
            chosen = None
            for frame in container.decode(stream):
                if chosen is not None and (frame.time or 0.0) > target:
                    break  # the previous frame is the one on screen at `target`
                chosen = frame
            if chosen is None:
                raise VideoDecodeError(
                    f"{video_path} has no decodable frame at {target:.2f} s; verify the video "
                    "(verify_video) and download it again",
                    path=Path(video_path),
                )
            png = _encode_png(chosen)
    except av.FFmpegError as exc:
        raise VideoDecodeError(
            f"cannot decode {video_path} for a poster frame ({exc}); download it again",
            path=Path(video_path),
        ) from exc
    with atomic_write(png_path) as f:
        f.write(png)
    return Path(png_path)


def _encode_png(frame: av.VideoFrame) -> bytes:
    """One decoded frame as PNG bytes."""
    codec = av.CodecContext.create("png", "w")
    codec.width, codec.height, codec.pix_fmt = frame.width, frame.height, "rgb24"
    rgb = frame.reformat(format="rgb24")
    rgb.pts = None
    return b"".join(bytes(packet) for packet in [*codec.encode(rgb), *codec.encode(None)])
