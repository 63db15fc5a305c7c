"""Archiving generated videos: atomic files, safe object keys, manifests, local and S3 targets."""

from prefect_oxen._files import atomic_write, sha256_file
from prefect_oxen.storage._archive import ArchiveRecord, ArchiveTarget, manifest_key
from prefect_oxen.storage._errors import (
    ArchiveConflict,
    ArchiveUnavailable,
    ChecksumMismatch,
    InvalidItemId,
    InvalidObjectKey,
    InvalidS3Uri,
    StorageError,
    UnsupportedArchive,
)
from prefect_oxen.storage._keys import (
    DEFAULT_KEY_TEMPLATE,
    render_object_key,
    sanitize_key_component,
    validate_item_id,
    validate_object_key,
)
from prefect_oxen.storage._local import LocalArchive
from prefect_oxen.storage._manifest import REDACTED, ArchiveManifest, is_secret_key, scrub_secrets
from prefect_oxen.storage._preflight import (
    ARCHIVE_SCHEMES,
    acheck_destination,
    archive_scheme,
    check_destination,
    check_local_directory,
    check_s3_bucket,
)
from prefect_oxen.storage._s3 import (
    S3Archive,
    composite_sha256,
    default_s3_client,
    parse_s3_prefix,
    parse_s3_uri,
    sha256_parts,
)

__all__ = [
    "ARCHIVE_SCHEMES",
    "DEFAULT_KEY_TEMPLATE",
    "REDACTED",
    "ArchiveConflict",
    "ArchiveManifest",
    "ArchiveRecord",
    "ArchiveTarget",
    "ArchiveUnavailable",
    "ChecksumMismatch",
    "InvalidItemId",
    "InvalidObjectKey",
    "InvalidS3Uri",
    "LocalArchive",
    "S3Archive",
    "StorageError",
    "UnsupportedArchive",
    "acheck_destination",
    "archive_scheme",
    "atomic_write",
    "check_destination",
    "check_local_directory",
    "check_s3_bucket",
    "composite_sha256",
    "default_s3_client",
    "is_secret_key",
    "manifest_key",
    "parse_s3_prefix",
    "parse_s3_uri",
    "render_object_key",
    "sanitize_key_component",
    "scrub_secrets",
    "sha256_file",
    "sha256_parts",
    "validate_item_id",
    "validate_object_key",
]
