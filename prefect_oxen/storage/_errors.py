"""Errors raised by the storage package; each message says what to do next."""

from __future__ import annotations


class StorageError(Exception):
    """Base class for every error raised by `prefect_oxen.storage`."""


class InvalidObjectKey(StorageError, ValueError):
    """An object key or key template is unsafe (escapes its prefix) or cannot be rendered."""

    def __init__(self, message: str, *, key_or_template: str) -> None:
        super().__init__(message)
        self.key_or_template = key_or_template


class InvalidItemId(StorageError, ValueError):
    """An item id (``--id``, a batch line's ``id``) that cannot name files and object keys."""

    def __init__(self, message: str, *, item_id: str) -> None:
        super().__init__(message)
        self.item_id = item_id


class ArchiveConflict(StorageError):
    """Different content already exists at the key an archive was asked to write."""

    def __init__(self, *, uri: str, existing_sha256: str | None, new_sha256: str) -> None:
        super().__init__(
            f"{uri} already holds different content (sha256 {existing_sha256 or 'unknown'}, "
            f"new {new_sha256}). Use a key that includes the generation id or request hash, "
            "or pass overwrite=True to replace it."
        )
        self.uri = uri
        self.existing_sha256 = existing_sha256
        self.new_sha256 = new_sha256


class ChecksumMismatch(StorageError):
    """The bytes stored (or copied) do not hash to the checksum computed locally."""

    def __init__(self, *, uri: str, expected: str, found: str, detail: str = "") -> None:
        super().__init__(
            f"checksum mismatch for {uri}: expected {expected}, found {found}"
            + (f" ({detail})" if detail else "")
            + ". The stored copy is not trustworthy: check that the local file was not modified "
            "during the upload and that the precomputed sha256 is right, then retry with "
            "overwrite=True."
        )
        self.uri = uri
        self.expected = expected
        self.found = found


class InvalidS3Uri(StorageError, ValueError):
    """A string that should be ``s3://bucket/key`` is not."""

    def __init__(self, uri: str, problem: str) -> None:
        super().__init__(f"{uri!r} is not an S3 URI ({problem}); expected s3://bucket/key")
        self.uri = uri


class ArchiveUnavailable(StorageError):
    """The archive destination cannot take videos (unwritable, no credentials, no such bucket).

    Raised by the preflight check, before anything is paid for.
    """

    def __init__(self, message: str, *, destination: str) -> None:
        super().__init__(message)
        self.destination = destination


class UnsupportedArchive(ArchiveUnavailable, ValueError):
    """An archive destination written as a URI whose scheme this package does not archive to
    (``gs://``, ``oxen://``, a mistyped ``s3:/``): refused, never taken as a local directory."""
