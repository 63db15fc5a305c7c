"""R1: a 100-item batch under injected faults archives every item, verified, paying once each."""

from __future__ import annotations

from pathlib import Path

from prefect_oxen.flows import batch_flow

from .helpers import items, local_path, report_of, sha256_of

FAULTS = {
    "rate_limit": 0.10,
    "retry_after": 0,
    "unavailable": 0.05,
    "connection_reset": 0.02,
    "truncated_download": 0.02,
    "expired_url": 0.01,
}


async def test_every_item_is_archived_and_verified_under_faults(credentials, emulator, workdir: Path, unique: str) -> None:
    emulator.configure(faults=FAULTS)
    batch = items(100, f"R1 {unique}")

    state = await batch_flow(
        batch, credentials, archive=str(workdir / "archive"), concurrency=16, mode="queue",
        concurrency_limit=None, return_state=True,
    )
    report = await report_of(state)

    failures = {item.key: item.error for item in report.items if item.status != "archived"}
    assert not failures, f"{len(failures)} item(s) not archived: {failures}"
    assert state.is_completed(), state.message
    assert [item.key for item in report.items] == [item["id"] for item in batch]

    log = {g["id"]: g for g in emulator.generations()}
    prompts = {item["id"]: item["prompt"] for item in batch}
    for item in report.items:
        record = log[item.generation_id]
        assert record["billed"] and record["status"] == "succeeded"
        assert record["request"]["prompt"] == prompts[item.key]  # the right video for the item
        assert sha256_of(local_path(item.archive_uri)) == record["sha256"], item.key

    stats = emulator.stats()
    assert stats["billed_generations"] == 100
    billed_prompts = [g["request"]["prompt"] for g in log.values() if g["billed"]]
    assert sorted(billed_prompts) == sorted(prompts.values())  # nothing paid twice
    injected = stats["faults_injected"]
    # The faults really happened, on the API and on downloads.
    assert injected["rate_limit"] >= 10 and injected["unavailable"] >= 5 and injected["connection_reset"] >= 1
    assert injected["truncated_download"] + injected["expired_url"] >= 1
