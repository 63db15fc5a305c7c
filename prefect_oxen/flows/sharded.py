"""`sharded_batch_flow`: one batch split into deployment runs that any worker of a pool may take.

A batch too big for one machine is cut into shards of `shard_size` items; each shard is a run of a
`batch_flow` deployment on a work pool (``run_deployment``), so Prefect's workers spread the
shards over machines and every shard shares what one batch shares: the journal (the same archive
or `journal` parameter), the per-item claims next to it, and the global concurrency limit
``oxen-generations``. Nothing here schedules, queues or retries on its own: Prefect does.

A machine that dies stops its shard runs' heartbeats. The automation this flow creates (a
proactive trigger on ``prefect.flow-run.heartbeat``, as Prefect documents for "zombie" runs)
marks such a run Crashed once `crashed_after` seconds pass without one; this flow then submits
the shard again, and the new run reattaches from the journal to the generations the dead one
paid for instead of paying again. Shard runs that fail (items failed or were refused) are not
re-run: their report says why, as a plain batch's does.

Stopping the sharded batch stops its shards: cancelling it (the UI's Cancel, a worker's
cancellation), Ctrl-C in a terminal or a crash of the process it runs in cancels every shard run
it started that has not finished, and each shard run's own stop hooks then cancel the generations
it left on the API.

Workers must send heartbeats more often than `crashed_after`: set
``PREFECT_FLOWS_HEARTBEAT_FREQUENCY`` (seconds, at least 30; Prefect's default is 180) in the
workers' environment, e.g. 30 with ``crashed_after=60``.
"""

from __future__ import annotations

import asyncio
import math
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from prefect import Flow, flow, get_run_logger
from prefect.client.orchestration import PrefectClient, get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterId,
    FlowRunFilterParentFlowRunId,
)
from prefect.client.schemas.objects import FlowRun, State, StateType
from prefect.deployments import arun_deployment
from prefect.states import Cancelled, Cancelling, Failed
from pydantic import BaseModel, Field

from prefect_oxen.engine import hook_logger, load_batch_items

if TYPE_CHECKING:
    from prefect.events.schemas.automations import AutomationCore

__all__ = [
    "ShardRun",
    "ShardedBatchReport",
    "cancel_shard_runs",
    "crash_detection_automation",
    "sharded_batch_flow",
]

CRASH_AUTOMATION = "oxen-crash-silent-shard-runs"
_TERMINAL = {StateType.COMPLETED, StateType.FAILED, StateType.CANCELLED, StateType.CRASHED}
# Runs no worker has taken yet have no process to stop: they are cancelled outright (as the UI's
# Cancel does); a run a worker holds is set Cancelling, so the worker stops it and its hooks run.
_NOT_STARTED = {StateType.SCHEDULED}


class ShardRun(BaseModel):
    """One shard of a sharded batch: its items and every deployment run it took."""

    index: int = Field(description="Position of the shard, from 0.")
    items: int = Field(description="How many requests the shard holds.")
    flow_run_ids: list[str] = Field(default_factory=list, description="Runs, oldest first.")
    state: str | None = Field(default=None, description="Final state type of the last run.")
    message: str | None = Field(default=None, description="Final state message of the last run.")
    crashed_at: list[float] = Field(
        default_factory=list, description="Unix times this flow saw a run of the shard Crashed."
    )

    @property
    def attempts(self) -> int:
        """How many runs the shard took."""
        return len(self.flow_run_ids)


class ShardedBatchReport(BaseModel):
    """What a sharded batch did: one entry per shard, plus the lines no shard was given."""

    deployment: str = Field(description="The batch deployment the shards ran as.")
    shards: list[ShardRun] = Field(default_factory=list, description="Every shard, in order.")
    rejected: list[str] = Field(
        default_factory=list, description="Input lines that could not become requests."
    )

    @property
    def ok(self) -> bool:
        """True when every shard's last run completed and no input line was rejected."""
        return not self.rejected and all(s.state == StateType.COMPLETED.value for s in self.shards)

    def summary(self) -> str:
        """One line: shards completed, re-runs, rejected lines.

        Returns:
            A human-readable summary for logs and state messages.
        """
        done = sum(s.state == StateType.COMPLETED.value for s in self.shards)
        reruns = sum(max(0, s.attempts - 1) for s in self.shards)
        return (
            f"{done}/{len(self.shards)} shard(s) completed, {reruns} re-run(s) after a crash, "
            f"{len(self.rejected)} rejected line(s)"
        )


def crash_detection_automation(deployment_id: UUID, crashed_after: float) -> AutomationCore:
    """The automation that marks a silent run of `deployment_id` Crashed.

    Args:
        deployment_id: The batch deployment whose runs are watched.
        crashed_after: Seconds without a heartbeat (or a final state) after which a run counts
            as crashed; must exceed the workers' ``PREFECT_FLOWS_HEARTBEAT_FREQUENCY``.

    Returns:
        An `AutomationCore` to create with ``PrefectClient.create_automation``.
    """
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture

    ends = {f"prefect.flow-run.{name}" for name in ("Completed", "Failed", "Cancelled", "Crashed")}
    return AutomationCore(
        name=CRASH_AUTOMATION,
        description="Mark a prefect-oxen shard run Crashed when its worker stops heartbeating, "
        "so sharded_batch_flow re-runs the shard (which reattaches from the journal).",
        trigger=EventTrigger(
            # From the run's start (Running) or its latest heartbeat: a machine that dies before
            # the first heartbeat is caught too. Not from Pending: starting a flow-run process
            # can take most of a minute on a loaded machine.
            after={"prefect.flow-run.Running", "prefect.flow-run.heartbeat"},
            expect={"prefect.flow-run.heartbeat", *ends},
            match={"prefect.resource.id": "prefect.flow-run.*"},
            match_related={"prefect.resource.id": f"prefect.deployment.{deployment_id}"},
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=crashed_after),
        ),
        actions=[
            ChangeFlowRunState(
                state=StateType.CRASHED,
                message=f"No heartbeat for {crashed_after:.0f} s: its worker is gone.",
            )
        ],
    )


async def _ensure_crash_detection(
    client: PrefectClient, deployment: str, crashed_after: float
) -> None:
    """Create the crash-detection automation for `deployment` unless one exists."""
    found = await client.read_deployment_by_name(deployment)
    wanted = crash_detection_automation(found.id, crashed_after)
    for existing in await client.read_automations_by_name(CRASH_AUTOMATION):
        if existing.trigger == wanted.trigger:
            return
    await client.create_automation(wanted)


def _shards(rows: list[dict[str, Any]], shard_size: int) -> list[list[dict[str, Any]]]:
    """`rows` cut into consecutive shards of at most `shard_size`, as even as possible."""
    count = max(1, math.ceil(len(rows) / max(1, shard_size)))
    size = math.ceil(len(rows) / count)
    return [rows[start : start + size] for start in range(0, len(rows), size)]


async def _submit(
    deployment: str, shard: ShardRun, rows: list[dict[str, Any]], parameters: dict[str, Any]
) -> None:
    """Start one run of the batch deployment for `shard` (returns once it is scheduled)."""
    run: FlowRun = await arun_deployment(
        deployment,
        parameters={**parameters, "items": rows},
        timeout=0,
        flow_run_name=f"shard-{shard.index:03d}-run-{shard.attempts + 1}",
        tags=["oxen-shard"],
    )
    shard.flow_run_ids.append(str(run.id))


async def _watch(
    client: PrefectClient,
    deployment: str,
    shards: list[ShardRun],
    rows: list[list[dict[str, Any]]],
    parameters: dict[str, Any],
    *,
    max_attempts: int,
    poll_seconds: float,
) -> None:
    """Poll the shards' latest runs until each is final; re-submit a Crashed one."""
    logger = get_run_logger()
    open_shards = {shard.index: shard for shard in shards}
    while open_shards:
        await asyncio.sleep(poll_seconds)
        latest = {UUID(s.flow_run_ids[-1]): s for s in open_shards.values()}
        found = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=list(latest)))
        )
        for run in found:
            shard = latest[run.id]
            if run.state is None or run.state.type not in _TERMINAL:
                continue
            if run.state.type == StateType.CRASHED and shard.attempts < max_attempts:
                shard.crashed_at.append(time.time())
                logger.warning(
                    "Shard %d's run %s crashed (%s); running the shard again: the new run "
                    "reattaches to what it paid for.",
                    shard.index,
                    run.name,
                    run.state.message,
                )
                await _submit(deployment, shard, rows[shard.index], parameters)
                continue
            shard.state, shard.message = run.state.type.value, run.state.message
            del open_shards[shard.index]
            logger.info("Shard %d ended %s: %s", shard.index, run.state.name, run.state.message)


def cancel_shard_runs(parent_flow_run_id: UUID | str) -> list[str]:
    """Cancel every unfinished shard run that the sharded batch `parent_flow_run_id` started.

    Blocking on purpose: it runs in the stop hooks, after the run's own coroutine was cancelled,
    where an await could be cancelled again before the request is sent.

    Args:
        parent_flow_run_id: The sharded batch's flow run.

    Returns:
        The ids of the shard runs it cancelled (or set Cancelling).
    """
    with get_client(sync_client=True) as client:
        children = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                parent_flow_run_id=FlowRunFilterParentFlowRunId(
                    any_=[UUID(str(parent_flow_run_id))]
                )
            )
        )
        stopped: list[str] = []
        for run in children:
            if run.state is None or run.state.type in _TERMINAL:
                continue
            message = "The sharded batch that started this shard run was stopped."
            stop = Cancelled if run.state.type in _NOT_STARTED else Cancelling
            client.set_flow_run_state(run.id, stop(message=message), force=True)
            stopped.append(str(run.id))
    return stopped


def _stop_shards(flow: Flow[..., Any], flow_run: FlowRun, state: State[Any]) -> None:
    """Flow hook (cancelled or crashed): stop the shard runs this run started."""
    stopped = cancel_shard_runs(flow_run.id)
    if stopped:  # the run's own logger: a hook may run after the run's context is gone
        hook_logger(flow_run, flow).warning("Stopped %d unfinished shard run(s).", len(stopped))


@flow(name="oxen-sharded-batch", on_cancellation=[_stop_shards], on_crashed=[_stop_shards])
async def sharded_batch_flow(
    items: list[dict[str, Any]] | str,
    deployment: str = "oxen-batch/shard",
    shard_size: int = 500,
    parameters: dict[str, Any] | None = None,
    crashed_after: float | None = 600.0,
    max_attempts: int = 3,
    poll_seconds: float = 2.0,
) -> ShardedBatchReport:
    """Split a batch into runs of a `batch_flow` deployment, wait for all, re-run crashed ones.

    Every shard run gets `parameters` plus its share of the items (each with its "id", so keys,
    archive paths and the journal are those of the whole batch). Shards share the journal and
    the ``oxen-generations`` limit through those parameters: give them one archive (or journal)
    every worker can reach, and the credentials as a saved block reference.

    Args:
        items: A .jsonl or .csv file (local path or s3:// URI) with one request per line, or a
            list of requests; each may carry an "id" (else item-NNNN by line).
        deployment: The batch deployment ("flow-name/deployment-name") the shards run as; its
            work pool's workers take them.
        shard_size: Most items per shard run; bounds each run's memory whatever the batch size.
        parameters: `batch_flow` parameters for every shard (archive, journal, credentials,
            concurrency...); "items" is set per shard.
        crashed_after: Seconds without a heartbeat after which a shard run is marked Crashed
            (an automation this flow creates) and run again; empty means no automation (runs
            marked Crashed some other way are still re-run).
        max_attempts: Most runs per shard, the first included.
        poll_seconds: How often the shards' states are read.

    Returns:
        The sharded report (Completed), or a Failed state carrying it when a shard did not
        complete or an input line was rejected.
    """
    logger = get_run_logger()
    batch = load_batch_items(items)
    rows = [{"id": item.key, **item.request} for item in batch.items]
    report = ShardedBatchReport(
        deployment=deployment, rejected=[f"{p.key}: {p.error}" for p in batch.problems]
    )
    for problem in report.rejected:
        logger.warning("Rejected %s", problem)
    split = _shards(rows, shard_size) if rows else []
    report.shards = [ShardRun(index=i, items=len(shard)) for i, shard in enumerate(split)]
    logger.info(
        "%d item(s) in %d shard(s) of at most %d, as runs of %r.",
        len(rows),
        len(split),
        shard_size,
        deployment,
    )
    async with get_client() as client:
        if crashed_after:
            await _ensure_crash_detection(client, deployment, crashed_after)
        for shard in report.shards:
            await _submit(deployment, shard, split[shard.index], parameters or {})
        await _watch(
            client,
            deployment,
            report.shards,
            split,
            parameters or {},
            max_attempts=max(1, max_attempts),
            poll_seconds=poll_seconds,
        )
    if not report.ok:
        logger.warning("Sharded batch incomplete: %s.", report.summary())
        return Failed(message=f"Sharded batch incomplete: {report.summary()}.", data=report)  # type: ignore[return-value]
    logger.info("Sharded batch complete: %s.", report.summary())
    return report
