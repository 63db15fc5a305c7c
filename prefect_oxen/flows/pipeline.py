"""One item through validate -> generate -> persist -> archive, as a flow step that never raises."""

from __future__ import annotations

import time
from pathlib import Path

from prefect_oxen.blocks import OxenCredentials
from prefect_oxen.client import OxenError
from prefect_oxen.client.redaction import redact_text
from prefect_oxen.flows.report import ItemReport
from prefect_oxen.flows.settings import PipelineSettings
from prefect_oxen.tasks import archive_video, generate_video, open_archive, persist_video
from prefect_oxen.tasks.journal import GenerationJournal, JournalEntry
from prefect_oxen.tasks.results import ValidatedRequest

__all__ = ["already_archived", "describe_error", "run_item"]


def describe_error(exc: BaseException, secrets: tuple[str, ...] = ()) -> str:
    """A one-line, secret-free reason for the report."""
    name = type(exc).__name__
    text = str(exc) if isinstance(exc, (OxenError, ValueError)) else f"{name}: {exc}"
    if not text.startswith(name) and not isinstance(exc, OxenError):
        text = f"{name}: {text}"
    return redact_text(text, secrets)[:500]


def already_archived(validated: ValidatedRequest, settings: PipelineSettings) -> ItemReport | None:
    """The report of an item a previous run archived (journal says so and the object is there)."""
    entry = GenerationJournal(settings.journal_path).lookup(validated.identity)
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


async def run_item(
    validated: ValidatedRequest,
    credentials: OxenCredentials,
    settings: PipelineSettings,
    *,
    line: int | None = None,
    archive_extra: dict | None = None,
) -> tuple[ItemReport, object | None]:
    """Generate, persist and archive one validated request; failures become a failed report."""
    key = validated.key or validated.fingerprint[:12]
    started = time.time()
    report = ItemReport(key=key, line=line, model=validated.request.model, status="failed", estimated_cost_usd=validated.estimated_cost_usd)
    result = None
    try:
        result = await generate_video.with_options(task_run_name=f"generate-{key}")(
            validated,
            credentials,
            mode=settings.mode,
            journal_path=str(settings.journal_path),
            staging_dir=str(settings.work_dir / "staging"),
            timeout=settings.timeout,
            start_timeout=settings.start_timeout,
        )
        report.generation_id = result.generation_id
        report.reattached = result.reattached
        persisted = await persist_video.with_options(task_run_name=f"persist-{key}")(
            result, credentials, settings.work_dir / "videos"
        )
        record = await archive_video.with_options(task_run_name=f"archive-{key}")(
            persisted, result, settings.destination, credentials,
            key_template=settings.key_template, prefix=settings.prefix, extra=archive_extra,
        )
    except BaseException as exc:
        if not isinstance(exc, Exception):
            raise  # cancellation and interpreter exits propagate
        report.error = describe_error(exc, credentials.secret_values())
        report.latency_seconds = round(time.time() - started, 3)
        if report.generation_id and result is not None:
            report.cost_usd = validated.estimated_cost_usd  # generated (paid) but not archived
        return report, result
    GenerationJournal(settings.journal_path).record(
        JournalEntry(
            identity=validated.identity,
            state="archived",
            mode=result.mode,
            model=result.model,
            generation_ids=[result.generation_id] if result.generation_id else [],
            archive_uri=record.uri,
            detail={"archive_key": record.key, "sha256": record.sha256, "key": validated.key},
        )
    )
    if not settings.keep_local_copies:
        # The archive holds the video now; the poster stays for the contact sheet.
        Path(persisted.path).unlink(missing_ok=True)
    report.status = "archived"
    report.video_seconds = persisted.duration_seconds
    report.latency_seconds = round(time.time() - started, 3)
    # Video cost is seconds x rate (the API's documented formula); a reattached generation was
    # paid once, by whichever run enqueued it, and is counted once here.
    report.cost_usd = result.cost_usd
    report.archive_uri = record.uri
    report.view_url = record.view_url
    report.poster_path = persisted.poster_path
    return report, record

