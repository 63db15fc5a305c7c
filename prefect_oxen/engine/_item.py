"""One item through generate -> persist -> archive, as a step that never raises but to cancel.

The item runs as one task run of whichever producer the flow hands in (the `produce_video` task:
the engine does not import the tasks built on it); this module turns what happened into the
item's report, asking the journal whether money was spent before a failure.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from prefect.utilities.annotations import quote

from prefect_oxen.blocks import OxenCredentials
from prefect_oxen.client import GenerationError
from prefect_oxen.engine._archive import open_archive
from prefect_oxen.engine._generation import current_flow_run
from prefect_oxen.engine._journal import JournalEntry
from prefect_oxen.engine._records import PersistedVideo, ProducedVideo, ValidatedRequest
from prefect_oxen.engine._report import ItemReport
from prefect_oxen.engine._settings import PipelineSettings
from prefect_oxen.engine._validation import describe_error
from prefect_oxen.storage import ArchiveRecord

__all__ = [
    "ItemRun",
    "Producer",
    "already_archived",
    "archived_entry",
    "request_prompt",
    "run_item",
]

#: What makes one item's video: the `produce_video` task (or anything called like it).
Producer = Callable[..., Awaitable[ProducedVideo]]


def request_prompt(validated: ValidatedRequest) -> str | None:
    """The request's prompt, or its first shot's for a multi-shot request.

    Args:
        validated: The request.

    Returns:
        The prompt, or None when it has none.
    """
    request = validated.request
    if request.prompt:
        return request.prompt
    return request.multi_prompt[0].prompt if request.multi_prompt else None


async def archived_entry(
    validated: ValidatedRequest, settings: PipelineSettings
) -> JournalEntry | None:
    """The run state's "archived" entry for this item, if any.

    Args:
        validated: The item.
        settings: The run's settings (its run state).

    Returns:
        The entry, or None when no run has the item archived.
    """
    entry = await settings.state().alookup(validated.identity)
    return entry if entry is not None and entry.state == "archived" else None


def already_archived(
    validated: ValidatedRequest, settings: PipelineSettings, entry: JournalEntry
) -> ItemReport | None:
    """The report of an item a previous run archived, if the archive still holds it.

    For S3 this is a HEAD request: call it off the event loop.

    Args:
        validated: The item.
        settings: The run's settings (its archive).
        entry: The item's "archived" journal entry.

    Returns:
        A `skipped` report, or None when the archive no longer holds that video.
    """
    key, sha256 = entry.detail.get("archive_key"), entry.detail.get("sha256")
    if not key or not sha256 or not open_archive(settings.destination).exists(key, sha256):
        return None
    return ItemReport(
        key=validated.label,
        model=validated.request.model,
        prompt=request_prompt(validated),
        status="skipped",
        generation_id=entry.generation_ids[0] if entry.generation_ids else None,
        estimated_cost_usd=validated.estimated_cost_usd,
        archive_uri=entry.archive_uri,
    )


async def run_item(
    validated: ValidatedRequest,
    credentials: OxenCredentials,
    settings: PipelineSettings,
    producer: Producer,
    *,
    line: int | None = None,
    archive_extra: dict[str, Any] | None = None,
) -> ItemRun:
    """Generate, verify and archive one validated request; failures become a failed report.

    Args:
        validated: The request.
        credentials: The credentials to pay with.
        settings: Where it goes and how.
        producer: The `produce_video` task.
        line: The item's line in the batch input, for the report.
        archive_extra: More fields for the archive manifest.

    Returns:
        The finished run: its `report`, and its `record` and `persisted` file when archived.
    """
    item = ItemRun(validated, credentials, settings, line=line)
    await item.produce(producer, archive_extra=archive_extra)
    return item


class ItemRun:
    """One item's way through the pipeline, as one task run of the producer.

    Args:
        validated: The request.
        credentials: The credentials to pay with.
        settings: Where it goes and how.
        line: The item's line in the batch input, for the report.
    """

    def __init__(
        self,
        validated: ValidatedRequest,
        credentials: OxenCredentials,
        settings: PipelineSettings,
        *,
        line: int | None = None,
    ) -> None:
        self.validated = validated
        self.credentials = credentials
        self.settings = settings
        self.started = time.time()
        self.record: ArchiveRecord | None = None
        self.persisted: PersistedVideo | None = None
        self.report = ItemReport(
            key=validated.label,
            line=line,
            model=validated.request.model,
            prompt=request_prompt(validated),
            status="failed",
            estimated_cost_usd=validated.estimated_cost_usd,
        )

    async def _failed(self, exc: Exception) -> bool:
        """Fill the report in for a failure (with the cost, when the journal shows it was paid)."""
        report = self.report
        report.error = describe_error(exc, self.credentials.secret_values())
        report.latency_seconds = round(time.time() - self.started, 3)
        # The journal knows whether the failure came after the money was spent.
        entry = await self.settings.state().alookup(self.validated.identity)
        if entry is not None and entry.generation_ids:
            report.generation_id = entry.generation_ids[0]
            # Generated, then lost on the way to the archive: paid for (the history may correct it).
            lost = entry.state in ("enqueued", "succeeded", "persisted")
            if lost and not isinstance(exc, GenerationError):
                report.cost_usd = self.validated.estimated_cost_usd
        return False

    async def produce(
        self,
        producer: Producer,
        *,
        archive_extra: dict[str, Any] | None = None,
        poster: bool = True,
    ) -> bool:
        """Run the item through `producer`; the report says what happened.

        Args:
            producer: The `produce_video` task.
            archive_extra: More fields for the archive manifest.
            poster: Write a poster frame (batches keep them for the contact sheet only).

        Returns:
            True when archived; False, with the reason in the report, when not.
        """
        settings = self.settings
        # Whether another run left work for this item: reattaching to it collects what that run
        # paid; reattaching after a retry within this run collects this run's own submission.
        earlier = await settings.state().alookup(self.validated.identity)
        left_by_another_run = (
            earlier is not None and earlier.detail.get("flow_run_id") != current_flow_run().id
        )
        try:
            # quote(): Prefect would otherwise walk these models field by field looking for
            # futures, on every item; they hold none.
            produced = await producer(
                quote(self.validated),
                quote(self.credentials),
                settings.work_dir,
                quote(settings.destination),
                mode=settings.mode,
                journal_path=settings.state_location,
                key_template=settings.key_template,
                prefix=settings.prefix,
                timeout=settings.timeout,
                start_timeout=settings.start_timeout,
                extra=archive_extra,
                keep_local_copy=settings.keep_local_copies,
                poster=poster,
            )
        except Exception as exc:  # one item's failure must not sink the batch (cancel still does)
            return await self._failed(exc)
        self._archived(produced, reattached=produced.result.reattached and left_by_another_run)
        return True

    def _archived(self, produced: ProducedVideo, *, reattached: bool) -> None:
        """Fill the report in for an archived video."""
        result, persisted, record = produced.result, produced.persisted, produced.record
        self.record, self.persisted = record, persisted
        report = self.report
        report.status = "archived"
        report.generation_id = result.generation_id
        report.reattached = reattached
        report.video_seconds = persisted.duration_seconds
        report.latency_seconds = round(time.time() - self.started, 3)
        # Video cost is seconds x rate (the API's documented formula); a reattached generation
        # was paid once, by whichever run enqueued it, and is counted once here.
        report.cost_usd = result.cost_usd
        report.archive_uri = record.uri
        report.view_url = record.view_url
        report.sha256 = record.sha256
        report.poster_path = persisted.poster_path
