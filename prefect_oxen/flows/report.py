"""What a run tells its operator: progress, artifacts and events, from the engine's reports.

The report models (`ItemReport`, `BatchReport`, `BatchIncomplete`) live in `prefect_oxen.engine`
(the item run fills them in); this module publishes them through Prefect.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prefect.artifacts import (
    acreate_markdown_artifact,
    acreate_progress_artifact,
    acreate_table_artifact,
    aupdate_progress_artifact,
)
from prefect.events import emit_event

from prefect_oxen.engine import (
    BatchReport,
    ItemReport,
    announce_item,
    located_error,
    money,
)

__all__ = [
    "Progress",
    "emit_asset_event",
    "emit_batch_event",
    "emit_item_event",
    "finish_batch",
    "publish_report",
    "publish_video_artifact",
]


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
        """Create the progress artifact at 0 %."""
        self._id = await acreate_progress_artifact(
            progress=0.0, key="oxen-batch-progress", description=description
        )

    async def advance(self, key: str, status: str) -> None:
        """Count item `key` as ended with `status`, and tell this process's listeners at once."""
        self.done += 1
        announce_item(key, status)
        now = time.monotonic()
        if self._id is None or (now - self._last < self.interval and self.done < self.total):
            return
        async with self._lock:
            self._last = now
            await aupdate_progress_artifact(
                self._id, progress=round(100.0 * min(self.done, self.total) / self.total, 1)
            )


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
    related = (
        [{"prefect.resource.id": f"oxen.batch.{batch_id}", "prefect.resource.role": "batch"}]
        if batch_id
        else []
    )
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
        related=[
            {
                "prefect.resource.id": "prefect-oxen",
                "prefect.resource.role": "asset-materialized-by",
            }
        ],
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
        lines += [f"Budget: {money(report.budget_usd)}", ""]
    sheet = contact_sheet(report.items, contact_sheet_limit)
    if sheet:
        lines += ["## Contact sheet", ""]
        for entry in sheet:
            lines += [entry, ""]
    failed = [
        item for item in report.items if item.status in ("failed", "rejected", "not_submitted")
    ]
    if failed:
        lines += ["## Not archived", "", "| id | status | reason |", "|---|---|---|"]
        for item in failed:
            reason = located_error(item) if item.status == "rejected" else item.error or ""
            reason = reason.replace("|", "\\|").replace("\n", " ")[:300]
            lines.append(f"| {item.key} | {item.status} | {reason} |")
        lines.append("")
    lines.append(f"Report table columns: {_COLUMNS_NOTE}")
    await acreate_markdown_artifact(
        key="oxen-batch-summary", markdown="\n".join(lines), description=title
    )


async def publish_video_artifact(
    item: ItemReport, *, title: str, extra: Sequence[str] = ()
) -> None:
    """A small markdown artifact for one video: what was made, where, what it cost, its poster."""
    lines = [f"# {title}: {item.key}", ""]
    if item.status != "archived":
        lines += [f"**Not archived**: {item.error or item.status}", ""]
    rows = [
        ("model", item.model or ""),
        ("prompt", (item.prompt or "").replace("|", "\\|")),
        ("video", f"{item.video_seconds:.1f} s" if item.video_seconds else ""),
        ("cost", f"{money(item.cost_usd)} ({item.paid_by})" if item.cost_usd else "$0.00"),
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


async def finish_batch(
    report: BatchReport,
    *,
    batch_id: str | None = None,
    contact_sheet_limit: int = 24,
    source: str | None = None,
) -> BatchReport:
    """Publish a batch's report (artifacts, and the batch event unless it was a dry run).

    Args:
        report: The batch report.
        batch_id: The batch's flow run id, for the event.
        contact_sheet_limit: How many posters the summary artifact shows.
        source: Where the batch came from, for the event.

    Returns:
        `report`, as published.
    """
    title = "Oxen dry run" if report.dry_run else "Oxen batch"
    await publish_report(report, title=title, contact_sheet_limit=contact_sheet_limit)
    if not report.dry_run:
        emit_batch_event(report, batch_id=batch_id, source=source)
    return report
