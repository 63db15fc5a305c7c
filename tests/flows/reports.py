"""Running a batch in a test and reading its report back from the flow run's final state."""

from __future__ import annotations

import inspect
from pathlib import Path

from prefect_oxen.flows import BatchIncomplete, BatchReport, batch_flow


async def report_of(state) -> BatchReport:
    """The `BatchReport` of a finished batch run, whether it completed or partially failed."""
    value = state.result(raise_on_failure=False)
    if inspect.isawaitable(value):
        value = await value
    report = value.report if isinstance(value, BatchIncomplete) else value
    assert isinstance(report, BatchReport), value
    return report


async def run_batch(workdir: Path, items, credentials, **options) -> tuple[object, BatchReport]:
    """Run `batch_flow` archiving under `workdir` (no shared limit); its final state and report."""
    state = await batch_flow(
        items,
        credentials,
        archive=str(workdir / "archive"),
        concurrency_limit=None,
        return_state=True,
        **options,
    )
    return state, await report_of(state)
