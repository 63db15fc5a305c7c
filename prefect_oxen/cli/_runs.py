"""Running the package's flows from the terminal: progress while they run, a report after."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prefect_oxen.cli._env import prefect_console_on_stderr, quiet_handlers
from prefect_oxen.cli._exit_codes import BadInput, ExitCode
from prefect_oxen.cli._output import err_console
from prefect_oxen.cli._progress import batch_progress

if TYPE_CHECKING:
    from prefect_oxen.blocks import OxenCredentials
    from prefect_oxen.flows import BatchReport

__all__ = ["batch_exit_code", "refused", "report_problems", "run_batch", "run_flow"]


def run_flow(flow: Any, /, *, verbose: bool = False, **parameters: Any) -> Any:
    """Run an (async) flow here and return its result, or the exception it ended with.

    Ctrl-C and SIGTERM stop it cleanly (its hooks cancel what it left running on the API) and
    exit 130 / 143 after saying what was cancelled.

    Args:
        flow: A Prefect flow of the package.
        verbose: Show Prefect's own run logs (``--verbose``).
        **parameters: The flow's parameters.

    Returns:
        The flow's return value, or the exception its final state holds.

    Raises:
        typer.Exit: 130 / 143 when a signal stopped the run.
    """
    from prefect_oxen.cli._signals import run_flow_state

    with prefect_console_on_stderr(verbose=verbose):
        state = run_flow_state(flow, parameters)
        quiet_handlers()
        return state.result(raise_on_failure=False)


def run_batch(
    source: str,
    credentials: OxenCredentials,
    *,
    archive: str,
    concurrency: int | None,
    budget: float | None,
    on_budget: str,
    dry_run: bool,
    mode: str,
    verbose: bool = False,
    **options: Any,
) -> BatchReport:
    """`batch_flow` on `source` with a progress bar; the report, even when the batch failed.

    Args:
        source: The checked batch file or ``s3://`` URI.
        credentials: The block the flow run gets.
        archive: Where the videos go.
        concurrency: Generations kept unfinished at once, or None for the flow's default.
        budget: Spend limit in USD, or None.
        on_budget: ``"refuse"`` or ``"partial"``.
        dry_run: Validate and price only.
        mode: ``"auto"``, ``"sync"`` or ``"queue"``.
        verbose: Show Prefect's own run logs.
        **options: Further `batch_flow` parameters.

    Returns:
        The batch report (also for a batch that ended incomplete).

    Raises:
        BadInput: The file has no request.
        typer.Exit: 130 / 143 when a signal stopped the run.
        Exception: What ended the flow run when it produced no report.
    """
    from prefect_oxen.flows import BatchIncomplete, BatchReport, batch_flow, load_batch_items

    batch = load_batch_items(source)
    if not batch.items and not batch.problems:
        raise BadInput(
            f"{source} has no requests (one JSON object per line, or a CSV with a header)."
        )
    total = len(batch.items) + len(batch.problems)
    label = "Validating and pricing" if dry_run else "Generating"
    if concurrency is not None:  # else the flow's default: one source of truth
        options["concurrency"] = concurrency
    with batch_progress(err_console(), f"{label} {total} item(s)", total):
        outcome = run_flow(
            batch_flow,
            items=source,
            credentials=credentials,
            archive=archive,
            budget=budget,
            on_budget=on_budget,
            dry_run=dry_run,
            mode=mode,
            verbose=verbose,
            **options,
        )
    if isinstance(outcome, BatchIncomplete):
        return outcome.report
    if isinstance(outcome, BatchReport):
        return outcome
    if isinstance(outcome, BaseException):
        raise outcome
    raise RuntimeError(f"batch_flow returned {type(outcome).__name__}, not a BatchReport")


def batch_exit_code(report: BatchReport) -> ExitCode:
    """The exit code a batch ends with.

    Args:
        report: The batch report.

    Returns:
        0 when every item succeeded (or validated, for a dry run); 2 when the input itself was
        the problem (every item rejected, a dry run with rejected lines, or the budget refused
        the batch); 1 otherwise.
    """
    if report.ok:
        return ExitCode.OK
    statuses = {item.status for item in report.items}
    if report.dry_run:
        return ExitCode.BAD_INPUT  # a dry run checks the input and nothing else
    if statuses <= {"rejected"}:
        return ExitCode.BAD_INPUT
    if refused(report):
        return ExitCode.BAD_INPUT
    return ExitCode.ITEMS_FAILED


def refused(report: BatchReport) -> bool:
    """Whether the budget refused the whole batch.

    Args:
        report: The batch report.

    Returns:
        True when nothing was submitted because the estimate exceeded the budget.
    """
    waiting = [item for item in report.items if item.status == "not_submitted"]
    return (
        bool(waiting)
        and all((item.error or "").startswith("batch refused") for item in waiting)
        and not any(item.status in ("archived", "failed") for item in report.items)
    )


def report_problems(report: BatchReport) -> None:
    """Print rejected and failed items on stderr, one line each (scripts need not parse tables).

    Args:
        report: The batch report.
    """
    out = err_console()
    for item in report.items:
        if item.status in ("rejected", "failed"):
            where = f"line {item.line}" if item.line else item.key
            reason = item.error or item.status
            if item.line and reason.startswith(f"line {item.line}: "):
                reason = reason[len(f"line {item.line}: ") :]
            # A line with no usable id is keyed by its label ("line 2"): say it once.
            named = "" if " " in item.key else f" ({item.key})"
            out.print(f"[yellow]{item.status}[/] {where}{named}: {reason}")
