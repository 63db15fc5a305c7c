"""Video files: probing and verification, poster frames, stitching, streaming base64 extraction.

A leaf package: it imports nothing from Prefect or the rest of prefect_oxen.
"""

from prefect_oxen.media.b64_stream import (
    Base64Extraction,
    Base64Metadata,
    Base64VideoExtractor,
    aextract_b64_video,
    extract_b64_video,
)
from prefect_oxen.media.errors import (
    Base64StreamError,
    MediaError,
    StitchError,
    VideoDecodeError,
    VideoVerificationError,
)
from prefect_oxen.media.poster import write_poster_frame
from prefect_oxen.media.probe import (
    VideoProbe,
    VideoVerification,
    parse_aspect_ratio,
    probe_video,
    verify_video,
)
from prefect_oxen.media.stitch import StitchResult, stitch_videos

__all__ = [
    "Base64Extraction",
    "Base64Metadata",
    "Base64StreamError",
    "Base64VideoExtractor",
    "MediaError",
    "StitchError",
    "StitchResult",
    "VideoDecodeError",
    "VideoProbe",
    "VideoVerification",
    "VideoVerificationError",
    "aextract_b64_video",
    "extract_b64_video",
    "parse_aspect_ratio",
    "probe_video",
    "stitch_videos",
    "verify_video",
    "write_poster_frame",
]
