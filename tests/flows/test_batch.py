"""batch_flow: every item archived or reported, within budget, resumable, observable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

from prefect_oxen.flows import batch_flow
from tests.support import FAST, O3

from ..conftest import API_KEY
from .reports import run_batch


def _items(n: int, tag: str, duration: int = 1) -> list[dict]:
    return [
        {"id": f"v{i:03d}", "model": FAST, "prompt": f"{tag} {i}", "duration": duration}
        for i in range(n)
    ]


async def _artifacts(state) -> dict[str, object]:
    async with get_client() as client:
        found = await client.read_artifacts(
            flow_run_filter=FlowRunFilter(
                id=FlowRunFilterId(any_=[state.state_details.flow_run_id])
            )
        )
    return {a.key: a for a in found if a.key}


async def test_a_file_batch_archives_good_lines_and_reports_bad_ones(
    credentials, emulator, workdir: Path, unique: str, asserting_events_worker
) -> None:
    lines = [json.dumps(item) for item in _items(4, unique)]
    lines.insert(2, "{broken json")
    lines.append(
        json.dumps(
            {
                "id": "shots",
                "model": O3,
                "multi_prompt": [
                    {"prompt": f"a {unique}", "duration": 2},
                    {"prompt": "b", "duration": 2},
                ],
            }
        )
    )
    lines.append(
        json.dumps(
            {
                "id": "too-short",
                "model": "kling-video-v2-6-pro-text-to-video",
                "prompt": "x",
                "duration": 2,
            }
        )
    )
    source = workdir / "batch.jsonl"
    source.write_text("\n".join(lines) + "\n")

    state, report = await run_batch(workdir, str(source), credentials)

    assert state.is_failed() and "Partially failed" in state.message
    by_key = {item.key: item for item in report.items}
    assert {k for k, v in by_key.items() if v.status == "archived"} == {
        "v000",
        "v001",
        "v002",
        "v003",
        "shots",
    }
    assert by_key["line 3"].status == "rejected" and by_key["line 3"].error.startswith(
        "line 3: not valid JSON"
    )
    assert by_key["too-short"].status == "rejected" and by_key["too-short"].error.startswith(
        "line 7: "
    )
    assert "duration value '2' is invalid" in by_key["too-short"].error
    assert emulator.stats()["billed_generations"] == 5
    assert report.total_cost_usd == pytest.approx(4 * 0.01 + 4 * 0.224)
    assert report.total_cost_usd == pytest.approx(emulator.stats()["billed_cost_usd"])
    for item in report.items:
        if item.status == "archived":
            assert Path(item.archive_uri.removeprefix("file://")).exists()

    artifacts = await _artifacts(state)
    table = json.loads(artifacts["oxen-batch-report"].data)
    assert {row["id"]: row["status"] for row in table} == {k: v.status for k, v in by_key.items()}
    summary = artifacts["oxen-batch-summary"].data
    assert (
        "data:image/png;base64," in summary and "Not archived" in summary and "too-short" in summary
    )
    assert artifacts["oxen-batch-progress"].data == 100.0
    assert API_KEY not in json.dumps([str(a.data) for a in artifacts.values()])

    asserting_events_worker.drain()
    events = asserting_events_worker._client.events
    generated = {e.resource.id for e in events if e.event == "oxen.video.generated"}
    run_id = state.state_details.flow_run_id
    assert generated == {
        f"oxen.video.{run_id}.{k}" for k in ("v000", "v001", "v002", "v003", "shots")
    }
    [completed] = [e for e in events if e.event == "oxen.batch.completed"]
    assert completed.payload["archived"] == 5 and completed.payload["rejected"] == 2


async def test_fifty_items_under_faults_are_all_accounted_for(
    credentials, emulator, workdir: Path, unique: str
) -> None:
    emulator.configure(
        faults={
            "rate_limit": 0.1,
            "retry_after": 0,
            "unavailable": 0.05,
            "connection_reset": 0.02,
            "truncated_download": 0.02,
            "expired_url": 0.01,
            "generation_failure": 0.02,
        }
    )
    _state, report = await run_batch(workdir, _items(50, unique), credentials, concurrency=8)
    assert len(report.items) == 50
    archived = [item for item in report.items if item.status == "archived"]
    failed = [item for item in report.items if item.status == "failed"]
    assert len(archived) + len(failed) == 50
    assert all(item.error for item in failed)
    records = {g["id"]: g for g in emulator.generations() if g.get("billed")}
    for item in archived:
        archived_bytes = Path(item.archive_uri.removeprefix("file://")).read_bytes()
        import hashlib

        assert hashlib.sha256(archived_bytes).hexdigest() == records[item.generation_id]["sha256"]
    paid_but_not_archived = [i for i in failed if i.generation_id and i.generation_id in records]
    assert emulator.stats()["billed_generations"] == len(archived) + len(paid_but_not_archived)
    assert emulator.stats()["faults_injected"]  # the faults really happened


async def test_a_rerun_skips_what_is_archived_and_pays_nothing(
    credentials, emulator, workdir: Path, unique: str
) -> None:
    items = _items(5, unique)
    _, first = await run_batch(workdir, items, credentials)
    assert first.count("archived") == 5
    _, second = await run_batch(workdir, items, credentials)
    assert second.count("skipped") == 5
    assert emulator.stats()["billed_generations"] == 5


async def test_a_batch_over_budget_is_refused_before_spending(
    credentials, emulator, workdir: Path, unique: str
) -> None:
    state, report = await run_batch(
        workdir, _items(6, unique, duration=5), credentials, budget=0.25
    )
    assert state.is_failed() and "exceeds the budget" in state.message
    assert report.count("not_submitted") == 6
    assert report.estimated_cost_usd == pytest.approx(0.30)
    assert not any(route.startswith("POST") for route in emulator.stats()["requests"])


async def test_a_partial_budget_stops_submitting_before_crossing_it(
    credentials, emulator, workdir: Path, unique: str
) -> None:
    _state, report = await run_batch(
        workdir,
        _items(6, unique, duration=5),
        credentials,
        budget=0.16,
        on_budget="partial",
        concurrency=1,
    )
    assert report.count("archived") == 3 and report.count("not_submitted") == 3
    assert report.total_cost_usd == pytest.approx(0.15)
    assert emulator.stats()["billed_generations"] == 3
    assert emulator.stats()["billed_cost_usd"] <= 0.16


async def test_a_dry_run_prices_everything_and_pays_nothing(
    credentials, emulator, workdir: Path, unique: str
) -> None:
    items = [
        *_items(3, unique, duration=4),
        {
            "id": "audio",
            "model": "kling-video-v2-6-pro-text-to-video",
            "prompt": "x",
            "duration": 10,
            "generate_audio": True,
        },
    ]
    state, report = await run_batch(workdir, items, credentials, dry_run=True)
    assert state.is_completed()
    assert report.count("validated") == 4
    assert report.estimated_cost_usd == pytest.approx(3 * 0.04 + 1.40)
    assert not any(route.startswith("POST") for route in emulator.stats()["requests"])


async def test_the_global_concurrency_limit_is_created_when_asked_and_missing(
    credentials, emulator, workdir: Path, unique: str
) -> None:
    name = "oxen-test-" + str(abs(hash(unique)))
    state = await batch_flow(
        _items(2, unique),
        credentials,
        archive=str(workdir / "archive"),
        concurrency_limit=name,
        concurrency_limit_default=3,
        return_state=True,
    )
    assert state.is_completed()
    async with get_client() as client:
        limit = await client.read_global_concurrency_limit_by_name(name)
    assert limit.limit == 3
