"""Turning flow parameters (JSON-friendly, for deployments) into the objects tasks need."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from prefect_oxen.blocks import OxenCredentials
from prefect_oxen.storage import DEFAULT_KEY_TEMPLATE, render_object_key

__all__ = ["PipelineSettings", "resolve_archive", "resolve_credentials"]


def resolve_credentials(credentials: OxenCredentials | str | None) -> OxenCredentials:
    """A block as given, a saved block by name, or one built from OXEN_API_KEY / OXEN_BASE_URL."""
    if isinstance(credentials, OxenCredentials):
        return credentials
    if isinstance(credentials, str) and credentials:
        return OxenCredentials.load(credentials)
    return OxenCredentials()


def resolve_archive(archive: Any, archive_block: str | None = None) -> Any:
    """The archive destination: a saved prefect-aws S3Bucket by name, or `archive` as given
    (a directory, an ``s3://bucket/prefix`` URI or an S3Bucket block)."""
    if archive_block:
        from prefect_aws import S3Bucket

        return S3Bucket.load(archive_block)
    return archive


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
