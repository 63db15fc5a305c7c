"""One item through validate -> generate -> persist -> archive, as a flow step that never raises."""

from __future__ import annotations

import time

from prefect.utilities.annotations import quote

from prefect_oxen.blocks import OxenCredentials
from prefect_oxen.client import GenerationError, OxenError
from prefect_oxen.client.redaction import redact_text
from prefect_oxen.flows.report import ItemReport
from prefect_oxen.flows.settings import PipelineSettings
from prefect_oxen.storage import ArchiveRecord
from prefect_oxen.tasks import open_archive
from prefect_oxen.tasks.journal import JournalEntry, journal_at
from prefect_oxen.tasks.produce import produce_video
from prefect_oxen.tasks.results import ValidatedRequest

__all__ = [
    "ItemRun",
    "already_archived",
    "archived_entry",
    "describe_error",
    "request_prompt",
    "run_item",
]


def describe_error(exc: BaseException, secrets: tuple[str, ...] = ()) -> str:
    """A one-line, secret-free reason for the report."""
    name = type(exc).__name__
    text = str(exc) if isinstance(exc, (OxenError, ValueError)) else f"{name}: {exc}"
    if not text.startswith(name) and not isinstance(exc, OxenError):
        text = f"{name}: {text}"
    return redact_text(text, secrets)[:500]


def request_prompt(validated: ValidatedRequest) -> str | None:
    """The request's prompt, or its first shot's for a multi-shot request."""
    request = validated.request
    if request.prompt:
        return request.prompt
    return request.multi_prompt[0].prompt if request.multi_prompt else None


def archived_entry(validated: ValidatedRequest, settings: PipelineSettings) -> JournalEntry | None:
    """The journal's "archived" entry for this item, if any (an in-memory look-up)."""
    entry = journal_at(settings.journal_path).lookup(validated.identity)
    return entry if entry is not None and entry.state == "archived" else None


def already_archived(validated: ValidatedRequest, settings: PipelineSettings, entry: JournalEntry) -> ItemReport | None:
    """The report of an item a previous run archived, if the archive still holds it (for S3 a
    HEAD request: call off the event loop)."""
    key, sha256 = entry.detail.get("archive_key"), entry.detail.get("sha256")
    if not key or not sha256 or not open_archive(settings.destination).exists(key, sha256):
        return None
    return ItemReport(
        key=validated.key or validated.fingerprint[:12],
        model=validated.request.model,
        prompt=request_prompt(validated),
        status="skipped",
        generation_id=(entry.generation_ids or [None])[0],
        estimated_cost_usd=validated.estimated_cost_usd,
        archive_uri=entry.archive_uri,
    )


async def run_item(
    validated: ValidatedRequest,
    credentials: OxenCredentials,
    settings: PipelineSettings,
    *,
    line: int | None = None,
    archive_extra: dict | None = None,
) -> tuple[ItemReport, ArchiveRecord | None]:
    """Generate, verify and archive one validated request; failures become a failed report."""
    item = ItemRun(validated, credentials, settings, line=line)
    await item.produce(archive_extra=archive_extra)
    return item.report, item.record


class ItemRun:
    """One item's way through the pipeline, as one `produce_video` task run."""

    def __init__(
        self, validated: ValidatedRequest, credentials: OxenCredentials, settings: PipelineSettings, *, line: int | None = None
    ) -> None:
        self.validated = validated
        self.credentials = credentials
        self.settings = settings
        self.started = time.time()
        self.record: ArchiveRecord | None = None
        self.report = ItemReport(
            key=validated.key or validated.fingerprint[:12], line=line, model=validated.request.model,
            prompt=request_prompt(validated), status="failed",
            estimated_cost_usd=validated.estimated_cost_usd,
        )

    def _failed(self, exc: Exception) -> bool:
        report = self.report
        report.error = describe_error(exc, self.credentials.secret_values())
        report.latency_seconds = round(time.time() - self.started, 3)
        # The journal knows whether the failure came after the money was spent.
        entry = journal_at(self.settings.journal_path).lookup(self.validated.identity)
        if entry is not None and entry.generation_ids:
            report.generation_id = entry.generation_ids[0]
            # Generated, then lost on the way to the archive: paid for (the history may correct it).
            if entry.state in ("enqueued", "succeeded", "persisted") and not isinstance(exc, GenerationError):
                report.cost_usd = self.validated.estimated_cost_usd
        return False

    async def produce(self, *, archive_extra: dict | None = None, poster: bool = True) -> bool:
        """Run the item; False, with the reason in the report, if it was not archived."""
        settings = self.settings
        # Whether another run left work for this item: reattaching to it collects what that run
        # paid; reattaching after a retry within this run collects this run's own submission.
        earlier = journal_at(settings.journal_path).lookup(self.validated.identity)
        left_by_another_run = (
            earlier is not None and earlier.detail.get("flow_run_id") != _flow_run_id()
        )
        try:
            # quote(): Prefect would otherwise walk these models field by field looking for
            # futures, on every item; they hold none.
            produced = await produce_video(
                quote(self.validated),
                quote(self.credentials),
                settings.work_dir,
                quote(settings.destination),
                mode=settings.mode,
                journal_path=str(settings.journal_path),
                key_template=settings.key_template,
                prefix=settings.prefix,
                timeout=settings.timeout,
                start_timeout=settings.start_timeout,
                extra=archive_extra,
                keep_local_copy=settings.keep_local_copies,
                poster=poster,
            )
        except Exception as exc:  # one item's failure must not sink the batch (cancellation still does)
            return self._failed(exc)
        result, persisted, record = produced.result, produced.persisted, produced.record
        self.record = record
        report = self.report
        report.status = "archived"
        report.generation_id = result.generation_id
        report.reattached = result.reattached and left_by_another_run
        report.video_seconds = persisted.duration_seconds
        report.latency_seconds = round(time.time() - self.started, 3)
        # Video cost is seconds x rate (the API's documented formula); a reattached generation
        # was paid once, by whichever run enqueued it, and is counted once here.
        report.cost_usd = result.cost_usd
        report.archive_uri = record.uri
        report.view_url = record.view_url
        report.sha256 = record.sha256
        report.poster_path = persisted.poster_path
        return True


def _flow_run_id() -> str | None:
    from prefect.runtime import flow_run

    return str(flow_run.id) if flow_run.id else None
