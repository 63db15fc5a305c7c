"""What users read in the Prefect UI: state messages, logs, report tables, contact sheets,
artifacts, events and assets of batch, single and multi-shot runs (issue 12)."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import anyio
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

from prefect_oxen.engine import readable_key
from prefect_oxen.flows import BatchReport, generate_video_flow, multi_shot_flow
from tests.support import FAST, KLING

from .reports import run_batch


def _items(n: int, tag: str) -> list[dict]:
    return [
        {"id": f"v{i:03d}", "model": FAST, "prompt": f"{tag} {i}", "duration": 1} for i in range(n)
    ]


async def _artifacts(flow_run_id) -> dict[str, object]:
    async with get_client() as client:
        found = await client.read_artifacts(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
    return {a.key: a for a in found if a.key}


def _events(worker, name: str) -> list:
    worker.drain()
    return [e for e in worker._client.events if e.event == name]


async def test_rejected_lines_are_logged_and_summarised_in_the_state_message(
    credentials, emulator, workdir: Path, unique: str, caplog: pytest.LogCaptureFixture
) -> None:
    lines = [json.dumps(item) for item in _items(2, unique)]
    lines.insert(1, "{broken json")
    lines.append(json.dumps({"id": "too-short", "model": KLING, "prompt": "x", "duration": 2}))
    source = workdir / "batch.jsonl"
    source.write_text("\n".join(lines) + "\n")

    with caplog.at_level(logging.WARNING):
        state, _ = await run_batch(workdir, str(source), credentials)

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert [m for m in warnings if m.startswith("Rejected")] == [
        "Rejected line 2: not valid JSON (Expecting property name enclosed in double "
        "quotes at column 2)",
        next(m for m in warnings if m.startswith("Rejected line 4 (too-short): ")),
    ]
    assert "duration value '2' is invalid" in warnings[1]
    assert "2 rejected (line 2: not valid JSON" in state.message
    assert "line 4: duration: duration value '2' is invalid" in state.message


async def test_a_rerun_reports_only_its_own_spend(
    credentials, emulator, workdir: Path, unique: str, asserting_events_worker
) -> None:
    items = _items(3, unique)
    _first_state, first = await run_batch(workdir, items, credentials)
    second_state, second = await run_batch(workdir, items, credentials)

    assert first.paid_usd == pytest.approx(0.03) and first.skipped_usd == 0
    assert second.count("skipped") == 3
    assert second.paid_usd == 0 and second.total_cost_usd == 0
    assert second.skipped_usd == pytest.approx(0.03)
    assert "paid $0.00 this run, $0.03 already paid (skipped)" in second.summary()
    assert emulator.stats()["billed_cost_usd"] == pytest.approx(0.03)

    completed = _events(asserting_events_worker, "oxen.batch.completed")
    by_run = {e.resource.id: e for e in completed}
    rerun = by_run[f"oxen.batch.{second_state.state_details.flow_run_id}"]
    assert rerun.payload["cost_usd"] == 0 and rerun.payload["skipped_cost_usd"] == pytest.approx(
        0.03
    )
    # Summing the events counts every payment once.
    assert sum(e.payload["cost_usd"] for e in completed) == pytest.approx(0.03)
    summary = (await _artifacts(second_state.state_details.flow_run_id))["oxen-batch-summary"].data
    assert "paid $0.00 this run" in summary


async def test_report_table_reads_right_for_a_local_archive(
    credentials, emulator, workdir: Path, unique: str
) -> None:
    state, _report = await run_batch(
        workdir,
        [
            {
                "id": "o3",
                "model": "kling-video-o3-pro-reference-to-video",
                "prompt": unique,
                "duration": 3,
            }
        ],
        credentials,
    )
    table = (await _artifacts(state.state_details.flow_run_id))["oxen-batch-report"]
    [row] = json.loads(table.data)
    assert row["archive_uri"].startswith("file://") and row["archive_uri"].endswith("/o3.mp4")
    # Where the video went is the third column, short: its place under the root the table's
    # description names, so it shows without scrolling; the whole URI is the last column.
    root = row["archive_uri"].removesuffix("o3.mp4")
    assert row["archive"] == "o3.mp4" and f"Archive root: {root}." in table.description
    assert list(row)[:6] == ["id", "status", "archive", "cost_usd", "paid_by", "error"]
    assert list(row)[-1] == "archive_uri"
    assert row["link"] == ""  # a file:// link is dead in the UI
    assert re.fullmatch(r"\d+\.\d\d", row["cost_usd"]) and row["cost_usd"] == "0.67"  # 3 s x $0.224
    assert row["paid_by"] == "this run"
    assert "latency_s" not in row and isinstance(row["wall_s"], float)


def test_report_rows_keep_archive_and_reason_on_screen() -> None:
    from prefect_oxen.flows import ItemReport
    from prefect_oxen.flows.report import _archive_root, _table_row

    day = "s3://bucket/oxen/2026-01-02/"
    report = BatchReport(
        items=[
            ItemReport(key="a", status="archived", archive_uri=f"{day}kling/a.mp4", cost_usd=0.35),
            ItemReport(key="b", status="archived", archive_uri=f"{day}emu/b.mp4", cost_usd=0.01),
            ItemReport(key="c", status="failed", error="the API said no " * 20),
        ]
    )
    root = _archive_root(report)
    assert root == day
    rows = [_table_row(item, root) for item in report.items]
    assert [row["archive"] for row in rows] == ["kling/a.mp4", "emu/b.mp4", ""]
    assert rows[0]["archive_uri"] == f"{day}kling/a.mp4"
    assert len(rows[2]["error"]) == 60 and rows[2]["error"].endswith("…")
    # Two archives with nothing in common but the scheme: no root, whole URIs.
    apart = BatchReport(
        items=[
            ItemReport(key="x", status="archived", archive_uri="file:///srv/x.mp4"),
            ItemReport(key="y", status="archived", archive_uri="file:///home/y.mp4"),
        ]
    )
    assert _archive_root(apart) == ""
    assert _table_row(apart.items[0], "")["archive"] == "file:///srv/x.mp4"


async def test_progress_description_counts_and_estimates_while_running() -> None:
    from prefect_oxen.flows.report import Progress

    progress = Progress(4)  # never started: no artifact, no API call
    progress.source = "4 videos from tonight.jsonl"
    start = progress._started
    assert progress.describe(start) == (
        "0 of 4 done: 0 archived, 0 failed · ETA when the first video ends · "
        "4 videos from tonight.jsonl"
    )
    await progress.advance("a", "archived")
    await progress.advance("b", "failed")
    # Two items in 30 s: the other two in about 30 s more.
    assert progress.describe(start + 30) == (
        "2 of 4 done: 1 archived, 1 failed · ETA 0:30 · 4 videos from tonight.jsonl"
    )
    await progress.advance("c", "skipped")
    await progress.advance("d", "archived")
    assert progress.describe(start + 3725) == (
        "4 of 4 done: 2 archived, 1 failed, 1 skipped · took 1:02:05 · 4 videos from tonight.jsonl"
    )


async def test_progress_and_summary_cards_carry_the_numbers(
    credentials, emulator, workdir: Path, unique: str
) -> None:
    items = [*_items(2, unique), {"id": "bad", "model": KLING, "prompt": "x", "duration": 2}]
    state, _ = await run_batch(workdir, items, credentials)
    artifacts = await _artifacts(state.state_details.flow_run_id)
    progress = artifacts["oxen-batch-progress"]
    assert progress.data == 100.0
    # The rejected line never starts, so the progress counts the two valid items.
    assert re.fullmatch(
        r"2 of 2 done: 2 archived, 0 failed · took \d+:\d\d · 2 videos from parameters",
        progress.description,
    ), progress.description
    summary = artifacts["oxen-batch-summary"]
    assert summary.description == (
        "Oxen batch: 3 items: 2 archived, 1 rejected; paid $0.02 this run (estimated $0.02)"
    )


async def test_contact_sheet_uses_plain_images_and_no_dead_links(
    credentials, emulator, workdir: Path, unique: str
) -> None:
    state, _ = await run_batch(workdir, _items(6, unique), credentials)
    summary = (await _artifacts(state.state_details.flow_run_id))["oxen-batch-summary"].data
    assert summary.count("![v00") == 6 and "](data:image/png;base64," in summary
    assert "[![" not in summary  # the legacy UI shows an image inside a link as raw markdown
    assert "](file://" not in summary  # the current UI strips file:// hrefs
    # A grid: four posters to a table row, each captioned below with its status and cost.
    rows = [line for line in summary.splitlines() if line.startswith("| ")]
    images = [row for row in rows if "![" in row]
    assert [row.count("![") for row in images] == [4, 2]
    captions = rows[rows.index(images[0]) + 1]
    assert captions.count("· archived · $0.01") == 4 and "**v000**" in captions


async def test_event_resources_are_named_and_unique_across_batches(
    credentials, emulator, workdir: Path, unique: str, asserting_events_worker
) -> None:
    first, _ = await run_batch(workdir / "a", _items(1, unique), credentials)
    _second, _ = await run_batch(workdir / "b", _items(1, unique + " again"), credentials)

    generated = _events(asserting_events_worker, "oxen.video.generated")
    assert len({e.resource.id for e in generated}) == 2  # both items are "v000"
    [completed] = [
        e
        for e in _events(asserting_events_worker, "oxen.batch.completed")
        if e.resource.id == f"oxen.batch.{first.state_details.flow_run_id}"
    ]
    async with get_client() as client:
        flow_run = await client.read_flow_run(first.state_details.flow_run_id)
    assert completed.resource.name == flow_run.name
    assert completed.resource["oxen.outcome"] == "ok"


def test_a_video_without_an_id_gets_a_readable_key() -> None:
    key = readable_key({"model": FAST, "prompt": "A red fox, trotting through snow at dawn!"})
    assert re.fullmatch(r"a-red-fox-trotting-through-snow-[0-9a-f]{6}", key)
    assert key != readable_key(
        {"model": FAST, "prompt": "A red fox, trotting through snow at dawn!", "duration": 3}
    )
    shots = readable_key({"model": FAST, "multi_prompt": [{"prompt": "chef cracks an egg"}]})
    assert shots.startswith("chef-cracks-an-egg-")


async def test_single_video_publishes_an_artifact_and_an_asset(
    credentials, emulator, workdir: Path, unique: str, asserting_events_worker
) -> None:
    request = {"model": FAST, "prompt": f"a lone heron {unique}", "duration": 2}
    state = await generate_video_flow(
        request, credentials, archive=str(workdir / "archive"), return_state=True
    )
    record = await state.result()
    assert Path(record.uri).name.startswith("a-lone-heron-")
    artifact = (await _artifacts(state.state_details.flow_run_id))["oxen-video"].data
    assert FAST in artifact and "$0.02" in artifact and record.uri in artifact
    assert "](data:image/png;base64," in artifact

    [asset] = _events(asserting_events_worker, "prefect.asset.materialization.succeeded")
    assert asset.resource.id == record.uri
    assert asset.payload["sha256"] == record.sha256 and asset.payload["model"] == FAST
    assert asset.payload["prompt"] == request["prompt"] and asset.payload[
        "cost_usd"
    ] == pytest.approx(0.02)
    assert asset.payload["duration_seconds"] == pytest.approx(2, abs=0.1)


async def test_stitched_multi_shot_publishes_an_artifact(
    credentials, emulator, workdir: Path, unique: str
) -> None:
    shots = [{"prompt": f"first {unique}", "duration": 1}, {"prompt": "second", "duration": 1}]
    state = await multi_shot_flow(
        FAST, shots, credentials, archive=str(workdir / "archive"), key="pair", return_state=True
    )
    result = await state.result()
    artifact = (await _artifacts(state.state_details.flow_run_id))["oxen-video"].data
    assert "pair" in artifact and result.video.uri in artifact and "stitched" in artifact
    assert all(shot.uri in artifact for shot in result.shots)


async def test_asset_events_reach_the_server_event_feed(
    credentials, emulator, workdir: Path, unique: str
) -> None:
    state, report = await run_batch(workdir, _items(1, unique), credentials)
    uri = report.items[0].archive_uri

    async def assets_seen() -> list[dict]:
        async with get_client() as client:
            response = await client._client.post(
                "/events/filter",
                json={
                    "filter": {
                        "event": {"name": ["prefect.asset.materialization.succeeded"]},
                        "resource": {"id": [uri]},
                    },
                },
            )
        return response.raise_for_status().json()["events"]

    with anyio.fail_after(60):
        while not (seen := await assets_seen()):
            await anyio.sleep(0.5)  # polling the feed until the server has persisted the event
    [event] = seen
    assert event["payload"]["sha256"] == report.items[0].sha256
    related = {r["prefect.resource.id"] for r in event["related"]}
    assert f"prefect.flow-run.{state.state_details.flow_run_id}" in related


def _mixed_report() -> BatchReport:
    from prefect_oxen.flows import ItemReport

    return BatchReport(
        items=[
            ItemReport(key="new", status="archived", cost_usd=0.2, archive_uri="file:///a/new.mp4"),
            ItemReport(
                key="collected",
                status="archived",
                cost_usd=0.5,
                reattached=True,
                archive_uri="s3://bucket/v/collected.mp4",
                view_url="https://bucket.s3.amazonaws.com/v/collected.mp4?X-Amz-Signature=abc",
            ),
            ItemReport(key="done", status="skipped", estimated_cost_usd=1.4),
            ItemReport(key="lost", status="failed", cost_usd=0.1, error="download failed"),
        ],
        estimated_cost_usd=2.2,
    )


def test_costs_are_kept_apart_paid_reattached_and_skipped() -> None:
    report = _mixed_report()
    assert report.paid_usd == pytest.approx(0.3)  # new spend: archived + paid-then-lost
    assert report.reattached_usd == pytest.approx(0.5) and report.skipped_usd == pytest.approx(1.4)
    assert report.summary().endswith(
        "; paid $0.30 this run, $0.50 reattached (paid by an earlier run), $1.40 already paid "
        "(skipped), estimated $2.20"
    )
    rows = {row["id"]: row for row in (item.row() for item in report.items)}
    assert [rows[k]["paid_by"] for k in ("new", "collected", "done", "lost")] == [
        "this run",
        "earlier run",
        "earlier run",
        "this run",
    ]
    # A link only where it leads somewhere: the presigned S3 URL, never a file:// URI.
    assert rows["collected"]["link"].startswith("https://") and rows["new"]["link"] == ""


def test_batch_event_carries_only_this_runs_spend(asserting_events_worker) -> None:
    from prefect_oxen.flows.report import emit_batch_event

    emit_batch_event(_mixed_report(), batch_id="b1", source="tonight.jsonl")
    [event] = _events(asserting_events_worker, "oxen.batch.completed")
    assert event.payload["cost_usd"] == pytest.approx(0.3)
    assert event.payload["reattached_cost_usd"] == pytest.approx(0.5)
    assert event.payload["skipped_cost_usd"] == pytest.approx(1.4)
    assert event.resource.name == "tonight.jsonl"  # outside a flow run: the batch source
    assert event.resource["oxen.outcome"] == "partial"
