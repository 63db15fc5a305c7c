"""Video files: probing and verification, quarantine, poster frames, stitching, streaming base64
extraction."""

from prefect_oxen.media._b64_stream import (
    Base64Extraction,
    Base64Metadata,
    Base64VideoExtractor,
    aextract_b64_video,
    extract_b64_video,
)
from prefect_oxen.media._errors import (
    Base64StreamError,
    MediaError,
    StitchError,
    VideoDecodeError,
    VideoQuarantined,
    VideoVerificationError,
)
from prefect_oxen.media._poster import write_poster_frame
from prefect_oxen.media._probe import (
    VideoProbe,
    VideoVerification,
    parse_aspect_ratio,
    probe_video,
    verify_video,
)
from prefect_oxen.media._quarantine import QuarantinedVideo, quarantine_video
from prefect_oxen.media._stitch import StitchResult, stitch_videos

__all__ = [
    "Base64Extraction",
    "Base64Metadata",
    "Base64StreamError",
    "Base64VideoExtractor",
    "MediaError",
    "QuarantinedVideo",
    "StitchError",
    "StitchResult",
    "VideoDecodeError",
    "VideoProbe",
    "VideoQuarantined",
    "VideoVerification",
    "VideoVerificationError",
    "aextract_b64_video",
    "extract_b64_video",
    "parse_aspect_ratio",
    "probe_video",
    "quarantine_video",
    "stitch_videos",
    "verify_video",
    "write_poster_frame",
]
