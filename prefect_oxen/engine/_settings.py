"""Turning flow parameters (JSON-friendly, for deployments) into the objects tasks need.

One resolver, `RunPlaces`, reads the parameters every flow shares (credentials, archive,
archive_block, journal, work_dir): the flows build it from their arguments, and the stop hooks
from the run's stored parameters, so both find the same journal the same way.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from prefect.utilities.asyncutils import run_coro_as_sync
from pydantic import BaseModel, ConfigDict

from prefect_oxen.blocks import OxenCredentials
from prefect_oxen.engine._run_state import (
    RunState,
    oxen_state_folder,
    run_state_for,
    state_location_for,
)
from prefect_oxen.storage import DEFAULT_KEY_TEMPLATE, render_object_key

__all__ = [
    "PipelineSettings",
    "ResolvedRun",
    "RunPlaces",
    "aresolve_archive",
    "aresolve_credentials",
    "resolve_archive",
    "resolve_credentials",
]

_B = TypeVar("_B")


def _block_reference(value: Any) -> dict[str, Any] | None:
    """The ``{"block_document_slug"|"block_document_id": ...}`` of a ``{"$ref": ...}`` parameter.

    Deployment runs hand flow hooks the stored, unhydrated parameters, so a block given by
    reference arrives in this form.
    """
    reference = value.get("$ref") if isinstance(value, dict) else None
    return reference if isinstance(reference, dict) else None


async def aresolve_credentials(
    credentials: OxenCredentials | str | dict[str, Any] | None,
) -> OxenCredentials:
    """The credentials a flow parameter names.

    Args:
        credentials: A block as given, a saved block's name, a ``{"$ref": ...}``, the block's
            fields as a dict, or None (OXEN_API_KEY / OXEN_BASE_URL from the environment).

    Returns:
        The credentials block.

    Raises:
        ValueError: No saved block has that name.
        TypeError: The reference is to a block of another type.
    """
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
    """The archive destination a flow's parameters name.

    Args:
        archive: A directory, an ``s3://bucket/prefix`` URI, an S3Bucket block or a ``$ref``.
        archive_block: The name of a saved prefect-aws S3Bucket; it wins over `archive`.

    Returns:
        The saved S3Bucket, or `archive` as given.

    Raises:
        ValueError: No saved block has that name.
        TypeError: The reference is to a block of another type.
    """
    reference = _block_reference(archive)
    if archive_block or reference is not None:
        from prefect_aws import S3Bucket

        if archive_block:
            return await S3Bucket.aload(archive_block)
        return await _load_reference(reference or {}, S3Bucket)
    return archive


async def _load_reference(reference: dict[str, Any], expected: type[_B]) -> _B:
    """The block a ``$ref`` points at, checked to be an `expected`."""
    from prefect.blocks.core import Block

    # Block (not the subclass) understands "type-slug/name" slugs as references carry them.
    block = await Block.aload_from_ref(reference)
    if not isinstance(block, expected):
        raise TypeError(
            f"block reference {reference} is a {type(block).__name__}, not a {expected.__name__}"
        )
    return block


def resolve_credentials(
    credentials: OxenCredentials | str | dict[str, Any] | None,
) -> OxenCredentials:
    """`aresolve_credentials` for synchronous callers (flow hooks).

    Args:
        credentials: As for `aresolve_credentials`.

    Returns:
        The credentials block.
    """
    return run_coro_as_sync(aresolve_credentials(credentials))


def resolve_archive(archive: Any, archive_block: str | None = None) -> Any:
    """`aresolve_archive` for synchronous callers (flow hooks).

    Args:
        archive: As for `aresolve_archive`.
        archive_block: As for `aresolve_archive`.

    Returns:
        The destination.
    """
    return run_coro_as_sync(aresolve_archive(archive, archive_block))


class PipelineSettings(BaseModel):
    """Everything the per-item pipeline needs besides the request."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    destination: Any
    work_dir: Path
    state_location: str
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
        """Settings for `destination`, with the run state and work files where they belong.

        The run state lives with the archive: a hidden journal file in a local archive, objects
        under ``.oxen-state/`` in an S3 archive, so runs on machines that share no disk still
        see each other's. Work files of an S3 archive go under ``$PREFECT_HOME/oxen``.

        Args:
            destination: The resolved archive destination.
            journal: An explicit journal location (a file, or an ``s3://`` prefix); None for
                the archive's own.
            work_dir: The scratch directory; None for the default.
            **options: The other fields (mode, key_template, prefix, timeout, ...).

        Returns:
            The settings.

        Raises:
            InvalidObjectKey: The key template makes no valid key (before anything is paid).
        """
        # A bad key template must fail the run now, not after videos were paid for.
        render_object_key(
            options.get("key_template", DEFAULT_KEY_TEMPLATE),
            prefix=options.get("prefix", "oxen"),
            date="2026-01-01",
            model="model",
            key="key",
        )
        text = str(getattr(destination, "bucket_name", destination))
        if text.lower().startswith("oxen://"):
            default_work = oxen_state_folder(text) / "work"
        elif isinstance(destination, (str, Path)) and not text.startswith("s3://"):
            default_work = Path(text).expanduser() / ".oxen-work"
        else:
            # Scratch space only: what was paid for lives with the archive (`state_location`).
            from prefect.settings import PREFECT_HOME

            folder = hashlib.sha256(text.encode()).hexdigest()[:16]
            default_work = Path(PREFECT_HOME.value()) / "oxen" / folder / "work"
        return cls(
            destination=destination,
            work_dir=Path(work_dir) if work_dir else default_work,
            state_location=state_location_for(destination, journal),
            **options,
        )

    def state(self) -> RunState:
        """The run state (journal and claims) this run shares with every run of its archive.

        Returns:
            The process's store for `state_location`.
        """
        return run_state_for(self.destination, self.state_location)


@dataclass(frozen=True)
class ResolvedRun:
    """A flow run's credentials and pipeline settings, resolved from its parameters."""

    credentials: OxenCredentials
    settings: PipelineSettings


class RunPlaces(BaseModel):
    """The parameters every flow shares that say whom a run pays with and where its files go.

    Built from a flow's arguments (`RunPlaces(credentials=..., archive=..., ...)`) or from a
    flow run's stored parameters (`RunPlaces.model_validate(flow_run.parameters)`: other
    parameters are ignored), so the flows and their stop hooks resolve them one way.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="ignore")

    credentials: Any = None
    archive: Any = "oxen-archive"
    archive_block: str | None = None
    journal: str | None = None
    work_dir: str | None = None

    async def aresolve(self, **options: Any) -> ResolvedRun:
        """Load the credentials and the archive, and build the pipeline settings.

        Args:
            **options: Further `PipelineSettings` fields (mode, key_template, prefix, timeout).

        Returns:
            The credentials and settings.

        Raises:
            ValueError: A named block does not exist.
            InvalidObjectKey: The key template makes no valid key.
        """
        credentials = await aresolve_credentials(self.credentials)
        return ResolvedRun(credentials, await self.asettings(**options))

    async def asettings(self, **options: Any) -> PipelineSettings:
        """The pipeline settings alone (the archive resolved, the credentials not loaded).

        Args:
            **options: Further `PipelineSettings` fields.

        Returns:
            The settings.
        """
        destination = await aresolve_archive(self.archive, self.archive_block)
        return PipelineSettings.build(
            destination, journal=self.journal, work_dir=self.work_dir, **options
        )

    def state(self) -> RunState:
        """The run's state store (synchronously, for hooks).

        Returns:
            The store the run records its generations in.
        """
        settings: PipelineSettings = run_coro_as_sync(self.asettings())
        return settings.state()

    def unmasked_credentials(self) -> OxenCredentials:
        """The credentials the parameters name, never with Prefect's masked key (for hooks).

        An inline block arrives with its key masked (``**********``): its other settings are
        kept and the key comes from OXEN_API_KEY, if set.

        Returns:
            The credentials block.
        """
        value = self.credentials
        if isinstance(value, Mapping) and "$ref" not in value and "api_key" in value:
            key = value["api_key"]
            if key is None or set(str(key).strip()) <= {"*"}:
                value = {name: setting for name, setting in value.items() if name != "api_key"}
        return resolve_credentials(value)
