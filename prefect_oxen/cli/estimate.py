"""`prefect-oxen estimate FILE`: what a batch would cost, from the catalogue's pricing."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from prefect_oxen.cli._common import (
    BadInput,
    BaseUrlOption,
    CredentialsBlockOption,
    ExitCode,
    api_client,
    console,
    err_console,
    handle_errors,
    money,
)
from prefect_oxen.client import ModelNotFound, OxenClient, RequestValidationError, VideoRequest

__all__ = ["estimate_command"]


def _price(client: OxenClient, request: dict) -> tuple[VideoRequest, float | None, float | None]:
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
    from prefect_oxen.cli.batch import check_source
    from prefect_oxen.flows.inputs import load_batch_items

    batch = load_batch_items(check_source(file))
    if not batch.items and not batch.problems:
        raise BadInput(f"{file} has no requests.")
    table = Table(title=f"Estimate for {file}", title_justify="left")
    for column in ("id", "line", "model", "seconds", "audio", "rate/s", "cost", "problem"):
        table.add_column(column, overflow="fold", justify="right" if column in ("seconds", "rate/s", "cost") else "left")
    rows: list[tuple[int, tuple[str, ...]]] = []
    problems: list[str] = []
    total = 0.0
    unpriced = 0
    with api_client(base_url, credentials_block) as client:
        for problem in batch.problems:
            rows.append((problem.line or 0, (problem.key, str(problem.line or ""), "", "", "", "", "", problem.error)))
            problems.append(problem.error)
        for item in batch.items:
            line = str(item.line or "")
            model = str(item.request.get("model") or "")
            try:
                checked, cost, rate = _price(client, item.request)
            except (RequestValidationError, ModelNotFound) as exc:
                message = f"line {item.line}: {exc}"
                rows.append((item.line or 0, (item.key, line, model, "", "", "", "", str(exc))))
                problems.append(message)
                continue
            if cost is None:
                unpriced += 1
            total += cost or 0.0
            rows.append((item.line or 0, (
                item.key, line, checked.model, str(checked.total_duration),
                "yes" if checked.generate_audio else "", money(rate), money(cost) or "no price", "",
            )))
    for _, row in sorted(rows, key=lambda r: r[0]):
        table.add_row(*row)
    out = console()
    out.print(table)
    valid = len(batch.items) + len(batch.problems) - len(problems)
    out.print(f"[bold]Total:[/] {money(round(total, 6))} for {valid} valid item(s)"
              + (f"; {unpriced} without a published price" if unpriced else "")
              + (f"; {len(problems)} invalid" if problems else ""))
    if problems:
        errors = err_console()
        for message in problems:
            errors.print(f"[yellow]rejected[/] {message}")
        raise typer.Exit(int(ExitCode.BAD_INPUT))
