"""`batch_flow`: many requests, bounded concurrency, one report, resumable, within budget."""


import asyncio
import contextlib
from typing import Any, Literal

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.states import Failed

from prefect_oxen.blocks import OxenCredentials
from prefect_oxen.client import OxenError
from prefect_oxen.engine import (
    GenerationSlots,
    ItemPacing,
    announce_item,
    claim_item,
    pacing_scope,
)
from prefect_oxen.flows.hooks import cancel_remote_generations, remember_run
from prefect_oxen.flows.inputs import BatchInput, BatchItem, load_batch_items
from prefect_oxen.flows.pipeline import (
    ItemRun,
    already_archived,
    archived_entry,
    describe_error,
)
from prefect_oxen.flows.report import (
    BatchIncomplete,
    BatchReport,
    ItemReport,
    Progress,
    emit_batch_event,
    emit_item_event,
    publish_report,
)
from prefect_oxen.flows.settings import PipelineSettings, aresolve_archive, aresolve_credentials
from prefect_oxen.flows.spend import SpendGuard
from prefect_oxen.storage import DEFAULT_KEY_TEMPLATE, acheck_destination
from prefect_oxen.tasks import using_shared_clients
from prefect_oxen.tasks.results import ValidatedRequest
from prefect_oxen.tasks.validate import check_request

__all__ = ["batch_flow", "validate_batch"]

DEFAULT_CONCURRENCY_LIMIT = "oxen-generations"
# Twice what the API is seen to run in parallel (16-64 slots): it always has queued work while
# this run delivers finished videos. Queued generations are cancelled unpaid if the run stops.
DEFAULT_GENERATIONS_IN_FLIGHT = 128
# Downloading, verifying and archiving is this machine's work (CPU for verification, disk, S3);
# beyond a few at once on 2 cores it only adds contention.
DEFAULT_DOWNLOADS = 8
# Items set up and submitted at once (see ItemPacing.admit): enough to overlap one item's
# submission round trip with the next one's set-up, few enough that they submit in order.
_STARTING_AT_ONCE = 4


@task(name="validate-batch", cache_policy=NO_CACHE)
async def validate_batch(
    batch: BatchInput, credentials: OxenCredentials
) -> tuple[list[tuple[BatchItem, ValidatedRequest]], list[ItemReport]]:
    """Check every item before anything is paid; invalid ones become `rejected` reports."""
    valid: list[tuple[BatchItem, ValidatedRequest]] = []
    rejected = [
        ItemReport(key=problem.key, line=problem.line, status="rejected", error=problem.error)
        for problem in batch.problems
    ]
    for item in batch.items:
        where = f"line {item.line}: " if batch.source != "parameters" and item.line else ""
        try:
            valid.append((item, await check_request(item.request, credentials, key=item.key)))
        except (OxenError, ValueError) as exc:
            if isinstance(exc, OxenError) and exc.retryable:
                raise  # the API is unreachable: that is not the item's fault
            rejected.append(ItemReport(
                key=item.key, line=item.line, model=str(item.request.get("model") or "") or None,
                status="rejected", error=where + describe_error(exc, credentials.secret_values()),
            ))
    return valid, rejected


async def _ensure_concurrency_limit(name: str, limit: int) -> None:
    """Create the global concurrency limit if it does not exist (a missing one is not enforced)."""
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        try:
            await client.read_global_concurrency_limit_by_name(name)
        except Exception:
            from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

            with contextlib.suppress(Exception):  # created concurrently by another run
                await client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=limit))


@flow(
    name="oxen-batch",
    on_cancellation=[cancel_remote_generations],
    on_crashed=[cancel_remote_generations],
)
async def batch_flow(
    items: list[dict[str, Any]] | str,
    credentials: OxenCredentials | None = None,
    archive: str = "oxen-archive",
    archive_block: str | None = None,
    concurrency: int = DEFAULT_GENERATIONS_IN_FLIGHT,
    downloads: int = DEFAULT_DOWNLOADS,
    budget: float | None = None,
    on_budget: Literal["refuse", "partial"] = "refuse",
    dry_run: bool = False,
    mode: Literal["auto", "sync", "queue"] = "auto",
    key_template: str = DEFAULT_KEY_TEMPLATE,
    prefix: str = "oxen",
    journal: str | None = None,
    work_dir: str | None = None,
    concurrency_limit: str | None = DEFAULT_CONCURRENCY_LIMIT,
    concurrency_limit_default: int | None = None,
    timeout_per_item: float = 3600.0,
    contact_sheet_size: int = 24,
) -> BatchReport:
    """Generate, verify and archive every request of a batch, and report what happened.

    Every item is validated and priced before anything is paid; a bad line is logged and
    reported with its line number and the rest run. Re-running the same batch skips what is
    archived and reattaches to generations already paid for; two runs of one batch at the same
    time each wait for the items the other holds. Ends Completed when every item is archived (or
    skipped), Failed otherwise, with the report in the ``oxen-batch-report`` artifact and in the
    raised `BatchIncomplete`; the state message says what was rejected and what this run paid.

    Args:
        items: A .jsonl or .csv file (local path or s3:// URI) with one request per line, or a
            list of requests; each may carry an "id" (else item-NNNN by line).
        credentials: The saved Oxen Credentials block to use; empty means OXEN_API_KEY and
            OXEN_BASE_URL from the worker's environment.
        archive: Where videos go: a local directory or an s3://bucket/prefix URI.
        archive_block: Name of a saved prefect-aws S3Bucket block; when set it wins over
            archive.
        concurrency: Most generations of this run unfinished on the API at once (queued or
            running), so the API always has the next one while finished videos are delivered.
        downloads: Most videos downloaded, verified and archived at once on this machine.
        budget: Most US dollars this run may spend; empty means no limit.
        on_budget: Over budget: "refuse" the whole batch before paying anything, or "partial":
            run until the next item would cross the budget.
        dry_run: Validate and price every item, pay for nothing.
        mode: How to call the API: "queue" (async queue, resumable), "sync" (one blocking call)
            or "auto" (the queue where the model allows it).
        key_template: Archive object path template ({prefix}, {date}, {model}, {key}).
        prefix: First part of every archive path.
        journal: Path of the journal that lets a re-run reattach to paid generations; empty
            means inside the archive (local) or under PREFECT_HOME (S3).
        work_dir: Scratch directory for downloads; empty means next to the journal.
        concurrency_limit: Prefect global concurrency limit shared by all runs (`prefect gcl
            create oxen-generations --limit N`); not enforced while it does not exist.
        concurrency_limit_default: Slots of concurrency_limit to create it with when missing;
            empty means never create it.
        timeout_per_item: Seconds one item may take before its generation is cancelled.
        contact_sheet_size: How many posters the summary artifact's contact sheet shows.
    """
    logger = get_run_logger()
    creds = await aresolve_credentials(credentials)
    destination = await aresolve_archive(archive, archive_block)
    settings = PipelineSettings.build(
        destination, journal=journal, work_dir=work_dir, mode=mode, key_template=key_template,
        prefix=prefix, timeout=timeout_per_item,
    )
    remember_run(creds, settings.journal_path)  # the cancel hooks need the real key, not Prefect's mask
    async with using_shared_clients():
        batch = load_batch_items(items)
        valid, rejected = await validate_batch(batch, creds)
        estimate = round(sum(v.estimated_cost_usd or 0.0 for _, v in valid), 6)
        logger.info(
            "Batch of %d item(s) from %s: %d valid, %d rejected, estimated cost $%.2f.",
            len(batch.items) + len(batch.problems), batch.source, len(valid), len(rejected), estimate,
        )
        reports: dict[str, ItemReport] = {r.key: r for r in rejected}
        for problem in rejected:
            _log_rejection(problem, batch.source)
            announce_item(problem.key, problem.status)
        # The report reads like the input: in line order, bad lines where they were.
        entries = [(p.line or 0, p.key) for p in batch.problems] + [(i.line or 0, i.key) for i in batch.items]
        order = [key for _, key in sorted(entries, key=lambda entry: entry[0])]

        if dry_run:
            for item, validated in valid:
                reports[item.key] = ItemReport(key=item.key, line=item.line, model=validated.request.model, status="validated", estimated_cost_usd=validated.estimated_cost_usd)
                announce_item(item.key, "validated")
            return await _finish(reports, order, estimate, budget, dry_run=True)

        if budget is not None and estimate > budget and on_budget == "refuse":
            for item, validated in valid:
                reports[item.key] = ItemReport(key=item.key, line=item.line, model=validated.request.model, status="not_submitted", estimated_cost_usd=validated.estimated_cost_usd, error=f"batch refused: estimate ${estimate:.2f} exceeds budget ${budget:.2f}")
            report = await _finish(reports, order, estimate, budget, source=batch.source)
            return Failed(
                message=f"Refused: estimated cost ${estimate:.2f} exceeds the budget ${budget:.2f}; nothing was submitted.",
                data=BatchIncomplete(report),
            )

        await acheck_destination(settings.destination)  # unwritable or unreachable: fail before paying
        if concurrency_limit and concurrency_limit_default:
            await _ensure_concurrency_limit(concurrency_limit, concurrency_limit_default)
        guard = SpendGuard(budget)
        progress = Progress(len(valid))
        await progress.start(f"{len(valid)} videos from {batch.source}")
        batch_id = _flow_run_id()
        deliveries = asyncio.Semaphore(max(1, downloads))
        starts = asyncio.Semaphore(_STARTING_AT_ONCE)

        async def one(index: int, item: BatchItem, validated: ValidatedRequest, slots: GenerationSlots) -> None:
            report = await _run_one(
                item, validated, ItemPacing(slots, deliveries, starts), creds, settings, guard,
                poster=index < contact_sheet_size, source=batch.source,
            )
            reports[item.key] = report
            if report.status in ("archived", "failed"):
                emit_item_event(report, batch_id=batch_id)
            await progress.advance(item.key, report.status)

        async with GenerationSlots(concurrency, concurrency_limit) as slots:
            _log_admission(slots)
            await asyncio.gather(*(one(i, item, validated, slots) for i, (item, validated) in enumerate(valid)))
        if slots.shared:
            logger.info(
                "Admission through %r cost %d Prefect API call(s) for %d item(s).",
                slots.limit_name, slots.api_calls, len(valid),
            )
        await _read_back_costs(reports, creds)
        report = await _finish(
            reports, order, estimate, budget, batch_id=batch_id, sheet=contact_sheet_size,
            source=batch.source,
        )
        if not report.ok:
            logger.warning("Batch incomplete: %s.", report.summary())
            return Failed(message=f"Partially failed: {report.summary()}.", data=BatchIncomplete(report))
        logger.info("Batch complete: %s.", report.summary())
        return report


async def _read_back_costs(reports: dict[str, ItemReport], credentials: OxenCredentials) -> None:
    """Replace price-list costs with what the API actually billed, where its history says."""
    from prefect_oxen.tasks import shared_async_client

    ids = [r.generation_id for r in reports.values() if r.generation_id]
    if not ids:
        return
    try:
        billed = await shared_async_client(credentials).generation_costs(ids)
    except OxenError as exc:  # an older API without history: keep the price-list figures
        get_run_logger().info("Could not read actual costs back (%s); reporting price-list costs.", type(exc).__name__)
        return
    for report in reports.values():
        if report.generation_id in billed:
            report.cost_usd = billed[report.generation_id]


async def _run_one(
    item: BatchItem,
    validated: ValidatedRequest,
    pacing: ItemPacing,
    creds: OxenCredentials,
    settings: PipelineSettings,
    guard: SpendGuard,
    *,
    poster: bool,
    source: str,
) -> ItemReport:
    """One item of the batch, from the archive check to its report; never raises but to cancel."""
    skipped = await _skipped(item, validated, settings)
    if skipped is not None:
        return skipped
    # Claimed before paying, so an overlapping run of the same batch waits for this item
    # instead of paying for it too; whoever waited reads the journal again.
    async with claim_item(settings.journal_path, validated.identity, label=item.key) as waited:
        if waited and (skipped := await _skipped(item, validated, settings)) is not None:
            return skipped
        await pacing.admit()
        try:
            # Reserved once admitted, so a failure's refund is there for the items still waiting.
            if not guard.reserve(validated.estimated_cost_usd):
                return ItemReport(
                    key=item.key, line=item.line, model=validated.request.model, status="not_submitted",
                    estimated_cost_usd=validated.estimated_cost_usd,
                    error=f"budget ${guard.budget:.2f} reached (spent or committed ${guard.committed:.2f})",
                )
            run = ItemRun(validated, creds, settings, line=item.line)
            with pacing_scope(pacing):
                await run.produce(archive_extra={"batch": source}, poster=poster)
        finally:
            pacing.finish_generation()
    guard.settle(validated.estimated_cost_usd, run.report.cost_usd)
    return run.report


async def _skipped(item: BatchItem, validated: ValidatedRequest, settings: PipelineSettings) -> ItemReport | None:
    """The report of an item already archived by an earlier run, if it still is."""
    # Only a journaled item costs a look at the archive (an S3 HEAD, off the loop).
    entry = archived_entry(validated, settings)
    skipped = await asyncio.to_thread(already_archived, validated, settings, entry) if entry else None
    if skipped is not None:
        skipped.line = item.line
    return skipped


def _log_admission(slots: GenerationSlots) -> None:
    if slots.shared:
        get_run_logger().info(
            "Up to %d generation(s) of this run on the API at once, within the %d slots of the global "
            "concurrency limit %r shared by all runs.", slots.local, slots.shared_limit, slots.limit_name,
        )
    else:
        get_run_logger().info(
            "Up to %d generation(s) of this run on the API at once%s.", slots.local,
            f" (no global concurrency limit {slots.limit_name!r}: create one with `prefect gcl create "
            f"{slots.limit_name} --limit N` to share a bound across runs)" if slots.limit_name else "",
        )


def _log_rejection(item: ItemReport, source: str) -> None:
    """One WARNING per rejected line: where it is, its id and why."""
    reason = item.error or "rejected"
    where = f"{'item' if source == 'parameters' else 'line'} {item.line}"
    # Reasons from the file reader and the validator already start with "line N: ".
    if reason.startswith(("line ", "row ", "item ")) and ": " in reason:
        where, reason = reason.split(": ", 1)
    get_run_logger().warning("Rejected %s (%s): %s", where, item.key, reason)


async def _finish(
    reports: dict[str, ItemReport], order: list[str], estimate: float, budget: float | None,
    *, dry_run: bool = False, batch_id: str | None = None, sheet: int = 24,
    source: str | None = None,
) -> BatchReport:
    report = BatchReport(
        items=[reports[key] for key in order if key in reports],
        estimated_cost_usd=estimate, budget_usd=budget, dry_run=dry_run,
    )
    await publish_report(report, title="Oxen dry run" if dry_run else "Oxen batch", contact_sheet_limit=sheet)
    if not dry_run:
        emit_batch_event(report, batch_id=batch_id, source=source)
    return report


def _flow_run_id() -> str | None:
    from prefect.runtime import flow_run

    return str(flow_run.id) if flow_run.id else None
