"""`prefect-oxen estimate FILE`: what a batch would cost, from the catalogue's pricing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

import typer
from rich.table import Table

from prefect_oxen.cli._credentials import api_client
from prefect_oxen.cli._exit_codes import BadInput, ExitCode, handle_errors
from prefect_oxen.cli._input_checks import check_source
from prefect_oxen.cli._options import BaseUrlOption, CredentialsBlockOption
from prefect_oxen.cli._output import console, err_console, money
from prefect_oxen.client import ModelNotFound, OxenClient, RequestValidationError, VideoRequest

__all__ = ["estimate_command"]


def _price(
    client: OxenClient, request: dict[str, Any]
) -> tuple[VideoRequest, float | None, float | None]:
    """The validated request, its cost and the per-second rate applied."""
    checked = client.validate_request(VideoRequest.model_validate(request))
    info = client.get_model(checked.model)
    pricing = info.pricing
    rate = pricing.cost_per_second_with_audio if checked.generate_audio else pricing.cost_per_second
    return checked, info.estimate_cost(checked), rate


@handle_errors
def estimate_command(
    file: Annotated[str, typer.Argument(help="JSONL or CSV of requests, or s3:// URI.")],
    base_url: BaseUrlOption = None,
    credentials_block: CredentialsBlockOption = None,
) -> None:
    """Price every request of a batch file (seconds x rate); validates, pays for nothing.

    Exit 0 when every line is valid, 2 when some are not (they are listed with their line).
    """
    from prefect_oxen.engine import load_batch_items

    batch = load_batch_items(check_source(file))
    if not batch.items and not batch.problems:
        raise BadInput(f"{file} has no requests.")
    with api_client(base_url, credentials_block) as client:
        estimate = _estimate(client, batch)
    out = console()
    out.print(_table(file, estimate.rows))
    problems = estimate.problems
    valid = len(batch.items) + len(batch.problems) - len(problems)
    out.print(
        f"[bold]Total:[/] {money(round(estimate.total, 6))} for {valid} valid item(s)"
        + (f"; {estimate.unpriced} without a published price" if estimate.unpriced else "")
        + (f"; {len(problems)} invalid" if problems else "")
    )
    if problems:
        errors = err_console()
        for message in problems:
            errors.print(f"[yellow]rejected[/] {message}")
        raise typer.Exit(int(ExitCode.BAD_INPUT))


@dataclass
class _Estimate:
    """The priced lines of a batch: table rows by line, problems, total and unpriced count."""

    rows: list[tuple[int, tuple[str, ...]]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    total: float = 0.0
    unpriced: int = 0


def _estimate(client: OxenClient, batch: Any) -> _Estimate:
    """Validate and price every item of `batch`; its parse problems become rows too."""
    estimate = _Estimate()
    for problem in batch.problems:
        row = (problem.key, str(problem.line or ""), "", "", "", "", "", problem.error)
        estimate.rows.append((problem.line or 0, row))
        estimate.problems.append(problem.error)
    for item in batch.items:
        line = str(item.line or "")
        model = str(item.request.get("model") or "")
        try:
            checked, cost, rate = _price(client, item.request)
        except (RequestValidationError, ModelNotFound) as exc:
            estimate.rows.append((item.line or 0, (item.key, line, model, *[""] * 4, str(exc))))
            estimate.problems.append(f"line {item.line}: {exc}")
            continue
        if cost is None:
            estimate.unpriced += 1
        estimate.total += cost or 0.0
        audio = "yes" if checked.generate_audio else ""
        seconds = str(checked.total_duration)
        priced = (item.key, line, checked.model, seconds, audio, money(rate))
        estimate.rows.append((item.line or 0, (*priced, money(cost) or "no price", "")))
    return estimate


def _table(file: str, rows: list[tuple[int, tuple[str, ...]]]) -> Table:
    """The estimate's table, rows in line order."""
    table = Table(title=f"Estimate for {file}", title_justify="left")
    for column in ("id", "line", "model", "seconds", "audio", "rate/s", "cost", "problem"):
        table.add_column(
            column,
            overflow="fold",
            justify="right" if column in ("seconds", "rate/s", "cost") else "left",
        )
    for _, row in sorted(rows, key=lambda r: r[0]):
        table.add_row(*row)
    return table
