"""`batch_flow`: many requests, bounded concurrency, one report, resumable, within budget."""

import asyncio
import logging
from typing import Any, Literal

from prefect import Flow, flow, get_run_logger
from prefect.client.schemas.objects import FlowRun, State
from prefect.logging.loggers import LoggingAdapter
from prefect.states import Failed

from prefect_oxen.blocks import OxenCredentials
from prefect_oxen.engine import (
    BatchIncomplete,
    BatchItem,
    BatchPlan,
    BatchReport,
    GenerationSlots,
    ItemPacing,
    ResolvedRun,
    RunPlaces,
    SpendGuard,
    ValidatedRequest,
    cancel_remote_generations,
    current_flow_run,
    ensure_concurrency_limit,
    hook_logger,
    load_batch_items,
    log_admission,
    read_back_costs,
    remember_plan,
    run_batch_item,
    server_keeps_data_in_sqlite,
    started_run,
)
from prefect_oxen.flows.report import (
    Progress,
    emit_item_event,
    finish_batch,
    report_stopped_batch,
)
from prefect_oxen.storage import DEFAULT_KEY_TEMPLATE, acheck_destination
from prefect_oxen.tasks import produce_video, validate_batch

__all__ = ["batch_flow"]

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


def _batch_stopped(flow: Flow[..., Any], flow_run: FlowRun, state: State[Any]) -> None:
    """Stop hook: cancel what the run left on the API, then report the batch as it stood.

    Every item the stop caught unfinished is reported ``cancelled`` (with whether its video had
    been paid for), the report and summary artifacts are published, ``oxen.batch.completed``
    goes out with ``oxen.outcome: cancelled``, and one WARNING says what happened. In the
    process that ran the batch (Ctrl-C, a direct call) the whole report is known; in the worker
    that cancelled it (the UI's Cancel), what the stop cancelled is.
    """
    cancel_remote_generations(flow, flow_run, state)
    try:
        report_stopped_batch(flow_run, state)
    except Exception as exc:  # a hook never raises: the generations are already cancelled
        hook_logger(flow_run, flow).warning(
            "Could not publish the stopped batch's report: %s", type(exc).__name__
        )


@flow(
    name="oxen-batch",
    on_cancellation=[_batch_stopped],
    on_crashed=[_batch_stopped],
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
        archive: Where videos go: a local directory, an s3://bucket/prefix URI or an
            oxen://NAMESPACE/REPO[@BRANCH][/PREFIX] repository (one commit per run).
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
        journal: Where the run state lives (what was paid for, who holds an item), which lets
            a re-run reattach without paying twice; empty means with the archive (a file in a
            local one, objects under an S3 one; for oxen:// a file under PREFECT_HOME). An
            s3:// location shares it between machines.
        work_dir: Scratch directory for downloads; empty means next to the journal.
        concurrency_limit: Prefect global concurrency limit shared by all runs (`prefect gcl
            create oxen-generations --limit N`); not enforced while it does not exist.
        concurrency_limit_default: Slots of concurrency_limit to create it with when missing;
            empty means never create it.
        timeout_per_item: Seconds one item may take before its generation is cancelled.
        contact_sheet_size: How many posters the summary artifact's contact sheet shows.

    Returns:
        The batch report (every item's outcome, this run's spend); a Failed state carrying it
        in `BatchIncomplete` when any item was not archived or the budget refused the batch.

    Raises:
        ArchiveUnavailable: The archive cannot be written (before anything is paid).
        InvalidObjectKey: The key template makes no valid key (before anything is paid).
        OxenError: The API could not be reached while validating.
    """
    # The flow's own parameters, read as its stop hook reads them.
    places = RunPlaces.model_validate(locals())
    logger = get_run_logger()
    # The archive is checked once the batch is to be paid for (a dry run writes nothing).
    async with started_run(
        places,
        check_destination=False,
        mode=mode,
        key_template=key_template,
        prefix=prefix,
        timeout=timeout_per_item,
    ) as run:
        creds, settings = run.credentials, run.settings
        batch = load_batch_items(items)
        plan = BatchPlan(batch, *await validate_batch(batch, creds))
        remember_plan(current_flow_run().id, plan)  # for the stop hook, if the run is stopped
        plan.log_intake(logger)
        if dry_run:
            plan.mark_all("validated")
            return await finish_batch(plan.report(budget, dry_run=True))
        if plan.refused_by(budget, on_budget):
            return await _refuse(plan, budget)
        await acheck_destination(settings.destination)  # unwritable or unreachable: fail first
        if concurrency_limit and concurrency_limit_default:
            await ensure_concurrency_limit(concurrency_limit, concurrency_limit_default)
        batch_id = current_flow_run().id
        await _produce_all(
            plan,
            run,
            SpendGuard(budget),
            batch_id=batch_id,
            concurrency=concurrency,
            concurrency_limit=concurrency_limit,
            downloads=downloads,
            contact_sheet_size=contact_sheet_size,
            logger=logger,
        )
        await read_back_costs(plan.reports, creds, logger)
        report = await finish_batch(
            plan.report(budget),
            batch_id=batch_id,
            contact_sheet_limit=contact_sheet_size,
            source=plan.source,
        )
        return _outcome(report, logger)


async def _refuse(plan: BatchPlan, budget: float | None) -> BatchReport:
    """Report every item not submitted and fail the run: the estimate exceeds the budget."""
    estimate, limit = f"${plan.estimate:.2f}", f"${budget or 0:.2f}"
    plan.mark_all("not_submitted", f"batch refused: estimate {estimate} exceeds budget {limit}")
    report = await finish_batch(plan.report(budget), source=plan.source)
    return Failed(  # type: ignore[return-value]
        message=f"Refused: estimated cost {estimate} exceeds the budget {limit}; nothing was "
        "submitted.",
        data=BatchIncomplete(report),
    )


async def _produce_all(
    plan: BatchPlan,
    run: ResolvedRun,
    guard: SpendGuard,
    *,
    batch_id: str | None,
    concurrency: int,
    concurrency_limit: str | None,
    downloads: int,
    contact_sheet_size: int,
    logger: logging.Logger | LoggingAdapter,
) -> None:
    """Run every valid item as a `produce_video` task run, paced, and publish each end."""
    progress = Progress(len(plan.valid))
    await progress.start(f"{len(plan.valid)} videos from {plan.source}")
    deliveries = asyncio.Semaphore(max(1, downloads))
    starts = asyncio.Semaphore(_STARTING_AT_ONCE)

    async def one(
        index: int, item: BatchItem, validated: ValidatedRequest, slots: GenerationSlots
    ) -> None:
        """Run one item and publish its end."""
        report = await run_batch_item(
            item,
            validated,
            ItemPacing(slots, deliveries, starts),
            run.credentials,
            run.settings,
            guard,
            produce_video,
            poster=index < contact_sheet_size,
            source=plan.source,
        )
        plan.reports[item.key] = report
        if report.status in ("archived", "failed"):
            emit_item_event(report, batch_id=batch_id)
        await progress.advance(item.key, report.status)

    async with GenerationSlots(concurrency, concurrency_limit) as slots:
        log_admission(slots, logger, sqlite=slots.shared and await server_keeps_data_in_sqlite())
        await asyncio.gather(
            *(one(i, item, valid, slots) for i, (item, valid) in enumerate(plan.valid))
        )
    if slots.shared:
        logger.info(
            "Admission through %r cost %d Prefect API call(s) for %d item(s).",
            slots.limit_name,
            slots.api_calls,
            len(plan.valid),
        )


def _outcome(report: BatchReport, logger: logging.Logger | LoggingAdapter) -> BatchReport:
    """The report when every item was archived, else a Failed state carrying it."""
    if not report.ok:
        logger.warning("Batch incomplete: %s.", report.summary())
        return Failed(  # type: ignore[return-value]
            message=f"Partially failed: {report.summary()}.", data=BatchIncomplete(report)
        )
    logger.info("Batch complete: %s.", report.summary())
    return report
