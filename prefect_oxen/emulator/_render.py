"""Deterministic rendering of small but real H.264/AAC mp4 videos and PNG images with PyAV."""

from __future__ import annotations

import hashlib
import io
import json
import math
from array import array
from dataclasses import dataclass
from fractions import Fraction

import av

FPS = 8
LONGEST_SIDE = 128
AUDIO_RATE = 16_000
_AUDIO_FRAME = 1024


@dataclass(frozen=True)
class Shot:
    """One segment of a video: its prompt and length in whole seconds."""

    prompt: str
    duration: int


@dataclass(frozen=True)
class VideoSpec:
    """Everything that determines a rendered video's bytes."""

    model: str
    shots: tuple[Shot, ...]
    aspect_ratio: str
    seed: int | None
    generate_audio: bool

    @property
    def duration(self) -> int:
        """Total length in seconds (the sum of the shots)."""
        return sum(shot.duration for shot in self.shots)

    def cache_key(self) -> str:
        """A stable digest of the spec, used to share one encode between identical requests."""
        payload = {
            "model": self.model,
            "shots": [[shot.prompt, shot.duration] for shot in self.shots],
            "aspect_ratio": self.aspect_ratio,
            "seed": self.seed,
            "audio": self.generate_audio,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    def shape(self) -> VideoSpec:
        """This spec with everything but its shape dropped (shot lengths, aspect ratio, audio).

        Returns:
            The spec every request of the same shape renders to when renders are reused, so a
            load test encodes once per shape instead of once per prompt.
        """
        return VideoSpec(
            model="",
            shots=tuple(Shot("", shot.duration) for shot in self.shots),
            aspect_ratio=self.aspect_ratio,
            seed=None,
            generate_audio=self.generate_audio,
        )


@dataclass(frozen=True)
class ImageSpec:
    """Everything that determines a rendered image's bytes."""

    model: str
    prompt: str
    aspect_ratio: str
    seed: int | None

    def cache_key(self) -> str:
        """A stable digest of the spec."""
        payload = [self.model, self.prompt, self.aspect_ratio, self.seed]
        return hashlib.sha256(json.dumps(payload).encode()).hexdigest()


def frame_size(aspect_ratio: str) -> tuple[int, int]:
    """Width and height for `aspect_ratio` ("W:H"): longest side 128 px, both even."""
    try:
        w_ratio, h_ratio = (float(part) for part in aspect_ratio.split(":"))
    except ValueError:
        w_ratio, h_ratio = 16.0, 9.0
    if w_ratio <= 0 or h_ratio <= 0:
        w_ratio, h_ratio = 16.0, 9.0
    scale = LONGEST_SIDE / max(w_ratio, h_ratio)

    def even(value: float) -> int:
        # yuv420p needs even dimensions; never go below 2 px.
        return max(2, round(value / 2) * 2)

    return even(w_ratio * scale), even(h_ratio * scale)


def _palette(*parts: object) -> tuple[int, int, int]:
    """A deterministic YUV colour derived from `parts`."""
    digest = hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).digest()
    # Keep luma mid-range so the moving bar stays visible against the background.
    return 48 + digest[0] % 128, 64 + digest[1] % 128, 64 + digest[2] % 128


def _plane_bytes(width: int, height: int, line_size: int, row: bytes) -> bytes:
    """One image plane of `height` identical rows, padded to the line size."""
    padded = row + bytes(line_size - width)
    return padded * height


def render_video(spec: VideoSpec) -> bytes:
    """Encode `spec` as an mp4: one solid colour per shot with a moving bar, optional AAC tone."""
    width, height = frame_size(spec.aspect_ratio)
    out = io.BytesIO()
    # bitexact keeps library version strings and timestamps out of the file, so identical
    # specs give identical bytes.
    with av.open(
        out, mode="w", format="mp4", container_options={"fflags": "+bitexact"}
    ) as container:
        video = container.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.codec_context.thread_count = 1  # multi-threaded x264 is not bit-reproducible
        video.codec_context.options = {"preset": "ultrafast", "flags": "+bitexact"}
        audio = None
        if spec.generate_audio:
            audio = container.add_stream("aac", rate=AUDIO_RATE, layout="mono")
            audio.codec_context.options = {"flags": "+bitexact"}
        pts = 0
        bar = max(2, width // 8)
        for index, shot in enumerate(spec.shots):
            y, u, v = _palette(spec.model, shot.prompt, spec.seed, index)
            for step in range(shot.duration * FPS):
                frame = av.VideoFrame(width, height, "yuv420p")
                x = (step * 4) % width
                row = bytearray([y]) * width
                row[x : x + bar] = bytes([235]) * len(row[x : x + bar])
                planes = frame.planes
                planes[0].update(_plane_bytes(width, height, planes[0].line_size, bytes(row)))
                cw, ch = width // 2, height // 2
                planes[1].update(_plane_bytes(cw, ch, planes[1].line_size, bytes([u]) * cw))
                planes[2].update(_plane_bytes(cw, ch, planes[2].line_size, bytes([v]) * cw))
                frame.pts = pts  # in 1/FPS, the encoder's default time base
                pts += 1
                container.mux(video.encode(frame))
        container.mux(video.encode(None))
        if audio is not None:
            _encode_tone(container, audio, spec)
    return out.getvalue()


def _encode_tone(
    container: av.container.OutputContainer, stream: av.AudioStream, spec: VideoSpec
) -> None:
    """Encode a constant AAC tone as long as the video into `stream`."""
    total = spec.duration * AUDIO_RATE
    # A pitch with a whole number of periods per frame makes every frame identical, so one
    # buffer is computed once instead of a sine per sample.
    periods = 14 + int(spec.cache_key()[:4], 16) % 28
    tone = array(
        "f",
        (0.2 * math.sin(2 * math.pi * periods * i / _AUDIO_FRAME) for i in range(_AUDIO_FRAME)),
    ).tobytes()
    done = 0
    while done < total:
        count = min(_AUDIO_FRAME, total - done)
        frame = av.AudioFrame(format="fltp", layout="mono", samples=count)
        plane = frame.planes[0]
        plane.update(tone[: count * 4] + bytes(plane.buffer_size - count * 4))
        frame.sample_rate = AUDIO_RATE
        frame.pts = done
        frame.time_base = Fraction(1, AUDIO_RATE)
        done += count
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))


def render_image(spec: ImageSpec) -> bytes:
    """Encode `spec` as a PNG: a solid colour with a diagonal stripe."""
    width, height = frame_size(spec.aspect_ratio)
    r, g, b = _palette(spec.model, spec.prompt, spec.seed)
    frame = av.VideoFrame(width, height, "rgb24")
    plane = frame.planes[0]
    rows = bytearray()
    for line in range(height):
        row = bytearray(bytes([r, g, b]) * width)
        col = (line * width // height) * 3
        row[col : col + 6] = b"\xff" * len(row[col : col + 6])
        rows += row + bytes(plane.line_size - width * 3)
    plane.update(bytes(rows))
    codec = av.CodecContext.create("png", "w")
    codec.width, codec.height, codec.pix_fmt = width, height, "rgb24"
    codec.options = {"flags": "+bitexact"}
    data = b"".join(bytes(packet) for packet in codec.encode(frame))
    data += b"".join(bytes(packet) for packet in codec.encode(None))
    return data


def free_box_header(size: int) -> bytes:
    """The header of an mp4 `free` box whose total size (header included) is `size` bytes."""
    if size < 2**32:
        return size.to_bytes(4, "big") + b"free"
    # Boxes over 4 GiB use size=1 and a 64-bit "largesize" after the type.
    return (1).to_bytes(4, "big") + b"free" + size.to_bytes(8, "big")
