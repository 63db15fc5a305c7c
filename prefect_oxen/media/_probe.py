"""Probing and verifying mp4 files with PyAV (FFmpeg): header facts plus a real decode."""

from __future__ import annotations

import math
import os
from pathlib import Path

import av
from pydantic import BaseModel, ConfigDict, Field

from prefect_oxen.media._errors import VideoDecodeError, VideoVerificationError

_MP4_FORMATS = frozenset({"mov", "mp4"})  # FFmpeg's demuxer is "mov,mp4,m4a,3gp,3g2,mj2"
_TAIL_SECONDS = 2.0  # how far before the end to seek when decoding the last frames


class VideoProbe(BaseModel):
    """Facts about a video file read from its container header."""

    model_config = ConfigDict(frozen=True)

    path: Path
    size_bytes: int = Field(ge=0)
    format_name: str = Field(description="FFmpeg demuxer name(s), e.g. 'mov,mp4,m4a,3gp,3g2,mj2'.")
    duration_seconds: float = Field(ge=0)
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    fps: float | None = Field(description="Average frame rate, when the container states one.")
    video_codec: str
    pixel_format: str | None
    has_audio: bool
    audio_codec: str | None
    frame_count: int | None = Field(description="Video frames per the header (None if unknown).")

    @property
    def aspect_ratio(self) -> float:
        """Width / height of the picture."""
        return self.width / self.height


class VideoVerification(BaseModel):
    """A probe plus the checks that passed (verification raises when any fails)."""

    model_config = ConfigDict(frozen=True)

    probe: VideoProbe
    checks: dict[str, bool] = Field(description="Check name -> passed; only checks performed.")
    warnings: tuple[str, ...] = Field(
        default=(), description="Advisory checks that did not pass (the video was accepted)."
    )
    first_frame_seconds: float
    last_frame_seconds: float


def probe_video(path: str | os.PathLike[str]) -> VideoProbe:
    """Read duration, size, frame rate, codecs and audio presence of an mp4 file.

    Args:
        path: The file.

    Returns:
        What the container and its streams say (nothing is decoded).

    Raises:
        VideoDecodeError: The file is missing, empty, or not an mp4 with a video stream.
    """
    path = Path(path)
    size = _file_size(path)
    try:
        with av.open(str(path)) as container:
            if not _MP4_FORMATS & set(container.format.name.split(",")):
                raise _not_mp4(path, f"it is a {container.format.name!r} file, not an mp4")
            if not container.streams.video:
                raise _not_mp4(path, "it has no video stream")
            video = container.streams.video[0]
            audio = container.streams.audio[0] if container.streams.audio else None
            if container.duration is not None:
                duration = container.duration / av.time_base
            elif video.duration is not None and video.time_base is not None:
                duration = float(video.duration * video.time_base)
            else:
                duration = 0.0
            rate = video.average_rate or video.base_rate
            return VideoProbe(
                path=path,
                size_bytes=size,
                format_name=container.format.name,
                duration_seconds=duration,
                width=video.codec_context.width,
                height=video.codec_context.height,
                fps=float(rate) if rate else None,
                video_codec=video.codec_context.name,
                pixel_format=video.codec_context.pix_fmt,
                has_audio=audio is not None,
                audio_codec=audio.codec_context.name if audio is not None else None,
                frame_count=video.frames or None,
            )
    except av.FFmpegError as exc:
        raise _not_mp4(path, f"FFmpeg cannot read it ({exc})") from exc


def verify_video(
    path: str | os.PathLike[str],
    *,
    expected_duration: float | None = None,
    expected_aspect_ratio: str | None = None,
    duration_tolerance: float = 0.5,
    aspect_tolerance: float = 0.02,
    duration_must_match: bool = True,
) -> VideoVerification:
    """Probe the file, decode its first and last frames, and check duration and aspect ratio.

    Args:
        path: The mp4 file.
        expected_duration: Seconds the video should last (None: not checked).
        expected_aspect_ratio: Like ``"16:9"`` (None: not checked).
        duration_tolerance: Allowed duration difference, in seconds.
        aspect_tolerance: Allowed aspect difference, relative (0.02 = 2%).
        duration_must_match: When False a duration mismatch is only a warning (recorded in
            `warnings`, ``checks["duration"]`` False), for videos whose length the API decides.

    Returns:
        The probe, the checks made (and passed) and the advisory warnings.

    Raises:
        VideoDecodeError: The file is unreadable or truncated.
        VideoVerificationError: The duration or aspect ratio is off; lists every mismatch.
    """
    probe = probe_video(path)
    first, last = _decode_ends(probe)
    checks = {"decodes": True}
    problems: list[str] = []
    warnings: list[str] = []
    if expected_duration is not None:
        ok = abs(probe.duration_seconds - expected_duration) <= duration_tolerance
        checks["duration"] = ok
        if not ok:
            (problems if duration_must_match else warnings).append(
                f"duration is {probe.duration_seconds:.2f} s, expected {expected_duration:g} s "
                f"± {duration_tolerance:g} s"
            )
    if expected_aspect_ratio is not None:
        wanted = parse_aspect_ratio(expected_aspect_ratio)
        ok = abs(probe.aspect_ratio / wanted - 1) <= aspect_tolerance
        checks["aspect_ratio"] = ok
        if not ok:
            problems.append(
                f"picture is {probe.width}x{probe.height} (aspect {probe.aspect_ratio:.3f}), "
                f"expected {expected_aspect_ratio} ({wanted:.3f}) ± {aspect_tolerance:.0%}"
            )
    if problems:
        raise VideoVerificationError(
            f"{probe.path} failed verification: {'; '.join(problems)}. The model may have "
            "ignored the requested parameter: check the request (or the tolerances) and "
            "regenerate if the video is unusable.",
            path=probe.path,
            problems=tuple(problems),
        )
    return VideoVerification(
        probe=probe,
        checks=checks,
        warnings=tuple(warnings),
        first_frame_seconds=first,
        last_frame_seconds=last,
    )


def parse_aspect_ratio(value: str) -> float:
    """``"16:9"`` (or ``"16/9"``, ``"1.78"``) -> width / height as a float.

    Args:
        value: The aspect ratio as text.

    Returns:
        Width divided by height.

    Raises:
        ValueError: The text is not a positive, finite ratio.
    """
    text = value.strip().replace("/", ":")
    try:
        if ":" in text:
            w, h = text.split(":")
            ratio = float(w) / float(h)
        else:
            ratio = float(text)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"aspect ratio {value!r} is not like '16:9'") from None
    if not math.isfinite(ratio) or ratio <= 0:
        raise ValueError(f"aspect ratio {value!r} is not like '16:9'")
    return ratio


def _decode_ends(probe: VideoProbe) -> tuple[float, float]:
    """Decode the first frame and the last seconds, checking the file plays to its end."""
    # Headers can be intact while the data is not (a download cut short after a faststart moov),
    # so really decode: the first frame, then everything from the keyframe before the last
    # couple of seconds to the end, and check the last frame reaches the stated duration.
    path = probe.path
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            first_frame = next(container.decode(stream), None)
            if first_frame is None:
                raise _truncated(path, "no video frame could be decoded")
            first = float(first_frame.time or 0.0)
            tail_start = max(0.0, probe.duration_seconds - _TAIL_SECONDS)
            if tail_start > 0 and stream.time_base is not None:
                container.seek(int(tail_start / stream.time_base), stream=stream, backward=True)
            last = first
            frame_seconds = 1 / probe.fps if probe.fps else 0.0
            for frame in container.decode(stream):
                if frame.time is not None:
                    last = max(last, float(frame.time))
    except av.FFmpegError as exc:
        raise _truncated(path, f"decoding failed ({exc})") from exc
    # The last frame starts one frame before the end; allow two frames of slack plus rounding.
    if last + 2 * frame_seconds + 0.05 < probe.duration_seconds:
        raise _truncated(
            path,
            f"its header says {probe.duration_seconds:.2f} s but frames stop at {last:.2f} s",
        )
    return first, last


def _file_size(path: Path) -> int:
    """The file's size, or `VideoDecodeError` when it is missing or empty."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise VideoDecodeError(f"{path} does not exist", path=path) from None
    if size == 0:
        raise VideoDecodeError(
            f"{path} is empty (0 bytes); the download probably failed: download it again",
            path=path,
        )
    return size


def _not_mp4(path: Path, reason: str) -> VideoDecodeError:
    """The error for a file that is not a playable mp4, naming what it looks like."""
    hint = _sniff(path)
    return VideoDecodeError(
        f"{path} is not a playable mp4: {reason}.{hint} Download or generate it again; if this "
        "keeps happening, keep the file and report it.",
        path=path,
    )


def _truncated(path: Path, reason: str) -> VideoDecodeError:
    """The error for an mp4 cut short or damaged."""
    return VideoDecodeError(
        f"{path} is damaged or truncated: {reason}. Download it again (the first download was "
        "probably cut short).",
        path=path,
    )


def _sniff(path: Path) -> str:
    """A hint when the file looks like an HTML, XML or JSON page instead of a video."""
    # Name the common culprit: an HTML or JSON error page saved under the video's name.
    try:
        with open(path, "rb") as f:
            head = f.read(256).lstrip().lower()
    except OSError:
        return ""
    if head.startswith((b"<!doctype html", b"<html", b"<?xml", b"<")):
        return " It starts like an HTML/XML page (an error page saved as .mp4?)."
    if head.startswith((b"{", b"[")):
        return " It starts like JSON (an API error body saved as .mp4?)."
    return ""


__all__ = ["VideoProbe", "VideoVerification", "parse_aspect_ratio", "probe_video", "verify_video"]
