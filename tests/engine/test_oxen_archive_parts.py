"""The parts of the Oxen archive: its table rows, where its run state lives, how references are
resolved, and its session committing on cancellation (against the emulator's repository API)."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from prefect.settings import PREFECT_HOME

from prefect_oxen.client import AsyncOxenClient, OxenRepoUri, VideoRequest
from prefect_oxen.engine import PipelineSettings
from prefect_oxen.engine._oxen_archive import OxenArchiveNotOpen, oxen_archive_session
from prefect_oxen.engine._oxen_table import dataset_row, merge_rows, parse_table, render_table
from prefect_oxen.engine._references import MAX_PRESIGN_SECONDS, presign_s3, sendable_request
from prefect_oxen.engine._run_state import state_location_for
from prefect_oxen.storage import ArchiveConflict, ArchiveManifest
from tests.support import O3
from tests.support.oxen_repos import RepoView

from ..conftest import API_KEY


def test_a_multi_shot_row_joins_its_shots_and_sums_their_seconds() -> None:
    manifest = ArchiveManifest(
        key="a.mp4",
        model=O3,
        generation_id="g1",
        request={
            "multi_prompt": [
                {"prompt": "a chef", "duration": 3},
                {"prompt": "an egg", "duration": 4},
            ],
            "aspect_ratio": "9:16",
            "generate_audio": True,
        },
        cost_usd=1.5,
    )
    row = dataset_row("v/a.mp4", manifest, sha256="ab", flow_run_id="run-1")
    assert list(row) == [
        "path",
        "prompt",
        "model",
        "duration",
        "aspect_ratio",
        "generate_audio",
        "seed",
        "cost_usd",
        "sha256",
        "generation_id",
        "flow_run_id",
    ]
    assert row["prompt"] == "a chef | an egg" and row["duration"] == 7
    assert row["generate_audio"] is True and row["seed"] is None and row["cost_usd"] == 1.5


def test_a_merge_keeps_one_row_per_path_and_never_drops_a_line() -> None:
    committed = parse_table(
        b'{"path": "a.mp4", "sha256": "1"}\nnot json\n{"path": "b.mp4", "sha256": "2"}\n'
    )
    merged = merge_rows(committed, [{"path": "b.mp4", "sha256": "3"}, {"path": "c.mp4"}])
    lines = render_table(merged).decode().splitlines()
    assert len(lines) == 4 and sum('"b.mp4"' in line for line in lines) == 1
    assert "not json" in lines  # kept as it was
    assert parse_table(render_table(merged)) == merged


def test_the_run_state_of_an_oxen_archive_is_local_unless_a_journal_is_given() -> None:
    same = [state_location_for(u) for u in ("oxen://me/clips", "oxen://me/clips@main")]
    assert same[0] == same[1]
    assert Path(same[0]).parent.parent == Path(PREFECT_HOME.value()) / "oxen"
    assert same[0].endswith("journal.jsonl")
    assert state_location_for("oxen://me/clips@dev") != same[0]
    assert state_location_for("oxen://me/clips", "s3://b/p") == "s3://b/p/.oxen-state"
    settings = PipelineSettings.build("oxen://me/clips")
    assert settings.work_dir == Path(same[0]).parent / "work"


async def test_references_resolve_to_fetchable_urls_and_keep_the_request_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    request = VideoRequest(
        model=O3,
        prompt="x",
        input_image=["s3://refs/a.png", "https://example.com/b.png"],
        input_video="oxen://me/clips@dev/refs/v.mp4",
    )
    async with AsyncOxenClient(api_key="k", base_url="https://hub.example") as client:
        sent = await sendable_request(request, client, lifetime=30 * 24 * 3600)
    assert isinstance(sent.input_image, list)
    first = urlsplit(sent.input_image[0])
    assert first.path == "/refs/a.png" or first.path.endswith("/a.png")
    assert int(parse_qs(first.query)["X-Amz-Expires"][0]) == MAX_PRESIGN_SECONDS  # capped
    assert sent.input_image[1] == "https://example.com/b.png"
    assert sent.input_video == "https://hub.example/api/repos/me/clips/file/dev/refs/v.mp4"
    assert request.input_image == ["s3://refs/a.png", "https://example.com/b.png"]
    assert request.fingerprint() == VideoRequest.model_validate(request.to_payload()).fingerprint()
    short = urlsplit(presign_s3("s3://refs/a.png", lifetime=5))
    assert int(parse_qs(short.query)["X-Amz-Expires"][0]) == 3600  # at least an hour


async def test_a_cancelled_run_commits_what_it_archived(
    credentials, emulator, tmp_path: Path, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Outside a run, the archive reads with the environment's key.
    monkeypatch.setenv("OXEN_API_KEY", API_KEY)
    monkeypatch.setenv("OXEN_BASE_URL", emulator.base_url)
    name = "cancel-" + hashlib.sha256(unique.encode()).hexdigest()[:12]
    video = tmp_path / "v.mp4"
    video.write_bytes(b"not really a video")
    manifest = ArchiveManifest(key="x", model=O3, request={"prompt": "p", "duration": 3})
    uri = f"oxen://me/{name}/clips"

    async def run() -> None:
        async with oxen_archive_session(uri, credentials, flow_run_id="run-1") as archive:
            assert archive is not None
            record = await asyncio.to_thread(archive.put, video, "a/v.mp4", manifest)
            assert record.uri == f"oxen://me/{name}@main/clips/a/v.mp4" and record.uploaded
            other = tmp_path / "w.mp4"
            other.write_bytes(b"something else")
            with pytest.raises(ArchiveConflict):
                await asyncio.to_thread(archive.put, other, "a/v.mp4", manifest)
            raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await run()

    view = RepoView(emulator.base_url, API_KEY, "me", name)
    try:
        [commit] = [c for c in view.commits() if c["message"].startswith("prefect-oxen")]
        assert "cancelled" in commit["message"]
        assert set(view.files()) == {"clips/a/v.mp4", "clips/a/v.json", "clips/dataset.jsonl"}
        [row] = view.table("clips/dataset.jsonl")
        assert row["path"] == "clips/a/v.mp4" and row["flow_run_id"] == "run-1"
    finally:
        view.close()
    # Outside a run the archive still answers reads, but refuses to stage what nobody commits.
    from prefect_oxen.engine import open_archive

    reader = open_archive(uri)
    assert await asyncio.to_thread(reader.exists, "a/v.mp4", row["sha256"])
    with pytest.raises(OxenArchiveNotOpen):
        await asyncio.to_thread(reader.put, video, "b/v.mp4", manifest)
    assert OxenRepoUri.parse(reader.uri_for("a/v.mp4")).path == "clips/a/v.mp4"
