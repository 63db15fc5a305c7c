"""`prefect-oxen batch FILE`: a JSONL or CSV file of requests through `batch_flow`."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from prefect_oxen.cli._common import (
    DEFAULT_ARCHIVE,
    ArchiveOption,
    BadInput,
    BaseUrlOption,
    CredentialsBlockOption,
    Mode,
    ModeOption,
    VerboseOption,
    cli_credentials,
    err_console,
    handle_errors,
    money,
    print_batch_summary,
)
from prefect_oxen.cli._runs import batch_exit_code, report_problems, run_batch

__all__ = ["OnBudget", "batch_command", "check_source"]


class OnBudget(str, enum.Enum):
    """What a batch whose estimate exceeds the budget does."""

    refuse = "refuse"
    partial = "partial"


def check_source(file: str) -> str:
    """`file` as the flow should read it: an S3 URI unchanged, else a readable local path."""
    if file.startswith("s3://"):
        return file
    path = Path(file).expanduser()
    if not path.is_file():
        raise BadInput(f"Cannot read {file}: no such file (expected a .jsonl or .csv batch).")
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except OSError as exc:
        raise BadInput(f"Cannot read {file}: {exc.strerror or exc}.") from None
    return str(path.resolve())


@handle_errors
def batch_command(
    file: Annotated[str, typer.Argument(help="JSONL or CSV of requests (optional `id`), or s3:// URI.")],
    concurrency: Annotated[
        Optional[int],  # noqa: UP045 (typer needs Optional on 3.10)
        typer.Option(
            min=1,
            help="Generations this run keeps unfinished on the API at once [default: the flow's].",
        ),
    ] = None,
    budget: Annotated[
        Optional[float],  # noqa: UP045 (typer needs Optional on 3.10)
        typer.Option(min=0.0, help="Spend limit in USD, checked against the estimate before paying."),
    ] = None,
    on_budget: Annotated[
        OnBudget,
        typer.Option(help="Over budget: refuse the batch, or run items until the next would cross it."),
    ] = OnBudget.refuse,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate and price only; pay nothing.")] = False,
    archive: ArchiveOption = DEFAULT_ARCHIVE,
    mode: ModeOption = Mode.auto,
    base_url: BaseUrlOption = None,
    credentials_block: CredentialsBlockOption = None,
    verbose: VerboseOption = False,
) -> None:
    """Generate every request of a batch file, archive the videos and report each item.

    Exit 0 when all succeeded, 1 when some failed, 2 when the input is unusable (unreadable
    file, every line rejected, budget refused, no API key).
    """
    source = check_source(file)
    credentials = cli_credentials(base_url, credentials_block)
    report = run_batch(
        source, credentials, archive=archive, concurrency=concurrency, budget=budget,
        on_budget=on_budget.value, dry_run=dry_run, mode=mode.value, verbose=verbose,
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
