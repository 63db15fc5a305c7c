"""Concatenating shots into one mp4: remux when the streams allow it, re-encode otherwise."""

from __future__ import annotations

import os
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import av
from pydantic import BaseModel, ConfigDict, Field

from prefect_oxen._files import atomic_output
from prefect_oxen.media._errors import StitchError
from prefect_oxen.media._probe import probe_video

_OUT_TIME_BASE = Fraction(1, 90000)  # the MPEG clock: exact for every common frame rate


class StitchResult(BaseModel):
    """The stitched file and how it was made."""

    model_config = ConfigDict(frozen=True)

    path: Path
    mode: Literal["remux", "reencode"] = Field(description="remux copies packets untouched.")
    reason: str | None = Field(description="Why re-encoding was needed (None for remux).")
    inputs: int
    duration_seconds: float = Field(description="Duration of the output, from its header.")
    has_audio: bool = Field(description="Audio is kept only when every input has audio.")


def stitch_videos(
    paths: Sequence[str | os.PathLike[str]],
    out_path: str | os.PathLike[str],
    *,
    force_reencode: bool = False,
) -> StitchResult:
    """Concatenate `paths` in order into `out_path` (atomically), one shot after another.

    Packets are copied without re-encoding when every input has the same codecs, sizes, time
    bases and codec parameters; otherwise all shots are re-encoded to H.264/AAC at the first
    shot's size and frame rate. Audio is kept only if every input has an audio track.

    Args:
        paths: The shots, in order.
        out_path: The mp4 to write.
        force_reencode: Re-encode even when the packets could be copied.

    Returns:
        The output's path, how it was made (and why), its duration and whether it has audio.

    Raises:
        StitchError: No input, or FFmpeg failed to join them.
        VideoDecodeError: An input is not a readable mp4.
    """
    if not paths:
        raise StitchError("stitch_videos needs at least one input video")
    sources = [Path(p) for p in paths]
    probes = [probe_video(p) for p in sources]  # raises VideoDecodeError naming the bad shot
    keep_audio = all(p.has_audio for p in probes)
    reason = "re-encoding was forced" if force_reencode else _remux_blocker(sources, keep_audio)
    try:
        with atomic_output(out_path) as tmp:
            if reason is None:
                _remux(sources, tmp, keep_audio)
            else:
                _reencode(sources, tmp, keep_audio)
    except av.FFmpegError as exc:
        raise StitchError(
            f"stitching {len(sources)} videos into {out_path} failed ({exc}); verify each input "
            "with verify_video, or pass force_reencode=True"
        ) from exc
    out = probe_video(out_path)
    return StitchResult(
        path=Path(out_path),
        mode="remux" if reason is None else "reencode",
        reason=reason,
        inputs=len(sources),
        duration_seconds=out.duration_seconds,
        has_audio=out.has_audio,
    )


def _stream_signature(stream: Any) -> tuple[Any, ...]:
    """What a decoder configures itself from for `stream`: codec, timing, dimensions."""
    # Everything a decoder configures itself from once per file: if any differs between shots,
    # packets from the later shots would be decoded with the first shot's parameters.
    cc = stream.codec_context
    common = (stream.type, cc.name, stream.time_base, bytes(cc.extradata or b""))
    if stream.type == "video":
        return (*common, cc.width, cc.height, cc.pix_fmt)
    return (*common, cc.sample_rate, cc.layout.name, cc.format.name if cc.format else None)


def _remux_blocker(sources: list[Path], keep_audio: bool) -> str | None:
    """Why the shots cannot be joined without re-encoding, or None when they can."""
    signatures = []
    for path in sources:
        with av.open(str(path)) as container:
            streams = [container.streams.video[0]]
            if keep_audio:
                streams.append(container.streams.audio[0])
            signatures.append(tuple(_stream_signature(s) for s in streams))
    for path, signature in zip(sources[1:], signatures[1:], strict=True):
        if signature != signatures[0]:
            return (
                f"{path.name} differs from {sources[0].name} in codec, size, time base or codec "
                "parameters, so its packets cannot be copied"
            )
    return None


def _remux(sources: list[Path], out: Path, keep_audio: bool) -> None:
    """Join the shots' packets into `out` without re-encoding, timestamps made continuous."""
    with av.open(str(out), "w", format="mp4") as output:
        out_streams: list[Any] = []
        # Per output stream: where the next shot starts, and the last dts written.
        cursor: list[int] = []
        last_dts: list[int | None] = []
        for path in sources:
            with av.open(str(path)) as container:
                inputs = [container.streams.video[0]]
                if keep_audio:
                    inputs.append(container.streams.audio[0])
                if not out_streams:
                    out_streams = [output.add_stream_from_template(s) for s in inputs]
                    cursor, last_dts = [0] * len(inputs), [None] * len(inputs)
                shift = [c - (s.start_time or 0) for c, s in zip(cursor, inputs, strict=True)]
                ends = list(cursor)
                slot = {s.index: i for i, s in enumerate(inputs)}
                for packet in container.demux(inputs):
                    if packet.dts is None:  # the demuxer's end-of-stream flush packet
                        continue
                    i = slot[packet.stream.index]
                    pts = (packet.pts if packet.pts is not None else packet.dts) + shift[i]
                    dts = packet.dts + shift[i]
                    # Encoder priming (e.g. AAC's first 1024 samples) starts before zero and
                    # would overlap the previous shot: keep dts strictly increasing.
                    previous = last_dts[i]
                    if previous is not None and dts <= previous:
                        dts = previous + 1
                    packet.pts, packet.dts = max(pts, dts), dts
                    last_dts[i] = dts
                    ends[i] = max(ends[i], pts + (packet.duration or 0))
                    packet.stream = out_streams[i]
                    output.mux(packet)
                cursor = ends


def _reencode(sources: list[Path], out: Path, keep_audio: bool) -> None:
    """Decode every shot and encode them into `out` as one H.264 (and AAC) stream."""
    first = probe_video(sources[0])
    fps = Fraction(first.fps or 25).limit_denominator(1001)
    width, height = first.width - first.width % 2, first.height - first.height % 2  # yuv420p
    with av.open(str(out), "w", format="mp4") as output:
        video = output.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.time_base = _OUT_TIME_BASE
        video.codec_context.time_base = _OUT_TIME_BASE
        video.options = {"preset": "veryfast", "crf": "18"}
        audio = None
        resampler = None
        if keep_audio:
            with av.open(str(sources[0])) as container:
                template = container.streams.audio[0].codec_context
                rate, layout = template.sample_rate, template.layout.name
            audio = output.add_stream("aac", rate=rate)
            audio.layout = layout
            resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
        offset = 0.0  # start of the current shot in the output, seconds
        last_pts = -1
        next_sample = 0
        for path in sources:
            shot = probe_video(path)
            with av.open(str(path)) as container:
                start = (container.start_time or 0) / av.time_base
                for frame in container.decode(container.streams.video[0]):
                    t = offset + float(frame.time or 0.0) - start
                    pts = max(round(t / _OUT_TIME_BASE), last_pts + 1)
                    scaled = frame.reformat(width=width, height=height, format="yuv420p")
                    scaled.pts, scaled.time_base, last_pts = pts, _OUT_TIME_BASE, pts
                    output.mux(video.encode(scaled))
            if audio is not None and resampler is not None:
                # Start each shot's sound with its picture; a small gap beats drifting out of sync.
                next_sample = max(next_sample, round(offset * audio.rate))
                with av.open(str(path)) as container:
                    for frame in container.decode(container.streams.audio[0]):
                        for chunk in resampler.resample(frame):
                            chunk.pts, chunk.time_base = next_sample, Fraction(1, audio.rate)
                            next_sample += chunk.samples
                            output.mux(audio.encode(chunk))
            offset += shot.duration_seconds
        output.mux(video.encode(None))
        if audio is not None:
            output.mux(audio.encode(None))
