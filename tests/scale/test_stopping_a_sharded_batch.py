"""Stop means stop for a sharded batch: its shard runs end with it, however it is stopped.

The shard deployment here has no worker, so its runs stay Scheduled: what is checked is that the
sharded batch cancels every run it started and that nothing is left waiting for a worker.
"""

from __future__ import annotations

import asyncio
import contextlib
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId
from prefect.client.schemas.objects import FlowRun, StateType

from prefect_oxen.flows import batch_flow, sharded_batch_flow
from prefect_oxen.flows.sharded import _stop_shards, cancel_shard_runs
from tests.support import FAST, wait_for


@pytest.fixture(autouse=True)
def _prefect(prefect_harness) -> None:
    """Flows run on the session's Prefect test server."""


@pytest.fixture
async def shard_deployment() -> str:
    """A batch_flow deployment no worker serves: its runs wait, Scheduled, until cancelled."""
    deployment = await batch_flow.ato_deployment(name="stop-test")
    await deployment.aapply()
    return "oxen-batch/stop-test"


def _shard_runs_of_the_only_parent() -> tuple[UUID, list[FlowRun]] | None:
    """The running sharded batch's id and its shard runs, once it has started two."""
    with get_client(sync_client=True) as client:
        parents = [
            run
            for run in client.read_flow_runs()
            if run.name and run.state_type == StateType.RUNNING and "stop-probe" in run.name
        ]
        if len(parents) != 1:
            return None
        children = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parents[0].id])
            )
        )
        return (parents[0].id, children) if len(children) == 2 else None


def _states(parent: UUID) -> list[StateType | None]:
    with get_client(sync_client=True) as client:
        children = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent])
            )
        )
    return [run.state_type for run in children]


def _start(shard_deployment: str, name: str) -> asyncio.Task:
    items = [{"id": f"s{i}", "model": FAST, "prompt": f"stop {name} {i}"} for i in range(2)]
    flow = sharded_batch_flow.with_options(flow_run_name=f"stop-probe-{name}")
    return asyncio.create_task(
        flow(items=items, deployment=shard_deployment, shard_size=1, crashed_after=None)
    )


async def _found(what: str):
    return await asyncio.to_thread(
        wait_for, _shard_runs_of_the_only_parent, timeout=60, what=what, interval=0.1
    )


async def test_ctrl_c_or_a_cancelled_task_cancels_every_shard_run(shard_deployment: str) -> None:
    run = _start(shard_deployment, "cancelled-task")
    parent, children = await _found("the sharded batch to start two shard runs")
    assert [child.state_type for child in children] == [StateType.SCHEDULED] * 2

    run.cancel()  # what Ctrl-C does to the coroutine of a flow run in a terminal
    with contextlib.suppress(asyncio.CancelledError, BaseException):
        await run

    assert _states(parent) == [StateType.CANCELLED, StateType.CANCELLED]


async def test_the_cancellation_hook_cancels_the_shard_runs_left(shard_deployment: str) -> None:
    run = _start(shard_deployment, "hook")
    parent, _ = await _found("the sharded batch to start two shard runs")
    async with get_client() as client:
        parent_run = await client.read_flow_run(parent)

    # As a worker's cancellation or a crash runs it: (flow, flow_run, state).
    await asyncio.to_thread(_stop_shards, sharded_batch_flow, parent_run, None)
    assert _states(parent) == [StateType.CANCELLED, StateType.CANCELLED]
    assert await asyncio.to_thread(cancel_shard_runs, parent) == []  # nothing left to stop

    run.cancel()
    with contextlib.suppress(asyncio.CancelledError, BaseException):
        await run
