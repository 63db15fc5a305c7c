"""Errors raised by the media package; each message says what was expected and what to do."""

from __future__ import annotations

from pathlib import Path


class MediaError(Exception):
    """Base class for every error raised by `prefect_oxen.media`."""


class VideoVerificationError(MediaError):
    """A video file is not a decodable mp4, or does not match the requested duration/aspect."""

    def __init__(self, message: str, *, path: str | Path, problems: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.path = Path(path)
        self.problems = problems or (message,)


class VideoQuarantined(VideoVerificationError):
    """A paid video failed verification and was kept aside (quarantined), not deleted.

    `path` is where the video now is and `reason_path` the JSON next to it saying why.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | Path,
        reason_path: str | Path,
        problems: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message, path=path, problems=problems)
        self.reason_path = Path(reason_path)


class VideoDecodeError(VideoVerificationError):
    """The file cannot be opened or fully decoded as an mp4 video (corrupt, truncated, not video)."""


class StitchError(MediaError):
    """Shots could not be concatenated into one video."""


class Base64StreamError(MediaError, ValueError):
    """A JSON response body carrying a base64 video is malformed or truncated."""

    def __init__(self, message: str, *, offset: int) -> None:
        super().__init__(f"{message} (at byte {offset} of the response body)")
        self.offset = offset
