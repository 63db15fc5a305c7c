"""deployments/automations.yaml: the automation users copy is valid and fires on a budget stop."""

from __future__ import annotations

from uuid import UUID

import anyio
import yaml
from prefect.client.orchestration import get_client
from prefect.events import emit_event
from prefect.events.schemas.automations import AutomationCore

from .processes import REPO


def _automations() -> list[dict]:
    return yaml.safe_load((REPO / "deployments" / "automations.yaml").read_text())["automations"]


async def _deployment(client, name: str) -> UUID:
    flow_id = await client.create_flow_from_name("oxen-batch")
    return await client.create_deployment(flow_id=flow_id, name=name)


def _batch_completed(outcome: str, deployment_id: UUID, batch: str) -> None:
    """The event batch_flow emits, with the deployment Prefect relates it to in a deployment run.

    Prefect's events worker sends it in the background; the caller waits on the server's view.
    """
    emit_event(
        event="oxen.batch.completed",
        resource={
            "prefect.resource.id": f"oxen.batch.{batch}",
            "prefect.resource.name": batch,
            "oxen.outcome": outcome,
        },
        related=[
            {
                "prefect.resource.id": f"prefect.deployment.{deployment_id}",
                "prefect.resource.role": "deployment",
            }
        ],
        payload={"outcome": outcome, "cost_usd": 0.0},
    )


async def test_budget_stop_automation_pauses_the_deployment_that_ran_the_batch(
    prefect_harness, unique: str
) -> None:
    [spec] = _automations()
    automation = AutomationCore.model_validate(spec)
    async with get_client() as client:
        automation_id = await client.create_automation(automation)
        try:
            fine = await _deployment(client, f"fine-{abs(hash(unique))}")
            stopped = await _deployment(client, f"stopped-{abs(hash(unique))}")
            # The server loads a new automation's trigger asynchronously: repeat the events
            # until the action has run (a condition with a deadline, not a sleep). The "ok"
            # event goes first each time, so it was seen by the loaded trigger as well.
            with anyio.fail_after(60):
                while not (await client.read_deployment(stopped)).paused:
                    _batch_completed("ok", fine, "fine")
                    _batch_completed("budget-stop", stopped, "stopped")
                    await anyio.sleep(0.5)
            assert not (await client.read_deployment(fine)).paused
            # Why it was paused: the action's event names the automation (whose description
            # says what to do) and targets the paused deployment, in the deployment's feed.
            with anyio.fail_after(60):
                while not (executed := await _actions_executed(client, automation_id)):
                    await anyio.sleep(0.5)  # polling the feed until the server stored the event
            [event, *_] = executed
            assert event["resource"]["prefect.resource.name"] == spec["name"]
            targets = {
                r["prefect.resource.id"]
                for r in event["related"]
                if r["prefect.resource.role"] == "target"
            }
            assert targets == {f"prefect.deployment.{stopped}"}
        finally:
            await client.delete_automation(automation_id)


async def _actions_executed(client, automation_id: UUID) -> list[dict]:
    response = await client._client.post(
        "/events/filter",
        json={
            "filter": {
                "event": {"name": ["prefect.automation.action.executed"]},
                "resource": {"id": [f"prefect.automation.{automation_id}"]},
            }
        },
    )
    return response.raise_for_status().json()["events"]


def test_the_automation_says_why_it_paused_and_what_to_do() -> None:
    [spec] = _automations()
    assert "budget" in spec["name"] and "pause" in spec["name"]
    description = spec["description"]
    assert "stopped at its budget" in description
    assert "Raise the deployment's budget" in description and "resume" in description


def test_automations_name_only_outcomes_the_flow_emits() -> None:
    from prefect_oxen.flows import BatchReport, ItemReport

    outcomes = {"ok", "partial", "budget-stop"}
    for spec in _automations():
        match = spec["trigger"]["match"]["oxen.outcome"]
        assert set([match] if isinstance(match, str) else match) <= outcomes
        assert spec["trigger"]["expect"] == ["oxen.batch.completed"]
    stopped = BatchReport(items=[ItemReport(key="a", status="not_submitted")])
    assert stopped.budget_stopped and not stopped.ok
