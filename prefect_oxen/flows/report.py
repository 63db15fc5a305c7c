"""What a batch tells its operator: per-item report, artifacts and events."""

from __future__ import annotations

import asyncio
import base64
import re
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

__all__ = [
    "BatchIncomplete",
    "BatchReport",
    "ItemReport",
    "Progress",
    "emit_asset_event",
    "emit_batch_event",
    "emit_item_event",
    "publish_report",
    "publish_video_artifact",
]

ItemStatus = Literal["archived", "skipped", "failed", "rejected", "not_submitted", "validated"]

# Reasons quoted in a state message: a few, each short; the report artifact has them all.
_REASONS_IN_MESSAGE = 3
_REASON_LENGTH = 100
# Words every validation error repeats; the short form in a state message keeps the reason.
_VERBOSE = re.compile(
    r"Invalid request for model '[^']*': |\s*Fix the request; nothing was sent or billed\."
)


def _money(value: float) -> str:
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
        return sum(1 for item in self.items if item.status == status)

    @property
    def paid_usd(self) -> float:
        """New spend of this run: generations it enqueued (archived, or paid and then lost)."""
        return round(sum(i.cost_usd or 0.0 for i in self.items if i.paid_by == "this run"), 6)

    @property
    def reattached_usd(self) -> float:
        """Generations an earlier run paid for and this run collected and archived."""
        return round(sum(
            i.cost_usd or 0.0 for i in self.items if i.reattached and i.status != "skipped"
        ), 6)

    @property
    def skipped_usd(self) -> float:
        """What the items skipped as already archived had cost (paid by earlier runs)."""
        return round(sum(
            i.cost_usd or i.estimated_cost_usd or 0.0 for i in self.items if i.status == "skipped"
        ), 6)

    @property
    def total_cost_usd(self) -> float:
        """This run's new spend (`paid_usd`): what anyone summing runs should add up."""
        return self.paid_usd

    @property
    def ok(self) -> bool:
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
            return f"estimated {_money(self.estimated_cost_usd)}"
        parts = [f"paid {_money(self.paid_usd)} this run"]
        if self.reattached_usd:
            parts.append(f"{_money(self.reattached_usd)} reattached (paid by an earlier run)")
        if self.skipped_usd:
            parts.append(f"{_money(self.skipped_usd)} already paid (skipped)")
        parts.append(f"estimated {_money(self.estimated_cost_usd)}")
        return ", ".join(parts)

    def rejections(self) -> str:
        """The first few rejected lines and why, e.g. "line 3: not valid JSON ..."."""
        rejected = [item for item in self.items if item.status == "rejected"]
        reasons = []
        for item in rejected[:_REASONS_IN_MESSAGE]:
            reason = _VERBOSE.sub("", _reason(item)).strip()
            if len(reason) > _REASON_LENGTH:
                reason = reason[: _REASON_LENGTH - 3] + "..."
            reasons.append(reason)
        if len(rejected) > _REASONS_IN_MESSAGE:
            reasons.append(f"{len(rejected) - _REASONS_IN_MESSAGE} more")
        return ", ".join(reasons)

    def summary(self) -> str:
        parts = [f"{len(self.items)} items"]
        for status in ("archived", "skipped", "validated", "failed", "rejected", "not_submitted"):
            if self.count(status):
                text = f"{self.count(status)} {status.replace('_', ' ')}"
                if status == "rejected":
                    text += f" ({self.rejections()})"
                parts.append(text)
        return ", ".join(parts) + "; " + self.costs()


def _reason(item: ItemReport) -> str:
    """`item`'s error, led by where it was (``line 7: ...``) exactly once."""
    error = item.error or "rejected"
    if item.line is not None and not error.startswith(("line ", "row ", "item ")):
        return f"line {item.line}: {error}"
    return error


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


def _current_flow_run() -> tuple[str | None, str | None]:
    """The id and name of the flow run this code runs in, if any."""
    from prefect.runtime import flow_run

    run_id = flow_run.id
    return (str(run_id), flow_run.name) if run_id else (None, None)


def video_resource_id(key: str, run_id: str | None) -> str:
    """``oxen.video.<run>.<key>``: an item's key alone repeats across batches (``item-0001``)."""
    return f"oxen.video.{run_id}.{key}" if run_id else f"oxen.video.{key}"


def emit_item_event(item: ItemReport, *, batch_id: str | None) -> None:
    """``oxen.video.generated`` or ``oxen.video.failed``, with the item as the resource; an
    archived video is also recorded as a Prefect asset (see `emit_asset_event`)."""
    if item.status not in ("archived", "failed"):
        return
    run_id = batch_id or _current_flow_run()[0]
    related = [{"prefect.resource.id": f"oxen.batch.{batch_id}", "prefect.resource.role": "batch"}] if batch_id else []
    emit_event(
        event="oxen.video.generated" if item.status == "archived" else "oxen.video.failed",
        resource={
            "prefect.resource.id": video_resource_id(item.key, run_id),
            "prefect.resource.name": item.key,
            "oxen.model": item.model or "",
            **({"oxen.generation-id": item.generation_id} if item.generation_id else {}),
        },
        related=related,
        payload={
            "archive_uri": item.archive_uri,
            "cost_usd": item.cost_usd,
            "paid_by": item.paid_by,
            "video_seconds": item.video_seconds,
            "wall_seconds": item.latency_seconds,
            "error": item.error,
            "reattached": item.reattached,
        },
    )
    if item.status == "archived":
        emit_asset_event(item)


def emit_asset_event(item: ItemReport) -> None:
    """Record an archived video as a Prefect asset keyed by its URI (``s3://bucket/key`` or
    ``file://...``), with model, prompt, duration, cost and checksum as metadata.

    The event is the one Prefect's own `materialize` tasks emit, so the video shows in the asset
    lineage views without an extra task run per item.
    """
    from prefect.assets import Asset, AssetProperties

    if not item.archive_uri:
        return
    try:
        asset = Asset(
            key=item.archive_uri,
            properties=AssetProperties(name=item.key, url=item.link or None),
        )
    except ValueError:  # a URI Prefect does not accept as an asset key: the event above has it
        return
    resource = {"prefect.resource.id": asset.key, "prefect.resource.name": item.key}
    if item.link:
        resource["prefect.asset.url"] = item.link
    emit_event(
        event="prefect.asset.materialization.succeeded",
        resource=resource,
        related=[{
            "prefect.resource.id": "prefect-oxen",
            "prefect.resource.role": "asset-materialized-by",
        }],
        payload={
            "model": item.model,
            "prompt": item.prompt,
            "duration_seconds": item.video_seconds,
            "cost_usd": item.cost_usd,
            "sha256": item.sha256,
            "generation_id": item.generation_id,
        },
    )


def emit_batch_event(
    report: BatchReport, *, batch_id: str | None, source: str | None = None
) -> None:
    """``oxen.batch.completed``: counts and this run's costs; `cost_usd` is only new spend, so
    summing the events of many runs counts every payment once."""
    run_id, run_name = _current_flow_run()
    name = run_name or source or "oxen batch"
    outcome = "ok" if report.ok else "budget-stop" if report.budget_stopped else "partial"
    emit_event(
        event="oxen.batch.completed",
        resource={
            "prefect.resource.id": f"oxen.batch.{batch_id or run_id or 'local'}",
            "prefect.resource.name": name,
            "oxen.outcome": outcome,
            **({"oxen.source": source} if source else {}),
        },
        payload={
            "outcome": outcome,
            "items": len(report.items),
            "archived": report.count("archived"),
            "skipped": report.count("skipped"),
            "failed": report.count("failed"),
            "rejected": report.count("rejected"),
            "not_submitted": report.count("not_submitted"),
            "budget_stopped": report.budget_stopped,
            "cost_usd": report.paid_usd,
            "reattached_cost_usd": report.reattached_usd,
            "skipped_cost_usd": report.skipped_usd,
            "estimated_cost_usd": report.estimated_cost_usd,
            "summary": report.summary(),
        },
    )


def poster_data_uri(path: str | None) -> str | None:
    """A poster PNG as a ``data:`` URI (a few KB), so it renders for local archives too."""
    if not path or not Path(path).exists():
        return None
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode()


def contact_sheet(items: list[ItemReport], limit: int) -> list[str]:
    """Markdown lines: each poster as a plain image with its id, and a text link only where one
    leads somewhere. The legacy UI cannot render an image inside a link, and the current UI drops
    ``file://`` hrefs, so neither form is used."""
    lines: list[str] = []
    for item in items:
        if len(lines) >= limit:
            break
        data = poster_data_uri(item.poster_path)
        if data is None:
            continue
        entry = f"![{item.key}]({data})\n**{item.key}**"
        if item.link:
            entry += f" · [open video]({item.link})"
        lines.append(entry)
    return lines


_COLUMNS_NOTE = (
    "`wall_s`: the item's wall time in this run (waiting for a slot included); `cost_usd`: what "
    "its video cost, paid by whoever `paid_by` names; `link`: a presigned view URL (S3 only)."
)


async def publish_report(report: BatchReport, *, title: str, contact_sheet_limit: int = 24) -> None:
    """The table artifact (every item) and the markdown artifact (totals and a contact sheet)."""
    await acreate_table_artifact(
        key="oxen-batch-report",
        table=[item.row() for item in report.items],
        description=f"{title}: {report.summary()}. {_COLUMNS_NOTE}",
    )
    lines = [f"# {title}", "", f"**{report.summary()}**", ""]
    if report.budget_usd is not None:
        lines += [f"Budget: {_money(report.budget_usd)}", ""]
    sheet = contact_sheet(report.items, contact_sheet_limit)
    if sheet:
        lines += ["## Contact sheet", ""]
        for entry in sheet:
            lines += [entry, ""]
    failed = [item for item in report.items if item.status in ("failed", "rejected", "not_submitted")]
    if failed:
        lines += ["## Not archived", "", "| id | status | reason |", "|---|---|---|"]
        for item in failed:
            reason = _reason(item) if item.status == "rejected" else item.error or ""
            reason = reason.replace("|", "\\|").replace("\n", " ")[:300]
            lines.append(f"| {item.key} | {item.status} | {reason} |")
        lines.append("")
    lines.append(f"Report table columns: {_COLUMNS_NOTE}")
    await acreate_markdown_artifact(key="oxen-batch-summary", markdown="\n".join(lines), description=title)


async def publish_video_artifact(item: ItemReport, *, title: str, extra: list[str] = ()) -> None:
    """A small markdown artifact for one video: what was made, where, what it cost, its poster."""
    lines = [f"# {title}: {item.key}", ""]
    if item.status != "archived":
        lines += [f"**Not archived**: {item.error or item.status}", ""]
    rows = [
        ("model", item.model or ""),
        ("prompt", (item.prompt or "").replace("|", "\\|")),
        ("video", f"{item.video_seconds:.1f} s" if item.video_seconds else ""),
        ("cost", f"{_money(item.cost_usd)} ({item.paid_by})" if item.cost_usd else "$0.00"),
        ("archive", f"`{item.archive_uri}`" if item.archive_uri else ""),
        ("sha256", f"`{item.sha256}`" if item.sha256 else ""),
    ]
    lines += ["| | |", "|---|---|", *(f"| {name} | {value} |" for name, value in rows if value)]
    lines += ["", *extra]
    if item.link:
        lines += [f"[open video]({item.link})", ""]
    if (data := poster_data_uri(item.poster_path)) is not None:
        lines += [f"![{item.key}]({data})", ""]
    await acreate_markdown_artifact(key="oxen-video", markdown="\n".join(lines), description=title)
