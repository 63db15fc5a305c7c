"""Fault injection: each fault really happens, at about its rate, replayably from the seed.

Rate tolerances: with n draws at rate p the count is Binomial(n, p) and the bounds below are
+/- 5 standard deviations, which a correct implementation misses with probability < 1e-6
for *any* seed, while a fault that never fires, always fires, or fires at a doubled or
halved rate lands far outside (n=600, p=0.2: sd 9.8, bounds 71-169, against means of 60
for p=0.1 and 240 for p=0.4). The seed is fixed, so the counts also repeat run to run.
"""

from __future__ import annotations

import math
import time

import httpx
import pytest

from prefect_oxen.emulator import EmulatorServer
from tests.emulator.conftest import AUTH, configure, enqueue, error_detail, stats
from tests.support import FAST, wait_for


def _bounds(n: int, p: float) -> tuple[float, float]:
    sd = math.sqrt(n * p * (1 - p))
    return n * p - 5 * sd, n * p + 5 * sd


def _outcome(client: httpx.Client, path: str = "/api/ai/models/flux-2-pro") -> str:
    try:
        return str(client.get(path).status_code)
    except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
        return type(exc).__name__


API = [
    ("rate_limit", "429"),
    ("server_error", "500"),
    ("unavailable", "503"),
    ("connection_reset", "RemoteProtocolError"),
]


@pytest.mark.parametrize(("fault", "expected"), API)
def test_api_fault_rates(client: httpx.Client, fault: str, expected: str) -> None:
    configure(client, faults={fault: 0.2})
    outcomes = [_outcome(client) for _ in range(600)]
    low, high = _bounds(600, 0.2)
    assert low <= outcomes.count(expected) <= high
    assert set(outcomes) == {"200", expected}
    assert stats(client)["faults_injected"][fault] == outcomes.count(expected)


def test_error_fault_bodies_and_retry_after(client: httpx.Client) -> None:
    for retry_after, header in ((1.0, "1"), (2.7, "2"), (0.5, "0")):
        configure(client, faults={"rate_limit": 1.0, "retry_after": retry_after})
        response = client.get("/api/ai/queue")
        assert response.status_code == 429
        assert response.headers["retry-after"] == header
        assert response.json()["status"] == "error"
    for fault, status in (("server_error", 500), ("unavailable", 503)):
        configure(client, faults={"rate_limit": 0.0, fault: 1.0})
        response = client.post("/api/ai/queue", json={"model": FAST, "prompt": "x"})
        assert response.status_code == status
        assert response.json()["error"]["type"] == "unknown_error"
        configure(client, faults={fault: 0.0})
    assert stats(client)["generations_by_status"]["queued"] == 0  # faulted before any work


def test_api_faults_spare_emulator_routes_and_downloads(
    client: httpx.Client, plain: httpx.Client
) -> None:
    response = client.post(
        "/api/ai/videos/generate", json={"model": FAST, "prompt": "x", "duration": 1}
    )
    url = response.json()["videos"][0]["url"]
    configure(client, faults={"rate_limit": 1.0})
    for _ in range(20):
        assert client.get("/_emulator/stats").status_code == 200
        assert plain.get(url).status_code == 200
    assert client.get("/api/ai/models").status_code == 429


def test_seeded_replay(client: httpx.Client) -> None:
    configure(client, faults={"rate_limit": 0.3, "server_error": 0.1})

    def run(http: httpx.Client) -> list[str]:
        return [_outcome(http) for _ in range(100)]

    client.post("/_emulator/reset")
    first = run(client)
    client.post("/_emulator/reset")
    assert run(client) == first
    faults = {"rate_limit": 0.3, "server_error": 0.1}
    with (
        EmulatorServer(seed=1234, faults=faults) as same,
        httpx.Client(base_url=same.base_url, headers=AUTH) as http,
    ):
        assert run(http) == first
    with (
        EmulatorServer(seed=99, faults=faults) as other,
        httpx.Client(base_url=other.base_url, headers=AUTH) as http,
    ):
        assert run(http) != first


def test_connection_reset_on_reads_happens_before_work(client: httpx.Client) -> None:
    configure(client, latency=30)
    [gid] = enqueue(client, model=FAST, prompt="x", duration=1)
    configure(client, faults={"connection_reset": 1.0})
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        client.delete(f"/api/ai/queue/{gid}")
    configure(client, faults={"connection_reset": 0.0})
    assert client.get(f"/api/ai/queue/{gid}").json()["status"] in ("queued", "processing")
    client.delete(f"/api/ai/queue/{gid}")


def test_connection_reset_after_paid_work(client: httpx.Client) -> None:
    configure(client, faults={"connection_reset": 1.0})
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        client.post(
            "/api/ai/queue",
            json={"model": FAST, "prompt": "q", "duration": 1, "num_generations": 2},
        )
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        client.post("/api/ai/videos/generate", json={"model": FAST, "prompt": "s", "duration": 2})
    configure(client, faults={"connection_reset": 0.0})
    # The enqueue was accepted and the sync call billed although no answer arrived.
    log = wait_for(
        lambda: (
            (g := client.get("/_emulator/generations").json()["generations"])
            and all(x["status"] == "succeeded" for x in g)
            and len(g) == 3
            and g
        )
    )
    assert sorted(g["source"] for g in log) == ["queue", "queue", "sync"]
    assert all(g["billed"] for g in log)
    s = stats(client)
    assert s["billed_generations"] == 3
    assert s["faults_injected"]["connection_reset"] == 2


def _signed_url(client: httpx.Client) -> str:
    response = client.post(
        "/api/ai/videos/generate", json={"model": FAST, "prompt": "d", "duration": 3}
    )
    return response.json()["videos"][0]["url"]


def test_download_fault_rates(client: httpx.Client, plain: httpx.Client) -> None:
    url = _signed_url(client)
    n = 300
    low, high = _bounds(n, 0.2)
    configure(client, faults={"expired_url": 0.2})
    expired = [_outcome(plain, url) for _ in range(n)]
    assert low <= expired.count("403") <= high
    assert set(expired) == {"200", "403"}
    configure(client, faults={"expired_url": 0.0, "truncated_download": 0.2})
    truncated = [_outcome(plain, url) for _ in range(n)]
    assert low <= truncated.count("RemoteProtocolError") <= high
    assert set(truncated) == {"200", "RemoteProtocolError"}
    configure(
        client,
        faults={
            "truncated_download": 0.0,
            "slow_body": 0.2,
            "slow_body_bytes_per_second": 10_000_000,
        },
    )
    slow = [_outcome(plain, url) for _ in range(n)]
    assert set(slow) == {"200"}
    assert low <= stats(client)["faults_injected"]["slow_body"] <= high


def test_expired_url_fault_answers_403_on_a_fresh_url(
    client: httpx.Client, plain: httpx.Client
) -> None:
    url = _signed_url(client)
    configure(client, faults={"expired_url": 1.0})
    response = plain.get(url)
    assert response.status_code == 403
    assert response.json()["error"]["type"] == "forbidden"
    configure(client, faults={"expired_url": 0.0})
    assert plain.get(url).status_code == 200


def test_truncated_download_can_be_resumed_with_range(
    client: httpx.Client, plain: httpx.Client
) -> None:
    url = _signed_url(client)
    full = plain.get(url).content
    configure(client, faults={"truncated_download": 1.0})
    received = b""
    with pytest.raises(httpx.RemoteProtocolError), plain.stream("GET", url) as response:
        assert int(response.headers["content-length"]) == len(full)
        for chunk in response.iter_raw():
            received += chunk
    assert 0 < len(received) < len(full)
    assert abs(len(received) - len(full) // 2) <= 1
    configure(client, faults={"truncated_download": 0.0})
    rest = plain.get(url, headers={"Range": f"bytes={len(received)}-"})
    assert rest.status_code == 206
    assert received + rest.content == full


def test_slow_body_trickles(client: httpx.Client, plain: httpx.Client) -> None:
    url = _signed_url(client)
    size = len(plain.get(url).content)
    rate = size * 4  # about 0.25 s for the whole body
    configure(client, faults={"slow_body": 1.0, "slow_body_bytes_per_second": rate})
    started = time.monotonic()
    with plain.stream("GET", url) as response:
        chunks = list(response.iter_raw())
    elapsed = time.monotonic() - started
    assert len(b"".join(chunks)) == size
    # The server sends rate/10 bytes then sleeps for their duration, so all but the first
    # chunk cannot arrive faster than the rate allows.
    assert elapsed >= (size - rate / 10) / rate


def test_generation_failure(client: httpx.Client) -> None:
    configure(client, faults={"generation_failure": 0.2})
    ids = []
    for _ in range(50):
        ids += enqueue(client, model=FAST, prompt="g", duration=1, num_generations=4)
    rows = [
        wait_for(
            lambda gid=gid: (
                (r := client.get(f"/api/ai/queue/{gid}").json())["status"]
                in ("succeeded", "failed")
                and r
            )
        )
        for gid in ids
    ]
    failed = [r for r in rows if r["status"] == "failed"]
    low, high = _bounds(200, 0.2)
    assert low <= len(failed) <= high
    assert {r["error_message"] for r in failed} == {"Generation failed: upstream provider error"}
    assert all(r["result_url"] is None for r in failed)
    s = stats(client)
    assert s["billed_generations"] == 200 - len(failed)
    configure(client, faults={"generation_failure": 1.0})
    sync = client.post(
        "/api/ai/videos/generate", json={"model": FAST, "prompt": "s", "duration": 1}
    )
    assert sync.status_code == 500
    assert error_detail(sync) == "Generation failed: upstream provider error"
    assert stats(client)["billed_generations"] == 200 - len(failed)


def test_fault_routes_and_limit(client: httpx.Client, plain: httpx.Client) -> None:
    configure(client, faults={"unavailable": 1.0, "routes": ["POST /api/ai/queue"], "limit": 2})
    assert client.get("/api/ai/queue").status_code == 200  # not a listed route
    statuses = [
        client.post("/api/ai/queue", json={"model": FAST, "prompt": "x", "duration": 1}).status_code
        for _ in range(4)
    ]
    assert statuses == [503, 503, 200, 200]
    assert stats(client)["faults_injected"]["unavailable"] == 2
    # A faults change without routes/limit clears them; rates merge.
    body = configure(client, faults={"expired_url": 1.0})
    assert (body["faults"]["routes"], body["faults"]["limit"], body["faults"]["unavailable"]) == (
        None,
        None,
        1.0,
    )
    configure(
        client,
        faults={"unavailable": 0.0, "expired_url": 0.0, "truncated_download": 1.0, "limit": 1},
    )
    url = _signed_url(client)
    assert _outcome(plain, url) == "RemoteProtocolError"
    assert _outcome(plain, url) == "200"
