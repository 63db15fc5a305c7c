"""What a run reports: the outcome of every item and the batch's totals, and each item's end as
it happens.

The flow announces each item as it ends; a terminal front end (the CLI's progress bar) or a
notebook subscribes with `watching_items` around the flow call. The subscription lives in a
context variable, so it reaches the flow's tasks in this process and nothing else, and two
batches in one process never see each other's items. Artifacts and events are
`prefect_oxen.flows.report`.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field

__all__ = [
    "BatchIncomplete",
    "BatchReport",
    "ItemFinished",
    "ItemReport",
    "ItemStatus",
    "announce_item",
    "located_error",
    "money",
    "watching_items",
]

logger = logging.getLogger("prefect_oxen.engine")

ItemStatus = Literal[
    "archived", "skipped", "failed", "rejected", "not_submitted", "validated", "cancelled"
]

# Reasons quoted in a state message: a few, each short; the report artifact has them all.
_REASONS_IN_MESSAGE = 3
_REASON_LENGTH = 100
# Words every validation error repeats; the short form in a state message keeps the reason.
_VERBOSE = re.compile(
    r"Invalid request for model '[^']*': |\s*Fix the request; nothing was sent or billed\."
)


def money(value: float) -> str:
    """A dollar figure as reports show it.

    Args:
        value: US dollars.

    Returns:
        E.g. "$1.40".
    """
    return f"${value:.2f}"


class ItemReport(BaseModel):
    """The outcome of one item: archived, skipped (already archived), failed, rejected or not
    submitted (budget reached)."""

    key: str
    line: int | None = None
    model: str | None = None
    prompt: str | None = Field(
        default=None, description="The prompt (the first shot's for multi-shot)."
    )
    status: ItemStatus
    error: str | None = None
    generation_id: str | None = None
    video_seconds: float | None = None
    latency_seconds: float | None = Field(
        default=None,
        description="The item's wall time in this run: from its start (waiting for a slot "
        "included) until it was archived or failed. Shown as `wall_s`.",
    )
    estimated_cost_usd: float | None = None
    cost_usd: float | None = Field(
        default=None,
        description="What the generation cost; paid by this run unless `reattached` (an earlier "
        "run paid) or the item was skipped.",
    )
    archive_uri: str | None = None
    view_url: str | None = None
    sha256: str | None = None
    poster_path: str | None = None
    reattached: bool = False

    @property
    def link(self) -> str:
        """A URL a browser can open (a presigned S3 view URL), or empty: a ``file://`` link is dead
        in the UI, and for a local archive `archive_uri` already says where the file is."""
        url = self.view_url or ""
        return url if url.startswith(("https://", "http://")) and url != self.archive_uri else ""

    @property
    def paid_by(self) -> Literal["this run", "earlier run", ""]:
        """Who paid for this item's video."""
        if self.status == "skipped" or (self.reattached and self.cost_usd):
            return "earlier run"
        return "this run" if self.cost_usd else ""

    def row(self) -> dict[str, Any]:
        """The item as a row of the report table artifact.

        Returns:
            Column name to cell value, in the table's column order.
        """
        cost = self.cost_usd if self.status != "skipped" else None
        return {
            "id": self.key,
            "line": self.line if self.line is not None else "",
            "status": self.status,
            "error": self.error or "",
            "model": self.model or "",
            "video_s": round(self.video_seconds, 2) if self.video_seconds else "",
            "wall_s": round(self.latency_seconds, 1) if self.latency_seconds else "",
            "cost_usd": f"{cost:.2f}" if cost is not None else "",
            "paid_by": self.paid_by,
            "archive": self.archive_uri or "",
            "link": self.link,
        }


class BatchReport(BaseModel):
    """Every item's outcome plus totals, with this run's spend kept apart from earlier runs'."""

    items: list[ItemReport]
    estimated_cost_usd: float = 0.0
    budget_usd: float | None = None
    dry_run: bool = False

    def count(self, status: str) -> int:
        """How many items ended with `status`.

        Args:
            status: An item status, e.g. "archived".

        Returns:
            The number of such items.
        """
        return sum(1 for item in self.items if item.status == status)

    @property
    def paid_usd(self) -> float:
        """New spend of this run: generations it enqueued (archived, or paid and then lost)."""
        return round(sum(i.cost_usd or 0.0 for i in self.items if i.paid_by == "this run"), 6)

    @property
    def reattached_usd(self) -> float:
        """Generations an earlier run paid for and this run collected and archived."""
        return round(
            sum(i.cost_usd or 0.0 for i in self.items if i.reattached and i.status != "skipped"), 6
        )

    @property
    def skipped_usd(self) -> float:
        """What the items skipped as already archived had cost (paid by earlier runs)."""
        return round(
            sum(
                i.cost_usd or i.estimated_cost_usd or 0.0
                for i in self.items
                if i.status == "skipped"
            ),
            6,
        )

    @property
    def total_cost_usd(self) -> float:
        """This run's new spend (`paid_usd`): what anyone summing runs should add up."""
        return self.paid_usd

    @property
    def ok(self) -> bool:
        """True when every item is archived or skipped (or, for a dry run, none is rejected)."""
        return all(item.status in ("archived", "skipped") for item in self.items) or (
            self.dry_run and not any(item.status == "rejected" for item in self.items)
        )

    @property
    def budget_stopped(self) -> bool:
        """True when the budget kept items from being submitted."""
        return self.count("not_submitted") > 0

    def costs(self) -> str:
        """This run's spend, then what earlier runs paid, e.g. "paid $0.45 this run, $1.40
        already paid (skipped)"."""
        if self.dry_run:
            return f"estimated {money(self.estimated_cost_usd)}"
        parts = [f"paid {money(self.paid_usd)} this run"]
        if self.reattached_usd:
            parts.append(f"{money(self.reattached_usd)} reattached (paid by an earlier run)")
        if self.skipped_usd:
            parts.append(f"{money(self.skipped_usd)} already paid (skipped)")
        parts.append(f"estimated {money(self.estimated_cost_usd)}")
        return ", ".join(parts)

    def rejections(self) -> str:
        """The first few rejected lines and why, e.g. "line 3: not valid JSON ..."."""
        rejected = [item for item in self.items if item.status == "rejected"]
        reasons = []
        for item in rejected[:_REASONS_IN_MESSAGE]:
            reason = _VERBOSE.sub("", located_error(item)).strip()
            if len(reason) > _REASON_LENGTH:
                reason = reason[: _REASON_LENGTH - 3] + "..."
            reasons.append(reason)
        if len(rejected) > _REASONS_IN_MESSAGE:
            reasons.append(f"{len(rejected) - _REASONS_IN_MESSAGE} more")
        return ", ".join(reasons)

    def summary(self) -> str:
        """Counts by status, then the costs, e.g. "3 items, 3 archived; paid $1.05 this run ...".

        Returns:
            The one-line summary state messages and logs show.
        """
        parts = [f"{len(self.items)} items"]
        for status in (
            "archived",
            "skipped",
            "validated",
            "cancelled",
            "failed",
            "rejected",
            "not_submitted",
        ):
            if self.count(status):
                text = f"{self.count(status)} {status.replace('_', ' ')}"
                if status == "rejected":
                    text += f" ({self.rejections()})"
                parts.append(text)
        return ", ".join(parts) + "; " + self.costs()


def located_error(item: ItemReport) -> str:
    """`item`'s error, led by where it was (``line 7: ...``) exactly once.

    Args:
        item: A rejected or failed item.

    Returns:
        E.g. "line 7: not valid JSON ...".
    """
    error = item.error or "rejected"
    if item.line is not None and not error.startswith(("line ", "row ", "item ")):
        return f"line {item.line}: {error}"
    return error


class BatchIncomplete(Exception):
    """Some items of a batch were not archived; `report` says which and why.

    Args:
        report: The batch report.
    """

    def __init__(self, report: BatchReport) -> None:
        super().__init__(
            f"Batch incomplete: {report.summary()}. See the oxen-batch-report artifact."
        )
        self.report = report


@dataclass(frozen=True)
class ItemFinished:
    """One item's end: its key, its status (archived, skipped, failed, rejected, not_submitted,
    validated) and whether it counts as a success."""

    key: str
    status: str

    @property
    def ok(self) -> bool:
        """True unless the item failed or was rejected."""
        return self.status not in ("failed", "rejected", "not_submitted")


Listener = Callable[[ItemFinished], None]

_listeners: ContextVar[tuple[Listener, ...]] = ContextVar("prefect_oxen_item_listeners", default=())


@contextlib.contextmanager
def watching_items(listener: Listener) -> Iterator[None]:
    """Call `listener` for every item that ends in a batch started inside the block."""
    reset = _listeners.set((*_listeners.get(), listener))
    try:
        yield
    finally:
        _listeners.reset(reset)


def announce_item(key: str, status: str) -> None:
    """Tell the current listeners that item `key` ended with `status` (never raises)."""
    event = ItemFinished(key, status)
    for listener in _listeners.get():
        try:
            listener(event)
        except Exception:  # a broken progress bar must not fail a paid batch
            logger.debug("progress listener failed", exc_info=True)
