"""A batch's plain machinery: its plan (reports so far, input order, estimate), running one
item of it (archive check, claim, admission, budget), reading actual costs back.

The flow (`prefect_oxen.flows.batch_flow`) strings these together with its tasks and publishes
what they report.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from typing import Any

from prefect_oxen.blocks import OxenCredentials
from prefect_oxen.client import OxenError
from prefect_oxen.engine._admission import GenerationSlots, ItemPacing, pacing_scope
from prefect_oxen.engine._budget import SpendGuard
from prefect_oxen.engine._clients import shared_async_client
from prefect_oxen.engine._inputs import BatchInput, BatchItem
from prefect_oxen.engine._item import ItemRun, Producer, already_archived, archived_entry
from prefect_oxen.engine._records import ValidatedRequest
from prefect_oxen.engine._report import BatchReport, ItemReport, ItemStatus, announce_item
from prefect_oxen.engine._settings import PipelineSettings

__all__ = [
    "BatchPlan",
    "database_is_sqlite",
    "ensure_concurrency_limit",
    "log_admission",
    "read_back_costs",
    "remember_plan",
    "remembered_plan",
    "run_batch_item",
    "server_keeps_data_in_sqlite",
]

Logger = logging.Logger | logging.LoggerAdapter[Any]


class BatchPlan:
    """A validated batch: every item's report so far, in the order of the input.

    Args:
        batch: The items read from the input, with the lines that could not be read.
        valid: The items that passed validation, with their validated requests.
        rejected: The reports of the lines and items that did not.
    """

    def __init__(
        self,
        batch: BatchInput,
        valid: list[tuple[BatchItem, ValidatedRequest]],
        rejected: list[ItemReport],
    ) -> None:
        self.source = batch.source
        self.valid = valid
        self.rejected = rejected
        self.total = len(batch.items) + len(batch.problems)
        self.reports: dict[str, ItemReport] = {r.key: r for r in rejected}
        self.estimate = round(sum(v.estimated_cost_usd or 0.0 for _, v in valid), 6)
        # The report reads like the input: in line order, bad lines where they were.
        entries = [(p.line or 0, p.key) for p in batch.problems]
        entries += [(i.line or 0, i.key) for i in batch.items]
        self.order = [key for _, key in sorted(entries, key=lambda entry: entry[0])]

    def log_intake(self, logger: Logger) -> None:
        """Log what was read and rejected (one WARNING per rejected line), and announce the
        rejections to this process's listeners.

        Args:
            logger: The run logger.
        """
        logger.info(
            "Batch of %d item(s) from %s: %d valid, %d rejected, estimated cost $%.2f.",
            self.total,
            self.source,
            len(self.valid),
            len(self.rejected),
            self.estimate,
        )
        for problem in self.rejected:
            reason = problem.error or "rejected"
            where = f"{'item' if self.source == 'parameters' else 'line'} {problem.line}"
            # Reasons from the file reader and the validator already start with "line N: ".
            if reason.startswith(("line ", "row ", "item ")) and ": " in reason:
                where, reason = reason.split(": ", 1)
            # A line with no usable id is keyed by its label ("line 2"): say it once.
            named = "" if " " in problem.key else f" ({problem.key})"
            logger.warning("Rejected %s%s: %s", where, named, reason)
            announce_item(problem.key, problem.status)

    def refused_by(self, budget: float | None, on_budget: str) -> bool:
        """Whether the whole batch is refused before paying anything.

        Args:
            budget: The run's budget (None: no limit).
            on_budget: "refuse" or "partial".

        Returns:
            True when the estimate exceeds the budget and `on_budget` is "refuse".
        """
        return budget is not None and self.estimate > budget and on_budget == "refuse"

    def mark_all(self, status: ItemStatus, error: str | None = None) -> None:
        """Give every valid item the same outcome (a dry run, a refused batch).

        Args:
            status: "validated" (announced as it is set) or "not_submitted".
            error: Why, for the report.
        """
        for item, validated in self.valid:
            self.reports[item.key] = ItemReport(
                key=item.key,
                line=item.line,
                model=validated.request.model,
                status=status,
                estimated_cost_usd=validated.estimated_cost_usd,
                error=error,
            )
            if status == "validated":
                announce_item(item.key, status)

    def mark_stopped(self, finished: dict[str, str]) -> list[ItemReport]:
        """Report every valid item the stop caught unfinished as ``cancelled``.

        Args:
            finished: Item keys whose generation had already succeeded (paid: the next run
                collects it), with its generation id; every other one was not billed.

        Returns:
            The reports of the items marked.
        """
        marked = []
        for item, validated in self.valid:
            if item.key in self.reports:
                continue
            paid = item.key in finished
            report = ItemReport(
                key=item.key,
                line=item.line,
                model=validated.request.model,
                status="cancelled",
                generation_id=finished.get(item.key),
                estimated_cost_usd=validated.estimated_cost_usd,
                cost_usd=validated.estimated_cost_usd if paid else None,
                error="stopped after its video was paid for: re-running the batch archives it "
                "without paying again"
                if paid
                else "stopped before its video was made: not billed",
            )
            self.reports[item.key] = report
            marked.append(report)
        return marked

    def report(self, budget: float | None, *, dry_run: bool = False) -> BatchReport:
        """The batch report of what is known now.

        Args:
            budget: The run's budget, shown in the report.
            dry_run: Whether nothing was meant to be paid.

        Returns:
            Every item's report in input order, with the estimate.
        """
        return BatchReport(
            items=[self.reports[key] for key in self.order if key in self.reports],
            estimated_cost_usd=self.estimate,
            budget_usd=budget,
            dry_run=dry_run,
        )


async def run_batch_item(
    item: BatchItem,
    validated: ValidatedRequest,
    pacing: ItemPacing,
    credentials: OxenCredentials,
    settings: PipelineSettings,
    guard: SpendGuard,
    producer: Producer,
    *,
    poster: bool,
    source: str,
) -> ItemReport:
    """One item of a batch, from the archive check to its report; never raises but to cancel.

    Args:
        item: The item.
        validated: Its validated request.
        pacing: The run's slots and places (generation, delivery, start).
        credentials: The credentials to pay with.
        settings: The run's settings.
        guard: The run's budget.
        producer: The `produce_video` task.
        poster: Write a poster frame (for the contact sheet).
        source: Where the batch came from (recorded in the manifest).

    Returns:
        The item's report: archived, skipped, failed or not submitted.
    """
    # Claimed first, so an overlapping run of the same batch (on this machine or another)
    # waits for this item instead of paying for it too; inside the claim the state read is
    # current: an item another run archived meanwhile is skipped.
    async with settings.state().claim(validated.identity, label=item.key):
        if (skipped := await _skipped(item, validated, settings)) is not None:
            return skipped
        await pacing.admit()
        try:
            # Reserved once admitted, so a failure's refund is there for the items still waiting.
            if not guard.reserve(validated.estimated_cost_usd):
                return ItemReport(
                    key=item.key,
                    line=item.line,
                    model=validated.request.model,
                    status="not_submitted",
                    estimated_cost_usd=validated.estimated_cost_usd,
                    error=guard.refusal(),
                )
            run = ItemRun(validated, credentials, settings, line=item.line)
            with pacing_scope(pacing):
                await run.produce(producer, archive_extra={"batch": source}, poster=poster)
        finally:
            pacing.finish_generation()
    guard.settle(validated.estimated_cost_usd, run.report.cost_usd)
    return run.report


# The plans of this process's running batches, so a stop hook in the same process can report
# what each item came to; a long-lived process (serve) keeps only the latest few.
_LIVE_PLANS: OrderedDict[str, BatchPlan] = OrderedDict()
_LIVE_PLANS_KEPT = 64


def remember_plan(flow_run_id: str | None, plan: BatchPlan) -> None:
    """Keep `plan` for the stop hooks of `flow_run_id` in this process.

    Args:
        flow_run_id: The batch's flow run (nothing is kept outside a run).
        plan: Its plan, updated as items end.
    """
    if flow_run_id:
        _LIVE_PLANS[flow_run_id] = plan
        while len(_LIVE_PLANS) > _LIVE_PLANS_KEPT:
            _LIVE_PLANS.popitem(last=False)


def remembered_plan(flow_run_id: str) -> BatchPlan | None:
    """The plan of a batch that ran in this process, if any.

    Args:
        flow_run_id: The batch's flow run.

    Returns:
        Its plan, or None (the hook runs elsewhere, e.g. in a worker).
    """
    return _LIVE_PLANS.get(str(flow_run_id))


async def _skipped(
    item: BatchItem, validated: ValidatedRequest, settings: PipelineSettings
) -> ItemReport | None:
    """The report of an item already archived by an earlier run, if it still is."""
    # Only an item some run archived costs a look at the archive (an S3 HEAD, off the loop).
    entry = await archived_entry(validated, settings)
    if entry is None:
        return None
    skipped = await asyncio.to_thread(already_archived, validated, settings, entry)
    if skipped is not None:
        skipped.line = item.line
    return skipped


async def read_back_costs(
    reports: dict[str, ItemReport], credentials: OxenCredentials, logger: Logger
) -> None:
    """Replace price-list costs with what the API actually billed, where its history says.

    Args:
        reports: The items' reports (changed in place).
        credentials: The credentials whose history to read.
        logger: The run logger (an API without history is reported there, not raised).
    """
    ids = [r.generation_id for r in reports.values() if r.generation_id]
    if not ids:
        return
    try:
        billed = await shared_async_client(credentials).generation_costs(ids)
    except OxenError as exc:  # an older API without history: keep the price-list figures
        logger.info(
            "Could not read actual costs back (%s); reporting price-list costs.",
            type(exc).__name__,
        )
        return
    for report in reports.values():
        if report.generation_id in billed:
            report.cost_usd = billed[report.generation_id]


async def ensure_concurrency_limit(name: str, limit: int) -> None:
    """Create the global concurrency limit if it does not exist (a missing one is not enforced).

    Args:
        name: The limit's name.
        limit: The slots to create it with.
    """
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        try:
            await client.read_global_concurrency_limit_by_name(name)
        except Exception:
            from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

            with contextlib.suppress(Exception):  # created concurrently by another run
                await client.create_global_concurrency_limit(
                    GlobalConcurrencyLimitCreate(name=name, limit=limit)
                )


async def server_keeps_data_in_sqlite() -> bool:
    """Whether the Prefect server this run talks to stores its data in SQLite (its default).

    Read from the server's own settings (``GET /admin/settings``): an unset database URL is
    Prefect's SQLite default; a set one is obfuscated, so then only an explicit driver tells.

    Returns:
        True when the server uses SQLite; False for PostgreSQL, Prefect Cloud, or when unknown.
    """
    from prefect.client.orchestration import get_client

    try:
        async with get_client() as client:
            response = await client._client.get("/admin/settings")  # no public method for it
            database = response.json().get("server", {}).get("database", {})
    except Exception:  # Cloud has no such route; unknown is not SQLite
        return False
    return database_is_sqlite(database)


def database_is_sqlite(database: dict[str, Any]) -> bool:
    """Whether a server's ``server.database`` settings (as ``/admin/settings`` shows them) are
    SQLite: an explicit sqlite driver, or no database configured at all (Prefect's default).

    Args:
        database: The settings, with the connection URL obfuscated if set.

    Returns:
        True for SQLite; False for PostgreSQL or a URL that cannot be read.
    """
    driver = str(database.get("driver") or "")
    configured = database.get("connection_url") or database.get("host")
    return driver.startswith("sqlite") or (not driver and not configured)


def log_admission(slots: GenerationSlots, logger: Logger, *, sqlite: bool = False) -> None:
    """Say how many generations of this run may be on the API at once, and under which limit.

    Args:
        slots: The run's generation slots (entered).
        logger: The run logger.
    """
    if slots.shared:
        logger.info(
            "Up to %d generation(s) of this run on the API at once, within the %d slots of the "
            "global concurrency limit %r shared by all runs.",
            slots.local,
            slots.shared_limit,
            slots.limit_name,
        )
        if sqlite:
            logger.warning(
                "This Prefect server keeps its data in SQLite: every slot of %r this run takes or "
                "gives back is a write that waits behind the server's other writes, so runs "
                "sharing the limit keep the API about 25 %% less busy than the limit allows "
                "(PostgreSQL: about 6 %%). For runs that share a limit, start the server on "
                "PostgreSQL (README: Scaling past one machine).",
                slots.limit_name,
            )
    else:
        hint = (
            f" (no global concurrency limit {slots.limit_name!r}: create one with `prefect gcl "
            f"create {slots.limit_name} --limit N` to share a bound across runs)"
            if slots.limit_name
            else ""
        )
        logger.info("Up to %d generation(s) of this run on the API at once%s.", slots.local, hint)
