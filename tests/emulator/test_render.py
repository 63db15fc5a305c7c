"""Rendered media: real H.264 mp4s of the requested shape, deterministic bytes, caching, padding."""

from __future__ import annotations

import hashlib

import httpx
import pytest

from prefect_oxen.emulator import EmulatorServer
from tests.emulator.conftest import AUTH, configure, enqueue, probe, stats, wait_terminal
from tests.support import FAST, O3


def _generate(client: httpx.Client, plain: httpx.Client, **body: object) -> bytes:
    request = {"model": FAST, "prompt": "r", **body}
    if "multi_prompt" in body:
        del request["prompt"]
    response = client.post("/api/ai/videos/generate", json=request)
    assert response.status_code == 200, response.text
    return plain.get(response.json()["videos"][0]["url"]).content


@pytest.mark.parametrize(
    ("aspect_ratio", "size"), [("16:9", (128, 72)), ("9:16", (72, 128)), ("1:1", (128, 128))]
)
def test_duration_and_aspect_ratio(
    client: httpx.Client, plain: httpx.Client, aspect_ratio: str, size: tuple[int, int]
) -> None:
    info = probe(_generate(client, plain, duration=3, aspect_ratio=aspect_ratio))
    assert (info["width"], info["height"]) == size
    assert info["fps"] == 8
    assert info["frames"] == 24
    assert abs(info["video_seconds"] - 3) <= 1 / 8
    assert info["audio"] == []


def test_audio_track_has_the_same_duration(client: httpx.Client, plain: httpx.Client) -> None:
    info = probe(_generate(client, plain, duration=4, generate_audio=True))
    assert info["audio"] == ["aac"]
    assert abs(info["audio_seconds"] - 4) <= 0.1
    assert info["frames"] == 32


def test_multi_prompt_renders_shots_back_to_back(client: httpx.Client, plain: httpx.Client) -> None:
    shots = [
        {"prompt": "one", "duration": 3},
        {"prompt": "two", "duration": 4},
        {"prompt": "three"},
    ]
    data = _generate(client, plain, model=O3, multi_prompt=shots, aspect_ratio="1:1")
    info = probe(data)
    assert info["frames"] == (3 + 4 + 5) * 8
    assert abs(info["video_seconds"] - 12) <= 1 / 8
    assert stats(client)["billed_cost_usd"] == pytest.approx(12 * 0.224)


def test_same_request_same_bytes_even_from_a_fresh_encoder(
    client: httpx.Client, plain: httpx.Client
) -> None:
    body = {"duration": 2, "seed": 3, "generate_audio": True, "aspect_ratio": "9:16"}
    first = _generate(client, plain, **body)
    second = _generate(client, plain, **body)
    assert first == second
    assert stats(client)["renders"] == 1  # the second came from the cache
    with EmulatorServer() as other, httpx.Client(base_url=other.base_url, headers=AUTH) as fresh:
        third = _generate(fresh, plain, **body)
        assert fresh.get("/_emulator/stats").json()["renders"] == 1
    assert hashlib.sha256(third).digest() == hashlib.sha256(first).digest()
    assert _generate(client, plain, **{**body, "seed": 4}) != first
    assert _generate(client, plain, **{**body, "prompt": "other"}) != first


def test_identical_queue_jobs_encode_once(client: httpx.Client) -> None:
    ids = []
    for _ in range(5):
        ids += enqueue(client, model=FAST, prompt="same", duration=2, num_generations=4)
    rows = [wait_terminal(client, gid) for gid in ids]
    assert all(row["status"] == "succeeded" for row in rows)
    assert stats(client)["renders"] == 1
    hashes = {g["sha256"] for g in client.get("/_emulator/generations").json()["generations"]}
    assert len(hashes) == 1


def test_padding_makes_big_files_that_still_decode(
    client: httpx.Client, plain: httpx.Client
) -> None:
    plain_video = _generate(client, plain, duration=2)
    configure(client, video_padding_bytes=3_000_000)
    padded = _generate(client, plain, duration=2)
    assert len(padded) == len(plain_video) + 3_000_000
    assert padded[: len(plain_video)] == plain_video
    box = padded[len(plain_video) : len(plain_video) + 8]
    assert box == (3_000_000).to_bytes(4, "big") + b"free"
    assert probe(padded)["frames"] == 16
    assert client.patch("/_emulator/config", json={"video_padding_bytes": 4}).status_code == 422


def test_reused_renders_encode_once_per_shape(client: httpx.Client, plain: httpx.Client) -> None:
    configure(client, reuse_renders=True)
    ids = []
    for index in range(6):
        duration = 2 if index % 2 else 3
        ids += enqueue(client, model=FAST, prompt=f"prompt {index}", duration=duration, seed=index)
    rows = [wait_terminal(client, gid) for gid in ids]
    assert all(row["status"] == "succeeded" for row in rows)
    assert stats(client)["renders"] == 2  # one per shape (2 s, 3 s), not one per prompt
    frames = sorted(probe(plain.get(row["result_url"]).content)["frames"] for row in rows)
    assert frames == [16, 16, 16, 24, 24, 24]  # still real mp4s of the requested duration
    hashes = {g["sha256"] for g in client.get("/_emulator/generations").json()["generations"]}
    assert len(hashes) == 2
    data = _generate(client, plain, duration=3, aspect_ratio="9:16", generate_audio=True)
    info = probe(data)
    assert (info["width"], info["height"], info["audio"]) == (72, 128, ["aac"])
    assert stats(client)["renders"] == 3  # a new shape renders once more
