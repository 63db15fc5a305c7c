"""The async queue: enqueue checks, lifecycle, the parameter quirk, list, cancel, retry, history."""

from __future__ import annotations

import httpx
import pytest

from tests.emulator.conftest import configure, enqueue, error_detail, stats, wait_terminal
from tests.support import CHAT, FAST, IMAGE, KLING, wait_for


def test_enqueue_runs_to_succeeded_with_an_echoed_row(
    client: httpx.Client, plain: httpx.Client
) -> None:
    response = client.post(
        "/api/ai/queue",
        json={
            "model": KLING,
            "prompt": "a boat",
            "num_generations": 3,
            "aspect_ratio": "9:16",
            "seed": 7,
            "negative_prompt": "blur",
            "custom_field": {"x": 1},
        },
    )
    assert response.status_code == 200
    generations = response.json()["generations"]
    assert len(generations) == 3
    assert all(g["status"] == "queued" for g in generations)
    assert len({g["generation_id"] for g in generations}) == 3
    row = wait_terminal(client, generations[0]["generation_id"])
    assert row["status"] == "succeeded"
    assert row["model_name"] == KLING
    assert row["media_type"] == "video"
    assert row["prompt"] == "a boat"
    assert (row["aspect_ratio"], row["duration"], row["seed"]) == ("9:16", 5, 7)
    assert row["negative_prompt"] == "blur"
    assert row["custom_field"] == {"x": 1}
    assert row["error_message"] is None
    assert row["enqueued_at"] <= row["started_at"] <= row["completed_at"]
    video = plain.get(row["result_url"])
    assert video.status_code == 200
    assert video.headers["content-type"] == "video/mp4"


def test_result_url_is_re_signed_on_every_read(client: httpx.Client) -> None:
    [gid] = enqueue(client, model=FAST, prompt="x", duration=1)
    first = wait_terminal(client, gid)["result_url"]
    configure(client, url_ttl=7200)
    second = client.get(f"/api/ai/queue/{gid}").json()["result_url"]
    assert first.split("?")[0] == second.split("?")[0]
    assert first != second


def test_enqueue_checks(client: httpx.Client) -> None:
    for count in (0, 5, "2", True, 1.5):
        bad = client.post(
            "/api/ai/queue", json={"model": FAST, "prompt": "x", "num_generations": count}
        )
        assert bad.status_code == 422
        assert error_detail(bad) == "num_generations must be an integer between 1 and 4"
    missing = client.post("/api/ai/queue", json={"model": "ghost", "prompt": "x"})
    assert missing.status_code == 404
    assert missing.json() == {"error": {"message": "Model not found: ghost"}}
    text = client.post("/api/ai/queue", json={"model": CHAT, "messages": []})
    assert text.status_code == 400
    assert text.json()["error"]["type"] == "unsupported_media_type"
    assert "unsupported_media_type" in error_detail(text)
    assert stats(client)["generations_by_status"]["queued"] == 0


@pytest.mark.parametrize("wrapped", [True, False])
def test_invalid_parameters_are_accepted_and_fail_later(
    client: httpx.Client, wrapped: bool
) -> None:
    configure(client, wrap_validation_messages=wrapped)
    [gid] = enqueue(client, model=KLING, prompt="x", duration=2)
    row = wait_terminal(client, gid)
    assert row["status"] == "failed"
    assert row["result_url"] is None
    assert (
        "duration value '2' is invalid. Try using duration='5' instead..." in row["error_message"]
    )
    assert row["error_message"].startswith("Getting model response error") is wrapped
    [both] = enqueue(client, model=KLING, prompt="x")
    assert wait_terminal(client, both)["status"] == "succeeded"
    s = stats(client)
    assert s["billed_generations"] == 1
    assert s["generations_by_status"]["failed"] == 1


def test_image_models_go_through_the_queue(client: httpx.Client, plain: httpx.Client) -> None:
    [gid] = enqueue(client, model=IMAGE, prompt="a cat", response_format="b64_json")
    row = wait_terminal(client, gid)
    assert row["status"] == "succeeded"
    assert row["media_type"] == "image"
    # The queue ignores response_format: results are always a URL.
    assert plain.get(row["result_url"]).content.startswith(b"\x89PNG")


def test_unknown_generation_is_the_documented_404(client: httpx.Client) -> None:
    expected = {
        "error": {
            "type": "resource_not_found",
            "title": "The requested resource could not be found",
        },
        "status": "error",
        "status_message": "resource_not_found",
    }
    for method, path in (
        ("GET", "/api/ai/queue/nope"),
        ("DELETE", "/api/ai/queue/nope"),
        ("POST", "/api/ai/queue/nope/retry"),
        ("GET", "/api/ai/generations/nope"),
    ):
        response = client.request(method, path)
        assert response.status_code == 404
        assert response.json() == expected


def test_fifo_and_concurrency_limit(client: httpx.Client) -> None:
    configure(client, concurrency=2, latency=0.15)
    ids = enqueue(client, model=FAST, prompt="a", duration=1, num_generations=4)
    ids += enqueue(client, model=FAST, prompt="b", duration=1, num_generations=2)
    for gid in ids:
        wait_terminal(client, gid)
    log = {g["id"]: g for g in client.get("/_emulator/generations").json()["generations"]}
    starts = [log[gid]["started_at"] for gid in ids]
    assert starts == sorted(starts)
    s = stats(client)
    assert s["max_in_flight"] == 2
    # Never more than two overlapping: the third starts only after the first finished.
    assert log[ids[2]]["started_at"] >= min(
        log[ids[0]]["completed_at"], log[ids[1]]["completed_at"]
    )


def test_sync_calls_share_the_slots_with_the_queue(client: httpx.Client) -> None:
    configure(client, concurrency=1, latency=0.2)
    [gid] = enqueue(client, model=FAST, prompt="a", duration=1)
    wait_for(lambda: client.get(f"/api/ai/queue/{gid}").json()["status"] == "processing")
    sync = client.post(
        "/api/ai/videos/generate", json={"model": FAST, "prompt": "s", "duration": 1}
    )
    assert sync.status_code == 200
    log = client.get("/_emulator/generations").json()["generations"]
    queued = next(g for g in log if g["source"] == "queue")
    synced = next(g for g in log if g["source"] == "sync")
    assert synced["started_at"] >= queued["completed_at"]
    assert stats(client)["max_in_flight"] == 1


def test_list_defaults_to_active_rows_and_filters(client: httpx.Client) -> None:
    configure(client, concurrency=1, latency=30)
    running, waiting = enqueue(client, model=FAST, prompt="a", duration=1, num_generations=2)
    [image] = enqueue(client, model=IMAGE, prompt="b", target_namespace="team")
    wait_for(lambda: client.get(f"/api/ai/queue/{running}").json()["status"] == "processing")
    active = client.get("/api/ai/queue").json()
    assert active["count"] == 3
    assert [g["generation_id"] for g in active["generations"]] == [running, waiting, image]
    client.delete(f"/api/ai/queue/{waiting}")
    assert {g["generation_id"] for g in client.get("/api/ai/queue").json()["generations"]} == {
        running,
        image,
    }
    cancelled = client.get("/api/ai/queue", params={"status": "cancelled"}).json()
    assert [g["generation_id"] for g in cancelled["generations"]] == [waiting]
    assert client.get("/api/ai/queue", params={"media_type": "image"}).json()["count"] == 1
    assert client.get("/api/ai/queue", params={"model": FAST}).json()["count"] == 1
    assert client.get("/api/ai/queue", params={"namespace": "team"}).json()["count"] == 1
    assert client.get("/api/ai/queue", params={"status": "nonsense"}).status_code == 422
    for gid in (running, image):
        client.delete(f"/api/ai/queue/{gid}")
    assert client.get("/api/ai/queue").json() == {"count": 0, "generations": []}


def test_cancel_keeps_the_row_and_never_bills(client: httpx.Client) -> None:
    configure(client, concurrency=1, latency=30)
    running, waiting = enqueue(client, model=FAST, prompt="a", duration=1, num_generations=2)
    wait_for(lambda: client.get(f"/api/ai/queue/{running}").json()["status"] == "processing")
    for gid in (running, waiting):
        response = client.delete(f"/api/ai/queue/{gid}")
        assert response.status_code == 200
        assert response.json() == {"status": "success", "generation_id": gid}
        row = client.get(f"/api/ai/queue/{gid}").json()
        assert row["status"] == "cancelled"
        assert row["result_url"] is None
    # The running one gives its slot back as its worker unwinds, just after the answer.
    wait_for(lambda: stats(client)["in_flight"] == 0)
    s = stats(client)
    assert s["billed_generations"] == 0


def test_cancel_has_no_effect_on_terminal_rows(client: httpx.Client) -> None:
    [gid] = enqueue(client, model=FAST, prompt="x", duration=1)
    assert wait_terminal(client, gid)["status"] == "succeeded"
    response = client.delete(f"/api/ai/queue/{gid}")
    assert response.status_code == 200
    assert client.get(f"/api/ai/queue/{gid}").json()["status"] == "succeeded"
    assert stats(client)["billed_generations"] == 1


def test_retry(client: httpx.Client) -> None:
    [failed] = enqueue(client, model=KLING, prompt="x", duration=3)
    assert wait_terminal(client, failed)["status"] == "failed"
    response = client.post(f"/api/ai/queue/{failed}/retry")
    assert response.status_code == 200
    body = response.json()
    assert body["retried_from_id"] == failed
    assert body["generation_id"] != failed
    assert body["generations"][0]["generation_id"] == body["generation_id"]
    assert wait_terminal(client, body["generation_id"])["retried_from_id"] == failed

    [ok] = enqueue(client, model=FAST, prompt="x", duration=1)
    assert wait_terminal(client, ok)["status"] == "succeeded"
    refused = client.post(f"/api/ai/queue/{ok}/retry")
    assert refused.status_code == 422
    assert "succeeded" in error_detail(refused)

    configure(client, latency=30)
    [active] = enqueue(client, model=FAST, prompt="y", duration=1)
    fresh = client.post(f"/api/ai/queue/{active}/retry").json()["generation_id"]
    assert client.get(f"/api/ai/queue/{active}").json()["status"] == "cancelled"
    assert client.get(f"/api/ai/queue/{fresh}").json()["status"] in ("queued", "processing")
    client.delete(f"/api/ai/queue/{fresh}")


def test_generations_history_with_costs(client: httpx.Client) -> None:
    ids = enqueue(client, model=KLING, prompt="x", duration=10, num_generations=2)
    ids += enqueue(client, model=KLING, prompt="y", duration=5, generate_audio=True)
    [bad] = enqueue(client, model=KLING, prompt="z", duration=7)
    for gid in [*ids, bad]:
        wait_terminal(client, gid)
    history = client.get("/api/ai/generations").json()
    assert history["total_entries"] == 4
    assert history["count"] == 4
    assert (history["page_number"], history["page_size"], history["total_pages"]) == (1, 50, 1)
    assert float(history["total_cost"]) == pytest.approx(2 * 0.7 + 0.7)
    row = next(g for g in history["generations"] if g["generation_id"] == ids[2])
    assert float(row["cost"]) == pytest.approx(0.70)
    assert {"target_namespace", "target_repo", "target_directory", "user_id", "username"} <= set(
        row
    )
    assert float(next(g for g in history["generations"] if g["generation_id"] == bad)["cost"]) == 0
    page = client.get("/api/ai/generations", params={"page": 2, "page_size": 3}).json()
    assert (page["count"], page["total_pages"], page["total_entries"]) == (1, 2, 4)
    failed = client.get("/api/ai/generations", params={"status": "failed"}).json()
    assert [g["generation_id"] for g in failed["generations"]] == [bad]
    assert failed["total_cost"] == "0"
    assert client.get("/api/ai/generations", params={"page_size": 0}).status_code == 422
    assert client.get("/api/ai/generations", params={"page_size": 1001}).status_code == 422
    one = client.get(f"/api/ai/generations/{ids[0]}").json()
    assert one["status"] == "success"
    assert one["status_message"] == "resource_found"
    assert one["generation"]["generation_id"] == ids[0]
    assert float(one["generation"]["cost"]) == pytest.approx(0.7)
