"""The table a batch (or the demo) ends with: one row per item, then the totals."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table

from prefect_oxen.cli._output import archive_location, console, money

if TYPE_CHECKING:
    from prefect_oxen.flows import BatchReport

__all__ = ["print_batch_summary"]

_STATUS_STYLE = {
    "archived": "green",
    "skipped": "green",
    "validated": "cyan",
    "failed": "red",
    "rejected": "yellow",
    "not_submitted": "yellow",
}


def print_batch_summary(report: BatchReport, *, archive: str, title: str = "Batch") -> None:
    """Print the per-item table, then the totals: items, outcomes, cost and where files are.

    Args:
        report: The batch flow's report.
        archive: The ``--archive`` value the batch wrote to.
        title: The table's title.
    """
    out = console()
    out.print(_items_table(report, title))
    out.print(_totals(report, archive))


def _items_table(report: BatchReport, title: str) -> Table:
    """One row per item: id, line, model, status, cost and where it went (or why not)."""
    table = Table(title=title, title_justify="left", show_lines=False)
    for column in ("id", "line", "model", "status", "cost", "archive / reason"):
        table.add_column(column, overflow="fold")
    for item in report.items:
        style = _STATUS_STYLE.get(item.status, "")
        cost = item.cost_usd if item.cost_usd is not None else item.estimated_cost_usd
        where = item.error or _relative(item.archive_uri) or ""
        table.add_row(
            _shown_id(item.key),
            str(item.line or ""),
            item.model or "",
            f"[{style}]{item.status}[/]",
            money(cost),
            where,
        )
    return table


def _totals(report: BatchReport, archive: str) -> Table:
    """The totals grid under the table: counts, this run's cost, budget and the archive."""
    succeeded = report.count("archived") + report.count("skipped")
    not_submitted = report.count("not_submitted")
    totals = Table.grid(padding=(0, 2))
    totals.add_column(style="bold")
    totals.add_column()
    totals.add_row("items", str(len(report.items)))
    if report.dry_run:
        totals.add_row("validated", str(report.count("validated")))
    else:
        totals.add_row("succeeded", f"{succeeded} ({report.count('skipped')} already archived)")
        totals.add_row("failed", str(report.count("failed")))
    totals.add_row("rejected", str(report.count("rejected")))
    if not_submitted:
        totals.add_row("not submitted", str(not_submitted))
    totals.add_row("cost", report.costs())  # this run's spend apart from what earlier runs paid
    if report.budget_usd is not None:
        totals.add_row("budget", money(report.budget_usd))
    if not report.dry_run:
        totals.add_row("videos + manifests", archive_location(archive))
    return totals


def _shown_id(key: str) -> str:
    """The id column: empty for a line that has no usable id (its key is its label, ``line 7``,
    and the line column already says which line it is)."""
    return "" if " " in key else key


def _relative(uri: str | None) -> str | None:
    """An archive URI as printed: a ``file://`` URI relative to the working directory."""
    if not uri:
        return None
    if uri.startswith("file://"):
        path = Path(uri.removeprefix("file://"))
        try:
            return str(path.relative_to(Path.cwd()))
        except ValueError:
            return str(path)
    return uri
