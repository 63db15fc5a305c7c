"""Reading a batch report back from a flow run's final state."""

from __future__ import annotations

import inspect

from prefect_oxen.flows import BatchIncomplete, BatchReport


async def report_of(state) -> BatchReport:
    """The `BatchReport` of a finished batch run, whether it completed or partially failed."""
    value = state.result(raise_on_failure=False)
    if inspect.isawaitable(value):
        value = await value
    report = value.report if isinstance(value, BatchIncomplete) else value
    assert isinstance(report, BatchReport), value
    return report
