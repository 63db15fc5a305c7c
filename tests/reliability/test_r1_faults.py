"""R1: a 100-item batch under injected faults archives every item, verified, paying once each.

The batch runs with `batch_flow`'s defaults (global concurrency limit on) and the client's real
retry behaviour; the test asserts that every kind of fault in the mix actually fired, and that
each 429's ``Retry-After`` was waited out before anything more was asked of the API.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from prefect_oxen import OxenCredentials
from prefect_oxen.client import RetryPolicy
from prefect_oxen.flows import batch_flow

from ..conftest import FAST_POLL
from .helpers import items, local_path, report_of, sha256_of

RETRY_AFTER = 2.0
# With the session emulator's seed, each kind first fires within the first 60 draws of its
# class, and a 100-item batch makes well over 100 API calls and 100 downloads.
FAULTS = {
    "rate_limit": 0.04,
    "retry_after": RETRY_AFTER,
    "server_error": 0.05,
    "unavailable": 0.03,
    "connection_reset": 0.05,
    "truncated_download": 0.05,
    "expired_url": 0.05,
    "slow_body": 0.03,
    "generation_failure": 0.03,
}
DOWNLOAD = "GET /api/repos/{namespace}/emulator-results/files/generations/{filename}"
# Calls that do not go through the client's shared throttle: the long-lived event stream
# (reconnects) and result downloads (served by storage, not by the rate-limited API).
UNTHROTTLED = {"GET /api/events", DOWNLOAD}
# Requests the client sent before it had read a 429 may still reach the server just after it
# (a busy event loop, two cores shared with the Prefect server); the rest of the pause is checked.
IN_FLIGHT_GRACE = 0.75


def _credentials(api_key: str, base_url: str) -> OxenCredentials:
    """Short backoff so the run stays quick, but the server's Retry-After honoured in full."""
    retry = RetryPolicy(wait_initial=0.05, wait_max=0.5, wait_jitter=0.05, max_retry_after=10)
    return OxenCredentials(api_key=api_key, base_url=base_url, retry=retry, poll=FAST_POLL)


async def test_every_item_is_archived_and_verified_under_faults(
    api_key: str, emulator, workdir: Path, unique: str
) -> None:
    emulator.configure(faults=FAULTS)
    batch = items(100, f"R1 {unique}")

    state = await batch_flow(
        batch,
        _credentials(api_key, emulator.base_url),
        archive=str(workdir / "archive"),
        return_state=True,
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
    assert stats["billed_generations"] == len(batch)
    billed_prompts = [g["request"]["prompt"] for g in log.values() if g["billed"]]
    assert sorted(billed_prompts) == sorted(prompts.values())  # nothing paid twice

    # Every kind of fault in the mix really happened.
    injected = stats["faults_injected"]
    assert not [kind for kind in FAULTS if kind != "retry_after" and injected[kind] == 0], injected

    _assert_retry_after_was_honoured(emulator)


def _assert_retry_after_was_honoured(emulator) -> None:
    """After each 429, nothing new reached the API until Retry-After had passed, and the
    rate-limited route was asked again only after it (from the emulator's arrival times)."""
    emu = emulator.server.emulator
    arrivals = [(at, route) for at, route in list(emu.stats.arrivals) if route not in UNTHROTTLED]
    limited = [(at, route) for at, route, fault in list(emu.faults.log) if fault == "rate_limit"]
    assert limited, "no 429 was injected"
    by_route: dict[str, list[float]] = defaultdict(list)
    for at, route in arrivals:
        by_route[route].append(at)
    for sent, route in limited:
        too_early = [
            (round(at - sent, 3), other)
            for at, other in arrivals
            if sent + IN_FLIGHT_GRACE <= at < sent + RETRY_AFTER
        ]
        assert not too_early, f"requests {too_early} s after a 429 on {route}"
        retried = [at for at in by_route[route] if at > sent + IN_FLIGHT_GRACE]
        assert retried and min(retried) >= sent + RETRY_AFTER, route
