"""What a batch tells its operator: per-item report, artifacts and events."""

from __future__ import annotations

import asyncio
import base64
import time
from pathlib import Path
from typing import Any, Literal

from prefect.artifacts import (
    acreate_markdown_artifact,
    acreate_progress_artifact,
    acreate_table_artifact,
    aupdate_progress_artifact,
)
from prefect.events import emit_event
from pydantic import BaseModel, Field

from prefect_oxen.engine import announce_item

__all__ = ["BatchIncomplete", "BatchReport", "ItemReport", "Progress", "emit_item_event"]

ItemStatus = Literal["archived", "skipped", "failed", "rejected", "not_submitted", "validated"]


class ItemReport(BaseModel):
    """The outcome of one item: archived, skipped (already archived), failed, rejected or not
    submitted (budget reached)."""

    key: str
    line: int | None = None
    model: str | None = None
    status: ItemStatus
    error: str | None = None
    generation_id: str | None = None
    video_seconds: float | None = None
    latency_seconds: float | None = None
    estimated_cost_usd: float | None = None
    cost_usd: float | None = Field(default=None, description="Actual cost (paid generations only).")
    archive_uri: str | None = None
    view_url: str | None = None
    poster_path: str | None = None
    reattached: bool = False

    def row(self) -> dict[str, Any]:
        return {
            "id": self.key,
            "model": self.model or "",
            "status": self.status,
            "video_s": round(self.video_seconds, 2) if self.video_seconds else "",
            "latency_s": round(self.latency_seconds, 2) if self.latency_seconds else "",
            "cost_usd": round(self.cost_usd, 4) if self.cost_usd is not None else "",
            "archive": self.archive_uri or "",
            "link": self.view_url or "",
            "error": self.error or "",
        }


class BatchReport(BaseModel):
    """Every item's outcome plus totals."""

    items: list[ItemReport]
    estimated_cost_usd: float = 0.0
    budget_usd: float | None = None
    dry_run: bool = False

    def count(self, status: str) -> int:
        return sum(1 for item in self.items if item.status == status)

    @property
    def total_cost_usd(self) -> float:
        return round(sum(item.cost_usd or 0.0 for item in self.items), 6)

    @property
    def ok(self) -> bool:
        return all(item.status in ("archived", "skipped") for item in self.items) or (
            self.dry_run and not any(item.status == "rejected" for item in self.items)
        )

    def summary(self) -> str:
        parts = [f"{len(self.items)} items"]
        for status in ("archived", "skipped", "validated", "failed", "rejected", "not_submitted"):
            if self.count(status):
                parts.append(f"{self.count(status)} {status.replace('_', ' ')}")
        parts.append(f"cost ${self.total_cost_usd:.2f}" + ("" if self.dry_run else f" (estimated ${self.estimated_cost_usd:.2f})"))
        return ", ".join(parts)


class BatchIncomplete(Exception):
    """Some items of a batch were not archived; `report` says which and why."""

    def __init__(self, report: BatchReport) -> None:
        super().__init__(f"Batch incomplete: {report.summary()}. See the oxen-batch-report artifact.")
        self.report = report


class Progress:
    """A progress artifact updated as items finish, at most every `interval` seconds (each update
    is an API call) and always at the end."""

    def __init__(self, total: int, *, interval: float = 1.0) -> None:
        self.total = max(total, 1)
        self.done = 0
        self.interval = interval
        self._last = 0.0
        self._id: Any = None
        # Updates race when items finish together; serialise them so the last one written is
        # the highest figure.
        self._lock = asyncio.Lock()

    async def start(self, description: str) -> None:
        self._id = await acreate_progress_artifact(progress=0.0, key="oxen-batch-progress", description=description)

    async def advance(self, key: str, status: str) -> None:
        """Count item `key` as ended with `status`, and tell this process's listeners at once."""
        self.done += 1
        announce_item(key, status)
        now = time.monotonic()
        if self._id is None or (now - self._last < self.interval and self.done < self.total):
            return
        async with self._lock:
            self._last = now
            await aupdate_progress_artifact(self._id, progress=round(100.0 * min(self.done, self.total) / self.total, 1))


def emit_item_event(item: ItemReport, *, batch_id: str | None) -> None:
    """``oxen.video.generated`` or ``oxen.video.failed``, with the item as the resource."""
    if item.status not in ("archived", "failed"):
        return
    related = [{"prefect.resource.id": f"oxen.batch.{batch_id}", "prefect.resource.role": "batch"}] if batch_id else []
    emit_event(
        event="oxen.video.generated" if item.status == "archived" else "oxen.video.failed",
        resource={
            "prefect.resource.id": f"oxen.video.{item.key}",
            "prefect.resource.name": item.key,
            "oxen.model": item.model or "",
            **({"oxen.generation-id": item.generation_id} if item.generation_id else {}),
        },
        related=related,
        payload={
            "archive_uri": item.archive_uri,
            "cost_usd": item.cost_usd,
            "video_seconds": item.video_seconds,
            "latency_seconds": item.latency_seconds,
            "error": item.error,
            "reattached": item.reattached,
        },
    )


def emit_batch_event(report: BatchReport, *, batch_id: str | None) -> None:
    emit_event(
        event="oxen.batch.completed",
        resource={"prefect.resource.id": f"oxen.batch.{batch_id or 'local'}", "oxen.outcome": "ok" if report.ok else "partial"},
        payload={
            "items": len(report.items),
            "archived": report.count("archived"),
            "skipped": report.count("skipped"),
            "failed": report.count("failed"),
            "rejected": report.count("rejected"),
            "not_submitted": report.count("not_submitted"),
            "cost_usd": report.total_cost_usd,
            "estimated_cost_usd": report.estimated_cost_usd,
        },
    )


async def publish_report(report: BatchReport, *, title: str, contact_sheet_limit: int = 24) -> None:
    """The table artifact (every item) and the markdown artifact (totals and a contact sheet)."""
    await acreate_table_artifact(
        key="oxen-batch-report",
        table=[item.row() for item in report.items],
        description=f"{title}: {report.summary()}",
    )
    lines = [f"# {title}", "", f"**{report.summary()}**", ""]
    if report.budget_usd is not None:
        lines.append(f"Budget: ${report.budget_usd:.2f}")
        lines.append("")
    sheet = [item for item in report.items if item.poster_path and Path(item.poster_path).exists()][:contact_sheet_limit]
    if sheet:
        lines += ["## Contact sheet", ""]
        for item in sheet:
            # Posters are tiny (a few KB): inline them so the sheet works for local archives too.
            data = base64.b64encode(Path(item.poster_path).read_bytes()).decode()
            target = item.view_url or item.archive_uri or ""
            lines.append(f"[![{item.key}](data:image/png;base64,{data})]({target}) `{item.key}`")
        lines.append("")
    failed = [item for item in report.items if item.status in ("failed", "rejected", "not_submitted")]
    if failed:
        lines += ["## Not archived", "", "| id | status | reason |", "|---|---|---|"]
        for item in failed:
            reason = (item.error or "").replace("|", "\\|").replace("\n", " ")[:300]
            lines.append(f"| {item.key} | {item.status} | {reason} |")
    await acreate_markdown_artifact(key="oxen-batch-summary", markdown="\n".join(lines), description=title)
