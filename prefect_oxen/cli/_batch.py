"""`prefect-oxen batch FILE`: a JSONL or CSV file of requests through `batch_flow`."""

from __future__ import annotations

import enum
from typing import Annotated, Optional

import typer
from rich.markup import escape

from prefect_oxen.cli._batch_summary import print_batch_summary
from prefect_oxen.cli._credentials import cli_credentials
from prefect_oxen.cli._exit_codes import BadInput, fail, handle_errors
from prefect_oxen.cli._input_checks import EXPECTED_BATCH, check_archive, check_source
from prefect_oxen.cli._options import (
    DEFAULT_ARCHIVE,
    ArchiveOption,
    BaseUrlOption,
    ConcurrencyOption,
    CredentialsBlockOption,
    Mode,
    ModeOption,
    VerboseOption,
)
from prefect_oxen.cli._output import err_console, money
from prefect_oxen.cli._runs import batch_exit_code, report_problems, run_batch

__all__ = ["OnBudget", "batch_command", "check_requests_offline"]


class OnBudget(str, enum.Enum):
    """What a batch whose estimate exceeds the budget does."""

    refuse = "refuse"
    partial = "partial"


def check_requests_offline(file: str, source: str) -> int:
    """Parse the batch and check each line's id and request shape without the API or Prefect.

    When no line is usable, nothing needs a run: every rejected line is printed and the command
    ends (checks against a model's schema need the API's catalogue, so they stay with the flow).

    Args:
        file: The FILE argument, for messages.
        source: The checked path or URI the flow will read (`check_source`).

    Returns:
        How many lines are usable.

    Raises:
        BadInput: The file has no request at all.
        typer.Exit: Code 2, when every line was rejected.
    """
    from prefect_oxen.client import VideoRequest
    from prefect_oxen.engine import load_batch_items

    batch = load_batch_items(source)
    if not batch.items and not batch.problems:
        raise BadInput(f"{file} has no requests, only blank or comment lines ({EXPECTED_BATCH}).")
    rejected = [(problem.line, problem.key, problem.error) for problem in batch.problems]
    usable = 0
    for item in batch.items:
        try:
            VideoRequest.model_validate(item.request)
        except (ValueError, TypeError) as exc:
            rejected.append((item.line, item.key, str(exc)))
        else:
            usable += 1
    if usable:
        return usable
    out = err_console()
    for line, key, error in sorted(rejected, key=lambda problem: problem[0] or 0):
        reason = error.removeprefix(f"line {line}: ")
        # Escaped: reasons quote the input, and "[...]" in it is not Rich markup.
        named = "" if " " in key else f" ({escape(key)})"  # a line label is said once
        out.print(f"[yellow]rejected[/] line {line}{named}: {escape(reason)}")
    raise fail(
        f"No usable request in {escape(file)}: {len(rejected)} line(s) rejected; nothing was sent "
        "or billed."
    )


@handle_errors
def batch_command(
    file: Annotated[
        str, typer.Argument(help="JSONL or CSV of requests (optional `id`), or s3:// URI.")
    ],
    concurrency: ConcurrencyOption = None,
    budget: Annotated[
        Optional[float],  # noqa: UP045 (typer needs Optional on 3.10)
        typer.Option(
            min=0.0, help="Spend limit in USD, checked against the estimate before paying."
        ),
    ] = None,
    on_budget: Annotated[
        OnBudget,
        typer.Option(
            help="Over budget: refuse the batch, or run items until the next would cross it."
        ),
    ] = OnBudget.refuse,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate and price only; pay nothing.")
    ] = False,
    archive: ArchiveOption = DEFAULT_ARCHIVE,
    journal: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            help="Where the run state lives (a file, or an s3:// prefix); default: with the "
            "archive, so every machine writing the archive sees what any run paid for."
        ),
    ] = None,
    mode: ModeOption = Mode.auto,
    base_url: BaseUrlOption = None,
    credentials_block: CredentialsBlockOption = None,
    verbose: VerboseOption = False,
) -> None:
    """Generate every request of a batch file, archive the videos and report each item.

    Exit 0 when all succeeded, 1 when some failed, 2 when the input is unusable (unreadable or
    empty file, every line rejected, budget refused, no API key, an archive that cannot take
    the videos).
    """
    source = check_source(file)
    # Everything that needs no run is checked before Prefect's slow start.
    check_requests_offline(file, source)
    if not dry_run:
        check_archive(archive)
    credentials = cli_credentials(base_url, credentials_block)
    report = run_batch(
        source,
        credentials,
        archive=archive,
        concurrency=concurrency,
        budget=budget,
        on_budget=on_budget.value,
        dry_run=dry_run,
        mode=mode.value,
        verbose=verbose,
        **({"journal": journal} if journal else {}),
    )
    title = f"Dry run of {file}" if dry_run else f"Batch {file}"
    print_batch_summary(report, archive=archive, title=title)
    report_problems(report)
    code = batch_exit_code(report)
    if code and any(item.status == "not_submitted" for item in report.items):
        err_console().print(
            f"[yellow]Budget:[/] estimate {money(report.estimated_cost_usd)} exceeds the budget "
            f"{money(budget)}; {report.count('not_submitted')} item(s) were not submitted."
        )
    raise typer.Exit(int(code))
