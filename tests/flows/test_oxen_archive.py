"""Oxen repositories in and out (issue 20): flows against the emulator's repository API.

Prompts read from a repository, videos committed back once per run with a merged dataset table,
a branch moved by another writer during the run, a run SIGKILLed and re-run, and reference
inputs from S3 presigned for the API to fetch.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from moto.server import ThreadedMotoServer
from prefect.settings import PREFECT_API_URL

from prefect_oxen.client import AsyncRepository
from prefect_oxen.engine._oxen_archive import OxenArchive
from prefect_oxen.engine._run_state import state_location_for
from prefect_oxen.flows import batch_flow, generate_video_flow
from tests.support import FAST, wait_for
from tests.support.models import I2V
from tests.support.oxen_repos import RepoView, sha256_hex

from ..conftest import API_KEY
from ..reliability.helpers import journal_states
from .reports import report_of

CHILD = Path(__file__).parents[1] / "reliability" / "batch_child.py"


@pytest.fixture
def repo(emulator, unique: str) -> Iterator[RepoView]:
    """A repository of its own (repositories outlive the emulator's per-test reset)."""
    name = "clips-" + hashlib.sha256(unique.encode()).hexdigest()[:12]
    view = RepoView(emulator.base_url, API_KEY, "me", name)
    yield view
    view.close()


def _items(n: int, tag: str) -> list[dict[str, Any]]:
    return [
        {"id": f"v{i:02d}", "model": FAST, "prompt": f"{tag} {i}", "duration": 1} for i in range(n)
    ]


def _ours(repo: RepoView) -> list[dict[str, Any]]:
    return [c for c in repo.commits() if c["message"].startswith("prefect-oxen")]


def _check_table(repo: RepoView, table: str, expected_videos: set[str]) -> list[dict[str, Any]]:
    """The table has one row per expected video and each row's sha256 is the file's."""
    rows = repo.table(table)
    paths = [row["path"] for row in rows]
    assert len(paths) == len(set(paths)), "a video is in the table twice"
    assert set(paths) == expected_videos
    files = repo.files()
    for row in rows:
        assert row["sha256"] == files[row["path"]] == sha256_hex(repo.read(row["path"]))
    return rows


async def test_prompts_from_a_repository_and_report_links_to_the_hub(
    credentials, emulator, repo: RepoView, unique: str
) -> None:
    lines = [
        json.dumps({"id": "fox", "model": FAST, "prompt": f"a fox {unique}", "duration": 1}),
        '{"id": "broken", "model": ',
        json.dumps({"id": "owl", "model": FAST, "prompt": f"an owl {unique}", "duration": 2}),
    ]
    repo.create_with({"inputs/prompts.jsonl": ("\n".join(lines) + "\n").encode()})
    source = f"oxen://me/{repo.name}/inputs/prompts.jsonl"
    archive = f"oxen://me/{repo.name}@main/videos"

    state = await batch_flow(
        source, credentials, archive=archive, concurrency_limit=None, return_state=True
    )
    report = await report_of(state)

    by_key = {item.key: item for item in report.items}
    assert by_key["line 2"].status == "rejected"
    assert by_key["line 2"].error.startswith("line 2: not valid JSON")
    for key in ("fox", "owl"):
        item = by_key[key]
        assert item.status == "archived"
        assert item.archive_uri.startswith(f"oxen://me/{repo.name}@main/videos/")
        path = item.archive_uri.split("@main/", 1)[1]
        assert item.link == f"{emulator.base_url}/me/{repo.name}/file/main/{path}"
    rows = _check_table(
        repo,
        "videos/dataset.jsonl",
        {item.archive_uri.split("@main/", 1)[1] for item in report.items if item.archive_uri},
    )
    assert sorted(row["prompt"] for row in rows) == [f"a fox {unique}", f"an owl {unique}"]
    [commit] = _ours(repo)
    assert "2 video(s) from prompts.jsonl" in commit["message"]
    assert str(state.state_details.flow_run_id) in commit["message"]


async def test_a_branch_moved_during_the_run_keeps_both_commits_and_merges_the_table(
    credentials, emulator, repo: RepoView, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    other_row = {"path": "videos/other/x.mp4", "prompt": "x", "sha256": sha256_hex(b"x")}
    repo.create_with(
        {
            "videos/other/x.mp4": b"x",
            "videos/dataset.jsonl": (json.dumps(other_row) + "\n").encode(),
        }
    )
    late_row = {"path": "videos/other/y.mp4", "prompt": "y", "sha256": sha256_hex(b"y")}
    commit_once = OxenArchive.acommit
    moved: list[str] = []

    async def commit_after_another_writer(self: OxenArchive, message: Any) -> Any:
        # Our workspace is open with the run's videos; another writer now changes the table.
        table = repo.read("videos/dataset.jsonl") + (json.dumps(late_row) + "\n").encode()
        moved.append(
            repo.upload_and_commit(
                {"videos/other/y.mp4": b"y", "videos/dataset.jsonl": table}, "another writer"
            )
        )
        return await commit_once(self, message)

    monkeypatch.setattr(OxenArchive, "acommit", commit_after_another_writer)
    state = await batch_flow(
        _items(3, unique),
        credentials,
        archive=f"oxen://me/{repo.name}/videos",
        concurrency_limit=None,
        return_state=True,
    )
    report = await report_of(state)

    assert state.is_completed() and len(moved) == 1
    ours = {item.archive_uri.split("@main/", 1)[1] for item in report.items}
    assert len(ours) == 3
    _check_table(repo, "videos/dataset.jsonl", ours | {other_row["path"], late_row["path"]})
    messages = [c["message"] for c in repo.commits()]
    assert "another writer" in messages and len(_ours(repo)) == 1
    assert messages[-1].startswith("prefect-oxen")  # ours landed on top of the moved branch
    assert emulator.stats()["billed_generations"] == 3


async def test_a_table_committed_between_reading_and_committing_keeps_its_rows(
    credentials, emulator, repo: RepoView, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No table in the run's workspace base: the server merges without a conflict, so only the
    # check of the commit's parent can notice the other writer's rows.
    repo.create_with({"readme.md": b"clips"})
    late_row = {"path": "late/y.mp4", "prompt": "y", "sha256": sha256_hex(b"y")}
    commit_workspace = AsyncRepository.commit_workspace
    raced: list[str] = []

    async def another_writer_first(self: AsyncRepository, workspace: Any, **options: Any) -> Any:
        if not raced:
            raced.append(
                repo.upload_and_commit(
                    {"late/y.mp4": b"y", "dataset.jsonl": (json.dumps(late_row) + "\n").encode()},
                    "another writer",
                )
            )
        return await commit_workspace(self, workspace, **options)

    monkeypatch.setattr(AsyncRepository, "commit_workspace", another_writer_first)
    state = await batch_flow(
        _items(2, unique),
        credentials,
        archive=f"oxen://me/{repo.name}",
        concurrency_limit=None,
        return_state=True,
    )
    report = await report_of(state)

    assert state.is_completed() and len(raced) == 1
    ours = {item.archive_uri.split("@main/", 1)[1] for item in report.items}
    _check_table(repo, "dataset.jsonl", ours | {late_row["path"]})
    messages = [c["message"] for c in _ours(repo)]
    assert len(messages) == 2 and "keep 1 dataset.jsonl row(s)" in messages[1]


def _start_child(emulator, archive: str, batch: list[dict]) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
    args = [emulator.base_url, API_KEY, archive, json.dumps(batch), "4"]
    return subprocess.Popen(
        [sys.executable, str(CHILD), *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


async def test_a_run_killed_mid_batch_is_finished_by_a_rerun_that_pays_once(
    credentials, emulator, repo: RepoView, unique: str
) -> None:
    n = 8
    batch = _items(n, unique)
    archive = f"oxen://me/{repo.name}"
    journal = Path(state_location_for(archive))
    emulator.configure(latency=0.3)  # generations outlive the first archived ones
    child = _start_child(emulator, archive, batch)
    try:
        wait_for(
            lambda: "archived" in journal_states(journal).values() or child.poll() is not None,
            timeout=120,
            what="a first video archived by the child",
            interval=0.005,
        )
        assert child.poll() is None, "the batch finished before it could be killed"
        os.killpg(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait(timeout=30)
    states = journal_states(journal)
    assert list(states.values()).count("archived") < n
    assert not _ours(repo)  # SIGKILL: no commit
    emulator.configure(latency=0.0)

    state = await batch_flow(
        batch, credentials, archive=archive, concurrency_limit=None, return_state=True
    )
    report = await report_of(state)

    assert state.is_completed()
    assert emulator.stats()["billed_generations"] == n  # nothing paid twice
    videos = {item.archive_uri.split("@main/", 1)[1] for item in report.items}
    assert len(videos) == n
    _check_table(repo, "dataset.jsonl", videos)
    assert {p for p in repo.files() if p.endswith(".mp4")} == videos
    assert len(_ours(repo)) == 1


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    """moto's S3 over real HTTP on 127.0.0.1 (ephemeral port); yields the endpoint URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_image(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> tuple[str, bytes]:
    """An image in a moto bucket, the environment pointed at it; its s3:// URI and bytes."""
    for name, value in {
        "AWS_ENDPOINT_URL": moto_server,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1")
    client.create_bucket(Bucket="refs")
    image = b"\x89PNG\r\n\x1a\n" + os.urandom(2048)
    client.put_object(Bucket="refs", Key="cats/cat.png", Body=image)
    return "s3://refs/cats/cat.png", image


async def test_an_s3_input_image_reaches_the_api_as_a_working_presigned_url(
    credentials, emulator, workdir: Path, s3_image: tuple[str, bytes], unique: str
) -> None:
    uri, image = s3_image
    emulator.configure(fetch_inputs=True)
    request = {"model": I2V, "prompt": f"the cat {unique}", "duration": 5, "input_image": uri}
    record = await generate_video_flow(
        request, credentials, archive=str(workdir / "archive"), key="cat", timeout=7200.0
    )

    [generation] = emulator.generations()
    sent = generation["request"]["input_image"]
    assert sent.startswith(os.environ["AWS_ENDPOINT_URL"] + "/refs/cats/cat.png?")
    query = parse_qs(urlsplit(sent).query)
    assert "X-Amz-Signature" in query and int(query["X-Amz-Expires"][0]) >= 7200
    fetched = emulator.stats()["input_fetches"]
    assert fetched["count"] == 1 and fetched["bytes"] == len(image) and fetched["failures"] == 0
    assert generation["status"] == "succeeded"
    manifest = json.loads(Path(record.manifest_uri.removeprefix("file://")).read_text())
    assert manifest["request"]["input_image"] == uri  # the item's identity is the s3:// URI


async def test_an_unreachable_input_image_fails_the_generation_unbilled(
    credentials, emulator, workdir: Path, s3_image: tuple[str, bytes], unique: str
) -> None:
    emulator.configure(fetch_inputs=True)
    request = {
        "model": I2V,
        "prompt": f"no cat {unique}",
        "duration": 5,
        "input_image": "s3://refs/cats/missing.png",
    }
    state = await generate_video_flow(
        request, credentials, archive=str(workdir / "archive"), key="nocat", return_state=True
    )

    assert state.is_failed()
    assert "Could not fetch input_image" in str(state.message) + str(
        await state.aresult(raise_on_failure=False)
    )
    assert emulator.stats()["billed_generations"] == 0
    assert emulator.stats()["input_fetches"]["failures"] >= 1
