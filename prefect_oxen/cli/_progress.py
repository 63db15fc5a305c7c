"""Live progress of a batch running in this process, from the flow's own per-item signal.

The flow announces every item as it ends (`prefect_oxen.engine.watching_items`); the bar advances
on each, with the failed count (rejected lines and items the budget held back counted apart)
and an ETA. No log parsing and no API round trip.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

if TYPE_CHECKING:
    from prefect_oxen.engine import ItemFinished

__all__ = ["batch_progress"]

# What the bar counts apart from the items that ended well: a rejected line (bad input, never
# sent) or one the budget kept back is not a failed generation, so each has its own count.
_COUNTED = {"failed": "red", "rejected": "yellow", "not_submitted": "yellow"}


def _outcomes(counts: dict[str, int]) -> str:
    """``2 failed · 1 rejected``: the failed count always, the others once they happen."""
    parts = [
        f"[{_COUNTED[status]}]{count} {status.replace('_', ' ')}[/]"
        for status, count in counts.items()
        if count or status == "failed"
    ]
    return " · ".join(parts)


@contextmanager
def batch_progress(console: Console, description: str, total: int | None) -> Iterator[Progress]:
    """A progress bar on `console` that advances as each item of a batch started inside ends.

    Args:
        console: Where the bar is drawn (the CLI's stderr console).
        description: The bar's label.
        total: Items expected, or None when unknown.

    Yields:
        The Rich progress display; the bar is completed when the block ends normally.
    """
    # Imported here: the engine imports Prefect, which no command may import before `main()`
    # has prepared Prefect's environment (and `--help` should not wait for).
    from prefect_oxen.engine import watching_items

    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[outcomes]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        counts = dict.fromkeys(_COUNTED, 0)
        fields: dict[str, Any] = {**counts, "outcomes": _outcomes(counts)}
        bar = progress.add_task(description, total=total, **fields)

        def on_item(event: ItemFinished) -> None:
            if event.status in counts:
                counts[event.status] += 1
            fields.update(counts, outcomes=_outcomes(counts))
            progress.update(bar, advance=1, **fields)

        try:
            with watching_items(on_item):
                yield progress
        except BaseException:
            # Stopped (Ctrl-C, SIGTERM) or failed: the stop report printed above is the last word,
            # so the bar goes rather than leaving its last line under it.
            progress.live.transient = True
            raise
        # Whatever the flow did not announce (a crash, a refused budget) still ends the bar.
        progress.update(bar, total=total or 1, completed=total or 1)
