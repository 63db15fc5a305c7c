"""`sharded_batch_flow`'s pieces that need no server: the split and the crash automation."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

from prefect_oxen.flows.sharded import (
    CRASH_AUTOMATION,
    ShardedBatchReport,
    ShardRun,
    _shards,
    crash_detection_automation,
)


def test_shards_are_consecutive_even_and_bounded() -> None:
    rows = [{"id": f"i{n}"} for n in range(1001)]
    shards = _shards(rows, 500)
    assert [len(s) for s in shards] == [334, 334, 333]
    assert [row for shard in shards for row in shard] == rows  # every item once, in order
    assert _shards(rows[:10], 500) == [rows[:10]]


def test_the_automation_crashes_a_silent_run_of_that_deployment_only() -> None:
    deployment = uuid4()
    automation = crash_detection_automation(deployment, 45)
    assert automation.name == CRASH_AUTOMATION
    trigger = automation.trigger
    assert trigger.posture == "Proactive"
    assert trigger.within == timedelta(seconds=45)
    assert (
        "prefect.flow-run.heartbeat" in trigger.after
        and "prefect.flow-run.heartbeat" in trigger.expect
    )
    assert {"prefect.flow-run.Completed", "prefect.flow-run.Crashed"} <= trigger.expect
    assert "prefect.flow-run.Pending" not in trigger.after  # process start-up can take > 45 s
    related = (
        [spec.model_dump() for spec in trigger.match_related]
        if isinstance(trigger.match_related, list)
        else [trigger.match_related.model_dump()]
    )
    assert related == [{"prefect.resource.id": f"prefect.deployment.{deployment}"}]
    [action] = automation.actions
    assert action.type == "change-flow-run-state" and action.state.value == "CRASHED"


def test_the_report_is_ok_only_when_every_shard_completed() -> None:
    done = ShardRun(index=0, items=3, flow_run_ids=["a", "b"], state="COMPLETED")
    report = ShardedBatchReport(deployment="oxen-batch/shard", shards=[done])
    assert report.ok and "1 re-run(s)" in report.summary()
    report.shards.append(ShardRun(index=1, items=3, flow_run_ids=["c"], state="FAILED"))
    assert not report.ok
