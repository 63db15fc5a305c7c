"""What a run tells its operator: progress, artifacts and events, from the engine's reports."""

from __future__ import annotations

import asyncio
import base64
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prefect.artifacts import (
    acreate_markdown_artifact,
    acreate_progress_artifact,
    acreate_table_artifact,
    aupdate_progress_artifact,
)
from prefect.client.schemas.objects import FlowRun, State
from prefect.events import emit_event

from prefect_oxen.engine import (
    BatchReport,
    ItemReport,
    announce_item,
    cancellation_outcome,
    current_flow_run,
    hook_logger,
    located_error,
    money,
    remembered_plan,
    still_billed_advice,
)

__all__ = [
    "Progress",
    "emit_asset_event",
    "emit_batch_event",
    "emit_item_event",
    "finish_batch",
    "publish_report",
    "publish_stopped_report",
    "publish_video_artifact",
    "report_stopped_batch",
]


class Progress:
    """A progress artifact updated as items finish, at most every `interval` seconds (each update
    is an API call) and always at the end. Its description carries the numbers people look for on
    the run's Artifacts card: done, archived, failed, and an ETA while the batch runs."""

    def __init__(self, total: int, *, interval: float = 1.0) -> None:
        self.total = max(total, 1)
        self.done = 0
        self.interval = interval
        self.statuses: Counter[str] = Counter()
        self.source = ""
        self._started = time.monotonic()
        self._last = 0.0
        self._id: Any = None
        # Updates race when items finish together; serialise them so the last one written is
        # the highest figure.
        self._lock = asyncio.Lock()

    async def start(self, description: str) -> None:
        """Create the progress artifact at 0 %.

        Args:
            description: What the batch is (e.g. "7 videos from tonight.jsonl"); the figures
                are put before it.
        """
        self.source = description
        self._started = time.monotonic()
        self._id = await acreate_progress_artifact(
            progress=0.0, key="oxen-batch-progress", description=self.describe()
        )

    def describe(self, now: float | None = None) -> str:
        """The artifact's description: counts, then an ETA while running (elapsed time at the
        end), then what the batch is.

        Args:
            now: `time.monotonic()` to compute the ETA at (default: now).

        Returns:
            E.g. "3 of 7 done: 2 archived, 1 failed · ETA 0:42 · 7 videos from tonight.jsonl".
        """
        elapsed = (time.monotonic() if now is None else now) - self._started
        counts = ", ".join(f"{n} {status.replace('_', ' ')}" for status, n in self._counts())
        parts = [f"{self.done} of {self.total} done" + (f": {counts}" if counts else "")]
        if self.done >= self.total:
            parts.append(f"took {_clock(elapsed)}")
        elif self.done:
            parts.append(f"ETA {_clock(elapsed / self.done * (self.total - self.done))}")
        else:
            parts.append("ETA when the first video ends")
        if self.source:
            parts.append(self.source)
        return " · ".join(parts)

    def _counts(self) -> list[tuple[str, int]]:
        """Archived and failed always (the figures people look for), then any other status."""
        first = [(status, self.statuses[status]) for status in ("archived", "failed")]
        rest = [(s, n) for s, n in self.statuses.items() if s not in ("archived", "failed")]
        return first + rest

    async def advance(self, key: str, status: str) -> None:
        """Count item `key` as ended with `status`, and tell this process's listeners at once."""
        self.done += 1
        self.statuses[status] += 1
        announce_item(key, status)
        now = time.monotonic()
        if self._id is None or (now - self._last < self.interval and self.done < self.total):
            return
        async with self._lock:
            self._last = now
            await aupdate_progress_artifact(
                self._id,
                progress=round(100.0 * min(self.done, self.total) / self.total, 1),
                description=self.describe(now),
            )


def _clock(seconds: float) -> str:
    """A duration as people read it on a card: "0:42", "12:05", "1:02:05"."""
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def video_resource_id(key: str, run_id: str | None) -> str:
    """``oxen.video.<run>.<key>``: an item's key alone repeats across batches (``item-0001``)."""
    return f"oxen.video.{run_id}.{key}" if run_id else f"oxen.video.{key}"


def emit_item_event(item: ItemReport, *, batch_id: str | None) -> None:
    """``oxen.video.generated`` or ``oxen.video.failed``, with the item as the resource; an
    archived video also gets an asset materialization event (see `emit_asset_event`)."""
    if item.status not in ("archived", "failed"):
        return
    run_id = batch_id or current_flow_run().id
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

    The event is the one Prefect's own `materialize` tasks emit (no extra task run per item).
    A self-hosted Prefect 3.9 server has no assets page: it shows the event in its Event Feed.
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
    report: BatchReport,
    *,
    batch_id: str | None,
    source: str | None = None,
    outcome: str | None = None,
    run_name: str | None = None,
) -> None:
    """``oxen.batch.completed``: counts and this run's costs; `cost_usd` is only new spend, so
    summing the events of many runs counts every payment once. `outcome` is "ok", "partial",
    "budget-stop", or "cancelled" for a stopped run."""
    run_id, current_name = current_flow_run()
    name = run_name or current_name or source or "oxen batch"
    outcome = outcome or (
        "ok" if report.ok else "budget-stop" if report.budget_stopped else "partial"
    )
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
            "cancelled": report.count("cancelled"),
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


# Posters per row of the contact sheet: 24 items make six rows, not a 24-screen scroll.
_SHEET_COLUMNS = 4
# A table cell's reason, cut so the columns after it stay on screen; the summary has it whole.
_TABLE_ERROR_LENGTH = 60


def _caption(item: ItemReport) -> str:
    """A poster's caption: its id, status and cost, and a link only where one leads somewhere."""
    cost = item.cost_usd if item.status != "skipped" else None
    caption = f"**{item.key}** · {item.status.replace('_', ' ')} · {money(cost or 0.0)}"
    if item.link:
        caption += f" · [open video]({item.link})"
    return caption


def contact_sheet(items: list[ItemReport], limit: int, columns: int = _SHEET_COLUMNS) -> list[str]:
    """Markdown lines: a grid of posters, `columns` to a row, each captioned with its id, status
    and cost (a table, which both UIs render: a row of images, then a row of their captions).

    Each poster is a plain image, and a caption carries a text link only where one leads
    somewhere: the legacy UI cannot render an image inside a link, and the current UI drops
    ``file://`` hrefs.
    """
    shown = [(item, data) for item in items if (data := poster_data_uri(item.poster_path))]
    shown = shown[: max(limit, 0)]
    if not shown:
        return []
    width = min(columns, len(shown))
    lines = ["|" + " |" * width, "|" + "---|" * width]
    for start in range(0, len(shown), width):
        row = shown[start : start + width]
        padding = [""] * (width - len(row))
        images = [f"![{item.key}]({data})" for item, data in row] + padding
        captions = [_caption(item) for item, _ in row] + padding
        lines.append("| " + " | ".join(images) + " |")
        lines.append("| " + " | ".join(captions) + " |")
    return lines


def _archive_root(report: BatchReport) -> str:
    """The directory every archived video of the report is under (``file:///.../2026-01-02/``),
    or "" when they have none in common."""
    uris = [item.archive_uri for item in report.items if item.archive_uri]
    if not uris:
        return ""
    # Whole path segments, the file name excluded: "file:", "", "", "tmp", ... / "s3:", "", "bucket"
    directories = [uri.split("/")[:-1] for uri in uris]
    common: list[str] = []
    for segments in zip(*directories, strict=False):
        if len(set(segments)) != 1:
            break
        common.append(segments[0])
    # A root must name a place (a bucket, a directory), not just "file:///".
    return "/".join(common) + "/" if any(common[2:]) else ""


def _table_row(item: ItemReport, root: str) -> dict[str, Any]:
    """`item`'s report row with where it went and why it failed first, so neither scrolls off:
    `archive` is the video's place under the run's archive root (named in the description), the
    reason is cut short, and the whole URI is the last column, `archive_uri`."""
    row = item.row()
    archive = row.pop("archive")
    error = row.pop("error")
    if len(error) > _TABLE_ERROR_LENGTH:
        error = error[: _TABLE_ERROR_LENGTH - 1] + "…"
    first = {
        "id": row.pop("id"),
        "status": row.pop("status"),
        "archive": archive.removeprefix(root) if root else archive,
        "cost_usd": row.pop("cost_usd"),
        "paid_by": row.pop("paid_by"),
        "error": error,
    }
    return {**first, **row, "archive_uri": archive}


def _totals(report: BatchReport) -> str:
    """Counts by status and this run's spend, short enough for an artifact card, e.g. "7 items:
    6 archived, 1 failed; paid $2.10 this run (estimated $2.45)"."""
    counts: Counter[str] = Counter(item.status for item in report.items)
    parts = ", ".join(f"{n} {status.replace('_', ' ')}" for status, n in counts.items())
    text = f"{len(report.items)} items" + (f": {parts}" if parts else "")
    if report.dry_run:
        return f"{text}; estimated {money(report.estimated_cost_usd)}"
    return (
        f"{text}; paid {money(report.paid_usd)} this run "
        f"(estimated {money(report.estimated_cost_usd)})"
    )


_COLUMNS_NOTE = (
    "`archive`: where the video is, under the archive root (`archive_uri`, the last column, is "
    "the whole URI); `cost_usd`: what its video cost, paid by whoever `paid_by` names; `error`: "
    "the reason, cut short (the summary has it whole); `wall_s`: the item's wall time in this "
    "run (waiting for a slot included); `link`: a presigned view URL (S3 only)."
)


def _report_artifacts(
    report: BatchReport, *, title: str, contact_sheet_limit: int
) -> tuple[list[dict[str, Any]], str, str, str]:
    """The report table (rows, description) and the summary (markdown, description)."""
    root = _archive_root(report)
    where = f" Archive root: {root}." if root else ""
    table = [_table_row(item, root) for item in report.items]
    table_description = f"{title}: {report.summary()}.{where} {_COLUMNS_NOTE}"
    lines = [f"# {title}", "", f"**{report.summary()}**", ""]
    if report.budget_usd is not None:
        lines += [f"Budget: {money(report.budget_usd)}", ""]
    if root:
        lines += [f"Archive root: `{root}`", ""]
    sheet = contact_sheet(report.items, contact_sheet_limit)
    if sheet:
        lines += ["## Contact sheet", "", *sheet, ""]
    failed = [
        item
        for item in report.items
        if item.status in ("failed", "rejected", "not_submitted", "cancelled")
    ]
    if failed:
        lines += ["## Not archived", "", "| id | status | reason |", "|---|---|---|"]
        for item in failed:
            reason = located_error(item) if item.status == "rejected" else item.error or ""
            reason = reason.replace("|", "\\|").replace("\n", " ")[:300]
            lines.append(f"| {item.key} | {item.status} | {reason} |")
        lines.append("")
    lines.append(f"Report table columns: {_COLUMNS_NOTE}")
    return table, table_description, "\n".join(lines), f"{title}: {_totals(report)}"


async def publish_report(report: BatchReport, *, title: str, contact_sheet_limit: int = 24) -> None:
    """The table artifact (every item) and the markdown artifact (totals and a contact sheet),
    each with the totals in its description, which the UI's artifact cards show."""
    table, table_description, markdown, description = _report_artifacts(
        report, title=title, contact_sheet_limit=contact_sheet_limit
    )
    await acreate_table_artifact(
        key="oxen-batch-report", table=table, description=table_description
    )
    await acreate_markdown_artifact(
        key="oxen-batch-summary", markdown=markdown, description=description
    )


def publish_stopped_report(report: BatchReport, *, flow_run_id: str, title: str) -> None:
    """The report and summary artifacts of a stopped run, attached to it by id (a stop hook may
    run outside the run's context: in the worker that cancelled it)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import ArtifactCreate

    table, table_description, markdown, description = _report_artifacts(
        report, title=title, contact_sheet_limit=24
    )
    with get_client(sync_client=True) as client:
        for key, kind, data, text in (
            ("oxen-batch-report", "table", table, table_description),
            ("oxen-batch-summary", "markdown", markdown, description),
        ):
            client.create_artifact(
                ArtifactCreate(
                    key=key, type=kind, data=data, description=text, flow_run_id=flow_run_id
                )
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


def _stopped_report(flow_run: FlowRun) -> tuple[BatchReport, bool]:
    """The stopped batch's report, and whether it covers every item (the run's own process)."""
    run_id = str(flow_run.id)
    outcome = cancellation_outcome(run_id)
    plan = remembered_plan(run_id)
    if plan is not None:
        plan.mark_stopped(
            {g.key: g.generation_id for g in (outcome.finished if outcome else []) if g.key}
        )
        return plan.report((flow_run.parameters or {}).get("budget")), True
    if outcome is None:
        return BatchReport(items=[]), False
    # The worker that cancelled the run knows what the stop cancelled, not the rest.
    items = []
    for generation in outcome.generations:
        paid = generation.finished or not generation.cancelled
        items.append(
            ItemReport(
                key=generation.key or generation.generation_id,
                status="cancelled",
                generation_id=generation.generation_id,
                error="stopped after its video was paid for: re-running the batch archives it "
                "without paying again"
                if generation.finished
                else f"could not be cancelled ({generation.detail}). "
                + still_billed_advice(f"--journal {outcome.state_location}", one=True)
                if paid
                else "stopped before its video was made: not billed",
            )
        )
    return BatchReport(items=items), False


def report_stopped_batch(flow_run: FlowRun, state: State[Any]) -> BatchReport:
    """Publish a stopped batch's report, event and one WARNING (from a stop hook).

    Args:
        flow_run: The stopped run (its id, name and parameters).
        state: The state it stopped in (Cancelling, Crashed).

    Returns:
        The report as published.
    """
    report, whole = _stopped_report(flow_run)
    run_id = str(flow_run.id)
    cancelling = bool(getattr(state, "is_cancelling", lambda: False)())
    # Ctrl-C, or a cancelled task awaiting the flow: Prefect records a cancelled coroutine as
    # Crashed ("Execution was cancelled by the runtime environment").
    interrupted = "cancelled" in str(getattr(state, "message", "") or "").lower()
    verb = "cancelled" if cancelling or interrupted else "stopped"
    archived = report.count("archived") + report.count("skipped")
    lost = sum(1 for item in report.items if item.status == "cancelled" and item.cost_usd)
    summary = (
        f"Batch {verb}: {report.count('cancelled')} unfinished item(s) cancelled"
        + (f", {archived} already archived" if whole else "")
        + (f"; {lost} had been paid for and are collected by a re-run" if lost else "")
        + ("" if whole else "; items archived before the stop are in the archive")
        + f"; {report.costs()}."
    )
    publish_stopped_report(report, flow_run_id=run_id, title=f"Oxen batch ({verb})")
    emit_batch_event(
        report, batch_id=run_id, outcome="cancelled", run_name=getattr(flow_run, "name", None)
    )
    hook_logger(flow_run).warning(summary)
    if (cancelling and not whole) or interrupted:
        _say_why_cancelled(run_id, summary)
    return report


def _say_why_cancelled(flow_run_id: str, message: str) -> None:
    """Make the run's final state Cancelled, saying what the stop did: the worker that cancelled
    it would otherwise write a generic "Flow run was cancelled successfully." (it keeps a run
    already Cancelled as it is), and an interrupted run would read Crashed."""
    from prefect.client.orchestration import get_client
    from prefect.states import Cancelled

    with get_client(sync_client=True) as client:
        client.set_flow_run_state(flow_run_id, Cancelled(message=message), force=True)
