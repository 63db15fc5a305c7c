"""Checking an archive destination before anything is paid for.

A video is paid for minutes before it is archived, so a destination that cannot take it (a
read-only directory, missing AWS credentials, a misspelt bucket) must be found first. The checks
do what the archive will do, cheaply: a local directory gets a real write (permission bits say
nothing for root or on network filesystems), an S3 bucket one ``HeadBucket`` call, which needs
the credentials to resolve and the bucket to exist and be readable, as archiving does.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
)

from prefect_oxen.storage._errors import ArchiveUnavailable, UnsupportedArchive
from prefect_oxen.storage._s3 import default_s3_client, parse_s3_prefix

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = [
    "ARCHIVE_SCHEMES",
    "acheck_destination",
    "archive_scheme",
    "check_destination",
    "check_local_directory",
    "check_s3_bucket",
]

#: The URI schemes an archive destination may be written in; anything else is a local directory
#: path. The one list every check reads (the CLI's ``--archive``, the flows' ``archive``): a
#: scheme added here must also be opened by `prefect_oxen.engine.open_archive` and checked by
#: `check_destination`.
ARCHIVE_SCHEMES: tuple[str, ...] = ("s3", "oxen")

# "name:/" or "name://" at the start: a URI, not a path. Two characters at least, so a Windows
# drive ("C:/videos") stays a path; "./gs:/x" is how to name a local folder that looks like one.
_URI_LIKE = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]+):(?P<slashes>/+)(?P<rest>.*)", re.S)

_MISSING_BUCKET = frozenset({"404", "NoSuchBucket", "NotFound"})
_DENIED = frozenset({"403", "AccessDenied", "Forbidden", "AllAccessDisabled"})
_BAD_CREDENTIALS = frozenset({"InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken"})


def check_destination(destination: Any) -> None:
    """Raise `ArchiveUnavailable` unless `destination` can take videos now.

    Args:
        destination: A local directory (created if missing), an ``s3://bucket/prefix`` URI
            (credentials from boto3's usual chain), a prefect-aws ``S3Bucket`` block or an
            ``oxen://`` repository (checked by the engine, which has the API client).

    Raises:
        ArchiveUnavailable: The destination cannot take videos; the message says why
            (`UnsupportedArchive`: a URI whose scheme is not in `ARCHIVE_SCHEMES`).
        InvalidS3Uri: An ``s3://`` destination without a bucket.
    """
    if hasattr(destination, "bucket_name") and hasattr(destination, "credentials"):
        # A prefect-aws S3Bucket (duck-typed: this package does not import Prefect).
        folder = (getattr(destination, "bucket_folder", "") or "").strip("/")
        uri = f"s3://{destination.bucket_name}/{folder}".rstrip("/")
        try:
            client = destination.credentials.get_s3_client()
        except (BotoCoreError, ValueError) as exc:
            raise _no_credentials(uri, exc) from None
        check_s3_bucket(client, destination.bucket_name, uri=uri)
        return
    text = os.fspath(destination) if isinstance(destination, os.PathLike) else str(destination)
    scheme = archive_scheme(text)
    if scheme == "oxen":
        # An Oxen repository is reached with the API client, which storage does not import:
        # the engine checks it (and creates it if missing) when a run starts.
        return
    if scheme == "s3":
        bucket, _ = parse_s3_prefix(text)
        try:
            client = default_s3_client()
        except BotoCoreError as exc:
            raise _no_credentials(text, exc) from None
        check_s3_bucket(client, bucket, uri=text)
        return
    check_local_directory(text)


def archive_scheme(destination: str | os.PathLike[str]) -> str | None:
    """The scheme of an archive destination, or None for a local directory; refuse the rest.

    Args:
        destination: The ``--archive`` / ``archive`` value: a path or a URI.

    Returns:
        One of `ARCHIVE_SCHEMES` for ``<scheme>://...``; None for a local directory path.

    Raises:
        UnsupportedArchive: It is written as a URI (``name:/`` or ``name://``) whose scheme is
            not supported, or is not written ``<scheme>://``; the message lists what is.
    """
    text = os.fspath(destination)
    match = _URI_LIKE.match(text)
    if match is None:
        return None
    scheme, slashes, rest = match["scheme"], match["slashes"], match["rest"]
    if scheme in ARCHIVE_SCHEMES and slashes == "//":
        return scheme
    supported = " or ".join(f"{name}://" for name in ARCHIVE_SCHEMES)
    if scheme.lower() in ARCHIVE_SCHEMES:
        hint = f"did you mean {scheme.lower()}://{rest.lstrip('/')}?"
    elif scheme.lower() == "file":
        hint = f"give the directory's path, /{rest.lstrip('/')}."
    else:
        hint = f"{scheme}:// is not an archive this package writes to."
    raise UnsupportedArchive(
        f"Unsupported archive {text}: {hint} An archive is a local directory path or a URI "
        f"starting with {supported}.",
        destination=text,
    )


async def acheck_destination(destination: Any) -> None:
    """`check_destination` off the event loop (it touches the disk or the network).

    Args:
        destination: As `check_destination`.

    Raises:
        ArchiveUnavailable: As `check_destination`.
        InvalidS3Uri: As `check_destination`.
    """
    await asyncio.to_thread(check_destination, destination)


def check_local_directory(directory: str | os.PathLike[str]) -> Path:
    """Create `directory` if missing and prove it takes a file: create, write, remove one.

    Returns the directory; raises `ArchiveUnavailable` saying why it cannot be written.

    Args:
        directory: The archive directory (``~`` expanded).

    Returns:
        The directory.

    Raises:
        ArchiveUnavailable: It is a file, cannot be created, or does not take a file.
    """
    root = Path(os.path.expanduser(os.fspath(directory)))
    if root.exists() and not root.is_dir():
        raise ArchiveUnavailable(
            f"Cannot write to archive {root}: it is a file, not a directory. Give a directory.",
            destination=str(root),
        )
    try:
        root.mkdir(parents=True, exist_ok=True)
        # A real write: permission bits do not tell (root ignores them, read-only mounts and
        # network filesystems have their own rules).
        fd, probe = tempfile.mkstemp(dir=root, prefix=".oxen-write-check-", suffix=".tmp")
        try:
            os.write(fd, b"ok")
        finally:
            os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(probe)
    except OSError as exc:
        raise ArchiveUnavailable(
            f"Cannot write to archive {root}: {exc.strerror or exc}. Choose a directory this "
            "user can write to (--archive).",
            destination=str(root),
        ) from None
    return root


def check_s3_bucket(client: S3Client, bucket: str, *, uri: str | None = None) -> None:
    """One ``HeadBucket`` call: credentials resolve, the bucket exists and may be used.

    Args:
        client: A boto3 S3 client (its credentials are the ones archiving will use).
        bucket: The bucket name.
        uri: How to name the destination in messages (default ``s3://<bucket>``).

    Raises:
        ArchiveUnavailable: No or rejected credentials, a missing or forbidden bucket, or an
            unreachable endpoint; the message says which and what to do.
    """
    where = uri or f"s3://{bucket}"
    try:
        client.head_bucket(Bucket=bucket)
    except (NoCredentialsError, PartialCredentialsError) as exc:
        raise _no_credentials(where, exc) from None
    except EndpointConnectionError as exc:
        raise ArchiveUnavailable(
            f"Cannot reach S3 for {where}: {exc}. Check the network, the region and "
            "AWS_ENDPOINT_URL.",
            destination=where,
        ) from None
    except ClientError as exc:
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = str(error.get("Code") or status)
        if code in _MISSING_BUCKET:
            message = f"Bucket not found: {bucket} (for {where}). Create it or fix the name."
        elif code in _BAD_CREDENTIALS:
            message = f"The AWS credentials for {where} were rejected ({code}). Check them."
        elif code in _DENIED:
            message = (
                f"Access denied to bucket {bucket} (for {where}): these AWS credentials may not "
                "use it (archiving needs s3:ListBucket, s3:GetObject and s3:PutObject)."
            )
        else:
            message = f"Cannot use bucket {bucket} (for {where}): {code} {error.get('Message', '')}"
        raise ArchiveUnavailable(message.strip(), destination=where) from None
    except BotoCoreError as exc:
        raise ArchiveUnavailable(f"Cannot use {where}: {exc}", destination=where) from None


def _no_credentials(where: str, exc: Exception) -> ArchiveUnavailable:
    """The error for an S3 destination with no AWS credentials at hand."""
    return ArchiveUnavailable(
        f"No AWS credentials for {where}: {exc}. Set AWS_ACCESS_KEY_ID and "
        "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE), or archive to a local directory.",
        destination=where,
    )
