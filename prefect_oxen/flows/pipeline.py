"""One item through validate -> generate -> persist -> archive, as a flow step that never raises."""

from __future__ import annotations

import time

from prefect.cache_policies import NO_CACHE

from prefect_oxen.blocks import OxenCredentials
from prefect_oxen.client import OxenError
from prefect_oxen.client.redaction import redact_text
from prefect_oxen.flows.report import ItemReport
from prefect_oxen.flows.settings import PipelineSettings
from prefect_oxen.storage import ArchiveRecord
from prefect_oxen.tasks import deliver_video, generate_video, open_archive
from prefect_oxen.tasks.journal import JournalEntry, journal_at
from prefect_oxen.tasks.results import GenerationResult, ValidatedRequest

__all__ = ["ItemRun", "already_archived", "describe_error", "run_item"]


def describe_error(exc: BaseException, secrets: tuple[str, ...] = ()) -> str:
    """A one-line, secret-free reason for the report."""
    name = type(exc).__name__
    text = str(exc) if isinstance(exc, (OxenError, ValueError)) else f"{name}: {exc}"
    if not text.startswith(name) and not isinstance(exc, OxenError):
        text = f"{name}: {text}"
    return redact_text(text, secrets)[:500]


def already_archived(validated: ValidatedRequest, settings: PipelineSettings) -> ItemReport | None:
    """The report of an item a previous run archived (journal says so and the object is there)."""
    entry = journal_at(settings.journal_path).lookup(validated.identity)
    if entry is None or entry.state != "archived":
        return None
    key, sha256 = entry.detail.get("archive_key"), entry.detail.get("sha256")
    if not key or not sha256:
        return None
    target = open_archive(settings.destination)
    if not target.exists(key, sha256):
        return None
    return ItemReport(
        key=validated.key or validated.fingerprint[:12],
        model=validated.request.model,
        status="skipped",
        generation_id=(entry.generation_ids or [None])[0],
        estimated_cost_usd=validated.estimated_cost_usd,
        archive_uri=entry.archive_uri,
        error=None,
    )


# In the flows the journal already makes generation idempotent across runs, so the task's result
# cache (a result file written per item) is pure overhead here; the standalone task keeps it.
_generate = generate_video.with_options(cache_policy=NO_CACHE, persist_result=False)


async def run_item(
    validated: ValidatedRequest,
    credentials: OxenCredentials,
    settings: PipelineSettings,
    *,
    line: int | None = None,
    archive_extra: dict | None = None,
) -> tuple[ItemReport, ArchiveRecord | None]:
    """Generate, then deliver (persist + archive) one validated request; failures become a
    failed report."""
    item = ItemRun(validated, credentials, settings, line=line)
    if await item.generate():
        await item.deliver(archive_extra=archive_extra)
    return item.report, item.record


class ItemRun:
    """One item's way through the pipeline, in two steps a batch schedules separately: only
    `generate` needs an API slot, so the next item is submitted while this one downloads."""

    def __init__(
        self, validated: ValidatedRequest, credentials: OxenCredentials, settings: PipelineSettings, *, line: int | None = None
    ) -> None:
        self.validated = validated
        self.credentials = credentials
        self.settings = settings
        self.started = time.time()
        self.result: GenerationResult | None = None
        self.record: ArchiveRecord | None = None
        self.report = ItemReport(
            key=validated.key or validated.fingerprint[:12], line=line, model=validated.request.model,
            status="failed", estimated_cost_usd=validated.estimated_cost_usd,
        )

    def _failed(self, exc: Exception) -> bool:
        self.report.error = describe_error(exc, self.credentials.secret_values())
        self.report.latency_seconds = round(time.time() - self.started, 3)
        if self.result is not None:
            self.report.cost_usd = self.result.cost_usd  # generated (paid) but not archived
        return False

    async def generate(self) -> bool:
        """Pay for (or reattach to) the video; False, with the reason reported, if that failed."""
        settings = self.settings
        try:
            self.result = await _generate(
                self.validated,
                self.credentials,
                mode=settings.mode,
                journal_path=str(settings.journal_path),
                staging_dir=str(settings.work_dir / "staging"),
                timeout=settings.timeout,
                start_timeout=settings.start_timeout,
            )
        except Exception as exc:  # one item's failure must not sink the batch (cancellation still does)
            return self._failed(exc)
        self.report.generation_id = self.result.generation_id
        self.report.reattached = self.result.reattached
        return True

    async def deliver(self, *, archive_extra: dict | None = None) -> bool:
        """Download, verify and archive the generated video, then journal it as archived."""
        assert self.result is not None, "generate() first"
        result, settings = self.result, self.settings
        try:
            delivered = await deliver_video(
                result, self.credentials, settings.work_dir / "videos", settings.destination,
                key_template=settings.key_template, prefix=settings.prefix, extra=archive_extra,
                keep_local_copy=settings.keep_local_copies,
            )
        except Exception as exc:
            return self._failed(exc)
        persisted, record = delivered.persisted, delivered.record
        await journal_at(settings.journal_path).arecord(
            JournalEntry(
                identity=self.validated.identity,
                state="archived",
                mode=result.mode,
                model=result.model,
                generation_ids=[result.generation_id] if result.generation_id else [],
                archive_uri=record.uri,
                detail={"archive_key": record.key, "sha256": record.sha256, "key": self.validated.key},
            )
        )
        self.record = record
        report = self.report
        report.status = "archived"
        report.video_seconds = persisted.duration_seconds
        report.latency_seconds = round(time.time() - self.started, 3)
        # Video cost is seconds x rate (the API's documented formula); a reattached generation
        # was paid once, by whichever run enqueued it, and is counted once here.
        report.cost_usd = result.cost_usd
        report.archive_uri = record.uri
        report.view_url = record.view_url
        report.poster_path = persisted.poster_path
        return True
