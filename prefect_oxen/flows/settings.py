"""Turning flow parameters (JSON-friendly, for deployments) into the objects tasks need."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from prefect.utilities.asyncutils import run_coro_as_sync
from pydantic import BaseModel, ConfigDict

from prefect_oxen.blocks import OxenCredentials
from prefect_oxen.storage import DEFAULT_KEY_TEMPLATE, render_object_key

__all__ = [
    "PipelineSettings",
    "aresolve_archive",
    "aresolve_credentials",
    "resolve_archive",
    "resolve_credentials",
]


def _block_reference(value: Any) -> dict[str, Any] | None:
    """The ``{"block_document_slug"|"block_document_id": ...}`` of a ``{"$ref": ...}`` parameter.

    Deployment runs hand flow hooks the stored, unhydrated parameters, so a block given by
    reference arrives in this form.
    """
    if isinstance(value, dict) and isinstance(value.get("$ref"), dict):
        return value["$ref"]
    return None


async def aresolve_credentials(credentials: OxenCredentials | str | dict[str, Any] | None) -> OxenCredentials:
    """A block as given, a saved block by name or ``$ref``, or one from OXEN_API_KEY / OXEN_BASE_URL."""
    if isinstance(credentials, OxenCredentials):
        return credentials
    if (reference := _block_reference(credentials)) is not None:
        return await _load_reference(reference, OxenCredentials)
    if isinstance(credentials, dict):
        return OxenCredentials.model_validate(credentials)
    if isinstance(credentials, str) and credentials:
        return await OxenCredentials.aload(credentials)
    return OxenCredentials()


async def aresolve_archive(archive: Any, archive_block: str | None = None) -> Any:
    """The archive destination: a saved prefect-aws S3Bucket (by name or ``$ref``), or `archive`
    as given (a directory, an ``s3://bucket/prefix`` URI or an S3Bucket block)."""
    reference = _block_reference(archive)
    if archive_block or reference is not None:
        from prefect_aws import S3Bucket

        if archive_block:
            return await S3Bucket.aload(archive_block)
        return await _load_reference(reference, S3Bucket)
    return archive


async def _load_reference(reference: dict[str, Any], expected: type) -> Any:
    # Block (not the subclass) understands "type-slug/name" slugs as references carry them.
    from prefect.blocks.core import Block

    block = await Block.aload_from_ref(reference)
    if not isinstance(block, expected):
        raise TypeError(f"block reference {reference} is a {type(block).__name__}, not a {expected.__name__}")
    return block


def resolve_credentials(credentials: Any) -> OxenCredentials:
    """`aresolve_credentials` for synchronous callers (flow hooks)."""
    return run_coro_as_sync(aresolve_credentials(credentials))


def resolve_archive(archive: Any, archive_block: str | None = None) -> Any:
    """`aresolve_archive` for synchronous callers (flow hooks)."""
    return run_coro_as_sync(aresolve_archive(archive, archive_block))


class PipelineSettings(BaseModel):
    """Everything the per-item pipeline needs besides the request."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    destination: Any
    work_dir: Path
    journal_path: Path
    mode: str = "auto"
    key_template: str = DEFAULT_KEY_TEMPLATE
    prefix: str = "oxen"
    timeout: float = 3600.0
    start_timeout: float | None = None
    keep_local_copies: bool = False

    @classmethod
    def build(
        cls,
        destination: Any,
        *,
        journal: str | None = None,
        work_dir: str | None = None,
        **options: Any,
    ) -> PipelineSettings:
        """Defaults: for a local archive, the journal and work files live inside it (hidden);
        for S3, under ``$PREFECT_HOME/oxen`` in a folder named after the destination."""
        # A bad key template must fail the run now, not after videos were paid for.
        render_object_key(
            options.get("key_template", DEFAULT_KEY_TEMPLATE),
            prefix=options.get("prefix", "oxen"), date="2026-01-01", model="model", key="key",
        )
        text = str(getattr(destination, "bucket_name", destination))
        if isinstance(destination, (str, Path)) and not text.startswith("s3://"):
            root = Path(text).expanduser()
            default_work, default_journal = root / ".oxen-work", root / ".oxen-journal.jsonl"
        else:
            from prefect.settings import PREFECT_HOME

            folder = hashlib.sha256(text.encode()).hexdigest()[:16]
            base = Path(PREFECT_HOME.value()) / "oxen" / folder
            default_work, default_journal = base / "work", base / "journal.jsonl"
        return cls(
            destination=destination,
            work_dir=Path(work_dir) if work_dir else default_work,
            journal_path=Path(journal) if journal else default_journal,
            **options,
        )
