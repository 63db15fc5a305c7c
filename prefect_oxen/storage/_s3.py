"""An archive in an S3 bucket (or an S3-compatible store), with end-to-end SHA-256 integrity.

It takes a ready boto3 S3 client (the Prefect layer builds one from an `S3Bucket` or
`AwsCredentials` block).

Integrity: uploads ask S3 for a SHA-256 checksum (`ChecksumAlgorithm`), so S3 rejects corrupted
bodies, and afterwards the checksum S3 reports is compared with one computed locally. For a
multipart upload S3 reports a composite (the SHA-256 of the parts' SHA-256 digests, `...-N`), so
the same composite is computed locally from the same part size, in a thread that overlaps the
upload. The full-file SHA-256 goes into the object metadata and the manifest.
"""

from __future__ import annotations

import base64
import concurrent.futures
import hashlib
import json
import os
import urllib.parse
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError
from s3transfer.utils import ChunksizeAdjuster

from prefect_oxen.storage._archive import ArchiveRecord, manifest_key
from prefect_oxen.storage._errors import ArchiveConflict, ChecksumMismatch, InvalidS3Uri
from prefect_oxen.storage._keys import validate_object_key
from prefect_oxen.storage._manifest import ArchiveManifest

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MiB = 1024 * 1024
_SSE_MODES = frozenset({"AES256", "aws:kms", "aws:kms:dsse"})
_MAX_PRESIGN_SECONDS = 7 * 24 * 3600  # SigV4 presigned URLs cannot live longer
_METADATA_VALUE_LIMIT = 256  # S3 allows 2 KB of user metadata in total
_NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound"})
_READ_BLOCK = 4 * MiB


def default_s3_client() -> S3Client:
    """A boto3 S3 client from the environment (credential chain, ``AWS_ENDPOINT_URL``), SigV4.

    SigV4 so presigned viewing links work in every region.

    Returns:
        A new boto3 S3 client.
    """
    import boto3
    from botocore.config import Config

    return boto3.client("s3", config=Config(signature_version="s3v4"))


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """Split ``s3://bucket/some/key`` into ``("bucket", "some/key")``.

    Args:
        uri: An object URI.

    Returns:
        The bucket and the key.

    Raises:
        InvalidS3Uri: Not ``s3://``, or the bucket or key is missing.
    """
    parsed = urllib.parse.urlsplit(uri)
    if parsed.scheme != "s3":
        raise InvalidS3Uri(uri, "the scheme is not s3://")
    if not parsed.netloc:
        raise InvalidS3Uri(uri, "the bucket is missing")
    key = parsed.path.lstrip("/")
    if not key:
        raise InvalidS3Uri(uri, "the key is missing")
    return parsed.netloc, key


def parse_s3_prefix(uri: str) -> tuple[str, str]:
    """Split an archive destination ``s3://bucket[/prefix]`` into ``("bucket", "prefix")``.

    Unlike an object URI, the prefix may be empty: ``s3://bucket`` archives at the bucket's root.

    Args:
        uri: An archive destination.

    Returns:
        The bucket and the prefix (``""`` for the bucket's root).

    Raises:
        InvalidS3Uri: Not ``s3://``, or the bucket is missing.
    """
    parsed = urllib.parse.urlsplit(uri)
    if parsed.scheme != "s3":
        raise InvalidS3Uri(uri, "the scheme is not s3://")
    if not parsed.netloc:
        raise InvalidS3Uri(uri, "the bucket is missing")
    return parsed.netloc, parsed.path.strip("/")


def sha256_parts(path: str | os.PathLike[str], part_size: int) -> list[bytes]:
    """SHA-256 digests of consecutive `part_size` slices of a file (what S3 checks per part).

    Args:
        path: The file.
        part_size: Bytes per part (the last part may be shorter).

    Returns:
        One raw 32-byte digest per part, in order.
    """
    digests: list[bytes] = []
    with open(path, "rb") as f:
        while True:
            digest = hashlib.sha256()
            remaining = part_size
            while remaining:
                block = f.read(min(_READ_BLOCK, remaining))
                if not block:
                    break
                digest.update(block)
                remaining -= len(block)
            if remaining == part_size:
                return digests
            digests.append(digest.digest())


def composite_sha256(part_digests: list[bytes]) -> str:
    """S3's composite checksum of a multipart object: ``b64(sha256(d1 + d2 ...))-N``.

    Args:
        part_digests: The raw digest of each part, in order (`sha256_parts`).

    Returns:
        The checksum as S3 reports it for the object.
    """
    combined = hashlib.sha256(b"".join(part_digests)).digest()
    return f"{base64.b64encode(combined).decode()}-{len(part_digests)}"


class S3Archive:
    """Archive videos in `bucket` under `prefix`, each with a JSON manifest next to it.

    `put` is idempotent: an object whose sha256 matches is not uploaded again; different content
    at the same key raises `ArchiveConflict` unless `overwrite=True`.

    Args:
        s3_client: A boto3 S3 client (`default_s3_client`, or a prefect-aws block's).
        bucket: The bucket's name.
        prefix: Key prefix every archive key is stored under (``""`` for the root).
        server_side_encryption: ``"AES256"``, ``"aws:kms"``, ``"aws:kms:dsse"`` or None.
        sse_kms_key_id: The KMS key for ``aws:kms`` encryption.
        multipart_threshold: Files from this size up are uploaded in parts.
        multipart_chunksize: Bytes per part (adjusted as s3transfer adjusts it).
        max_concurrency: Parts uploaded at once.
        presign_expires_in: Lifetime of the viewing links, in seconds (at most 7 days).
        verify_checksum: HEAD each upload and compare S3's checksum with the local one.

    Raises:
        ValueError: An unknown encryption mode, a KMS key without KMS encryption, or a link
            lifetime out of range.
    """

    def __init__(
        self,
        s3_client: S3Client,
        bucket: str,
        *,
        prefix: str = "",
        server_side_encryption: str | None = None,
        sse_kms_key_id: str | None = None,
        multipart_threshold: int = 64 * MiB,
        multipart_chunksize: int = 16 * MiB,
        max_concurrency: int = 8,
        presign_expires_in: int = 3600,
        verify_checksum: bool = True,
    ) -> None:
        if server_side_encryption is not None and server_side_encryption not in _SSE_MODES:
            raise ValueError(
                f"server_side_encryption must be one of {sorted(_SSE_MODES)} or None, "
                f"got {server_side_encryption!r}"
            )
        if sse_kms_key_id and not (server_side_encryption or "").startswith("aws:kms"):
            raise ValueError("sse_kms_key_id needs server_side_encryption='aws:kms'")
        if not 1 <= presign_expires_in <= _MAX_PRESIGN_SECONDS:
            raise ValueError(
                f"presign_expires_in must be 1..{_MAX_PRESIGN_SECONDS} s, got {presign_expires_in}"
            )
        self.client = s3_client
        self.bucket = bucket
        self.prefix = validate_object_key(prefix.strip("/")) if prefix.strip("/") else ""
        self.server_side_encryption = server_side_encryption
        self.sse_kms_key_id = sse_kms_key_id
        self.presign_expires_in = presign_expires_in
        self.verify_checksum = verify_checksum
        self.transfer_config = TransferConfig(
            multipart_threshold=multipart_threshold,
            multipart_chunksize=multipart_chunksize,
            max_concurrency=max_concurrency,
            # The CRT client picks its own part sizes, which would break the composite check.
            preferred_transfer_client="classic",
        )

    def object_key(self, key: str) -> str:
        """The full object key in the bucket for an archive key.

        Args:
            key: The archive key.

        Returns:
            ``prefix/key`` (or `key` when there is no prefix).

        Raises:
            InvalidObjectKey: The key is unsafe.
        """
        key = validate_object_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def uri_for(self, key: str) -> str:
        """``s3://bucket/<prefix>/<key>``."""
        return f"s3://{self.bucket}/{self.object_key(key)}"

    def exists(self, key: str, sha256: str) -> bool:
        """Whether an object with this sha256 is stored at `key` (one HEAD request)."""
        head = self._head(self.object_key(key))
        return head is not None and _stored_sha256(head) == sha256

    def read_manifest(self, key: str) -> dict[str, Any] | None:
        """The manifest stored next to `key`, or None; S3 errors other than "not found" raise."""
        try:
            response = self.client.get_object(
                Bucket=self.bucket, Key=manifest_key(self.object_key(key))
            )
        except ClientError as exc:
            if _is_not_found(exc):
                return None
            raise
        manifest: dict[str, Any] = json.loads(response["Body"].read())
        return manifest

    def presigned_url(self, key: str, *, expires_in: int | None = None) -> str:
        """A presigned GET URL for the video at `key` (no request is made).

        Args:
            key: The archive key of the video.
            expires_in: The link's lifetime in seconds (default: the archive's).

        Returns:
            The URL.
        """
        return self.client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": self.object_key(key)},
            ExpiresIn=expires_in or self.presign_expires_in,
        )

    def put(
        self,
        video_path: str | os.PathLike[str],
        key: str,
        manifest: ArchiveManifest,
        *,
        sha256: str | None = None,
        overwrite: bool = False,
    ) -> ArchiveRecord:
        """Upload the video (multipart above the threshold) and its manifest, then verify: the
        object is deleted and `ChecksumMismatch` raised when S3's checksum differs."""
        object_key = self.object_key(key)
        uri = f"s3://{self.bucket}/{object_key}"
        size = os.stat(video_path).st_size
        part_size = self._part_size(size)
        parts: list[bytes] | None = None
        if sha256 is None:
            sha256, parts = _hash_file(video_path, part_size)

        head = self._head(object_key)
        uploaded = True
        if head is not None:
            existing = _stored_sha256(head)
            if existing == sha256:
                uploaded = False
            elif not overwrite:
                raise ArchiveConflict(uri=uri, existing_sha256=existing, new_sha256=sha256)

        if uploaded:
            self._upload(video_path, object_key, uri, manifest, sha256, size, part_size, parts)

        manifest_object = manifest_key(object_key)
        if uploaded or self._head(manifest_object) is None:
            # A missing manifest next to an existing video means an earlier put died in between.
            stored = manifest.model_copy(
                update={"key": key, "video_uri": uri, "sha256": sha256, "size_bytes": size}
            )
            self.client.put_object(
                Bucket=self.bucket,
                Key=manifest_object,
                Body=stored.to_json_bytes(),
                ContentType="application/json",
                ChecksumAlgorithm="SHA256",
                **self._sse_args(),
            )
        return ArchiveRecord(
            uri=uri,
            manifest_uri=f"s3://{self.bucket}/{manifest_object}",
            key=key,
            sha256=sha256,
            size_bytes=size,
            uploaded=uploaded,
            view_url=self.presigned_url(key),
        )

    def _upload(
        self,
        video_path: str | os.PathLike[str],
        object_key: str,
        uri: str,
        manifest: ArchiveManifest,
        sha256: str,
        size: int,
        part_size: int | None,
        parts: list[bytes] | None,
    ) -> None:
        """Upload the file with its sha256 checksum, metadata and encryption settings."""
        extra_args: dict[str, Any] = {
            "ContentType": "video/mp4",
            "ChecksumAlgorithm": "SHA256",
            "Metadata": _ascii_metadata(
                {
                    "sha256": sha256,
                    "generation-id": manifest.generation_id,
                    "model": manifest.model,
                    "manifest-schema": str(manifest.schema_version),
                }
            ),
            **self._sse_args(),
        }
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            # hashlib releases the GIL on large blocks, so this overlaps the network transfer.
            pending = None
            if part_size is not None and parts is None:
                pending = pool.submit(sha256_parts, video_path, part_size)
            self.client.upload_file(
                os.fspath(video_path),
                self.bucket,
                object_key,
                ExtraArgs=extra_args,
                Config=self.transfer_config,
            )
            if pending is not None:
                parts = pending.result()
        if not self.verify_checksum:
            return
        expected = composite_sha256(parts) if parts is not None and part_size else _b64(sha256)
        self._verify(object_key, uri, expected, size)

    def _verify(self, object_key: str, uri: str, expected: str, size: int) -> None:
        """Check the stored object's checksum and size; delete it when they are wrong."""
        head = self._head(object_key)
        found = (head or {}).get("ChecksumSHA256")
        found_size = (head or {}).get("ContentLength")
        if found is not None and _same_checksum(found, expected) and found_size == size:
            return
        # Never leave an object whose metadata claims a sha256 its bytes do not have.
        self.client.delete_object(Bucket=self.bucket, Key=object_key)
        if found is None:
            detail = (
                "the store returned no SHA-256 checksum; for S3-compatible stores without "
                "flexible checksums construct S3Archive(verify_checksum=False)"
            )
        else:
            detail = f"size {found_size} vs local {size}; the object was deleted"
        raise ChecksumMismatch(uri=uri, expected=expected, found=str(found), detail=detail)

    def _part_size(self, size: int) -> int | None:
        """The multipart chunk size s3transfer will use for `size` bytes, or None for one part."""
        # Same rule and same adjustment (max 10,000 parts, min 5 MiB) as s3transfer applies.
        if size < self.transfer_config.multipart_threshold:
            return None
        return ChunksizeAdjuster().adjust_chunksize(self.transfer_config.multipart_chunksize, size)

    def _head(self, object_key: str) -> Mapping[str, Any] | None:
        """The object's HEAD (with its checksum), or None when it does not exist."""
        try:
            return self.client.head_object(
                Bucket=self.bucket, Key=object_key, ChecksumMode="ENABLED"
            )
        except ClientError as exc:
            if _is_not_found(exc):
                return None
            raise

    def _sse_args(self) -> dict[str, Any]:
        """The server-side encryption arguments this archive uploads with."""
        args: dict[str, Any] = {}
        if self.server_side_encryption:
            args["ServerSideEncryption"] = self.server_side_encryption
        if self.sse_kms_key_id:
            args["SSEKMSKeyId"] = self.sse_kms_key_id
        return args


def _hash_file(
    path: str | os.PathLike[str], part_size: int | None
) -> tuple[str, list[bytes] | None]:
    """The file's sha256, and its per-part digests when it is uploaded in parts."""
    # One read gives the full sha256 and, for multipart uploads, the per-part digests.
    full = hashlib.sha256()
    parts: list[bytes] | None = [] if part_size else None
    part = hashlib.sha256()
    in_part = 0
    with open(path, "rb") as f:
        while block := f.read(_READ_BLOCK if not part_size else min(_READ_BLOCK, part_size)):
            full.update(block)
            if parts is None or part_size is None:
                continue
            view = memoryview(block)
            while view:
                take = min(len(view), part_size - in_part)
                part.update(view[:take])
                in_part += take
                view = view[take:]
                if in_part == part_size:
                    parts.append(part.digest())
                    part, in_part = hashlib.sha256(), 0
    if parts is not None and in_part:
        parts.append(part.digest())
    return full.hexdigest(), parts


def _stored_sha256(head: Mapping[str, Any]) -> str | None:
    """The sha256 of the file an existing object holds, when its HEAD says it."""
    metadata = head.get("Metadata") or {}
    if "sha256" in metadata:
        return str(metadata["sha256"])
    checksum = head.get("ChecksumSHA256")
    if checksum and "-" not in checksum:  # single-part objects: the checksum is the file's
        try:
            return base64.b64decode(checksum, validate=True).hex()
        except ValueError:
            return None
    return None


def _same_checksum(found: str, expected: str) -> bool:
    """True when two S3 checksums agree (tolerating a missing part-count suffix)."""
    # Some S3-compatible servers (moto) omit the "-N" part-count suffix of composite checksums.
    if found == expected:
        return True
    return "-" not in found and expected.split("-")[0] == found


def _b64(hex_digest: str) -> str:
    """A hex digest in the base64 form S3 checksums use."""
    return base64.b64encode(bytes.fromhex(hex_digest)).decode()


def _ascii_metadata(values: Mapping[str, str | None]) -> dict[str, str]:
    """User metadata S3 can carry: ASCII, percent-encoded, bounded, empty values dropped."""
    # S3 user metadata travels as HTTP headers: ASCII only, so percent-encode anything else.
    return {
        name: urllib.parse.quote(value, safe=" -_.:/@+=")[:_METADATA_VALUE_LIMIT]
        for name, value in values.items()
        if value
    }


def _is_not_found(exc: ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code")) in _NOT_FOUND
