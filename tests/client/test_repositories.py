"""The repository client against the emulator: round trips, typed errors, retries, URIs."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import httpx
import pytest

from prefect_oxen.client import (
    AsyncOxenClient,
    AsyncRepository,
    BranchExists,
    BranchMoved,
    BranchNotFound,
    InvalidRepoUri,
    NothingToCommit,
    OxenRepoUri,
    RepositoryExists,
    RepositoryNotFound,
    RepositoryPathNotFound,
    WorkspaceNotFound,
)
from tests.conftest import API_KEY
from tests.support import EmulatorControl

AUTHOR = {"author": "Prefect Oxen", "email": "bot@example.com"}
UPLOAD_ROUTE = (
    "POST /api/repos/{namespace}/{repo_name}/workspaces/{workspace_id}/files/{directory:path}"
)


@pytest.fixture
async def repo(oxen: AsyncOxenClient) -> AsyncRepository:
    """A fresh, created repository (repositories outlive the per-test emulator reset)."""
    handle = oxen.repository("tests", f"c-{uuid.uuid4().hex[:12]}")
    await handle.create(description="client tests")
    return handle


@pytest.fixture
def video(tmp_path: Path) -> Path:
    """A 3 MB file standing in for a rendered mp4 (spans many upload and download chunks)."""
    path = tmp_path / "render.mp4"
    path.write_bytes(os.urandom(3 * 1024 * 1024))
    return path


async def commit_file(repo: AsyncRepository, dest: str, data: bytes, message: str) -> str:
    workspace = await repo.create_workspace()
    await repo.upload_bytes(workspace.id, data, dest)
    return (await repo.commit_workspace(workspace, message=message, **AUTHOR)).id


# --- round trip ---------------------------------------------------------------------------------


async def test_upload_commit_download_round_trip(
    repo: AsyncRepository, video: Path, tmp_path: Path
) -> None:
    workspace = await repo.create_workspace("main")
    staged = await repo.upload_file(workspace.id, video, "videos/2026/abc.mp4")
    assert staged == "videos/2026/abc.mp4"
    assert await repo.upload_bytes(workspace.id, b'{"id": "abc"}\n', "dataset.jsonl") == (
        "dataset.jsonl"
    )
    commit = await repo.commit_workspace(workspace, message="Batch 1: 1 video", **AUTHOR)
    assert commit.message == "Batch 1: 1 video" and commit.author == AUTHOR["author"]
    assert (await repo.get_branch("main")).commit_id == commit.id
    assert (await repo.get()).is_empty is False

    got = await repo.download_file("main", "videos/2026/abc.mp4", tmp_path / "out" / "abc.mp4")
    expected = hashlib.sha256(video.read_bytes()).hexdigest()
    assert got.sha256 == expected == hashlib.sha256(got.path.read_bytes()).hexdigest()
    assert got.size_bytes == video.stat().st_size
    assert not list((tmp_path / "out").glob(".*.part"))
    assert await repo.read_bytes(commit.id, "dataset.jsonl") == b'{"id": "abc"}\n'

    entries = await repo.list_dir("main")
    assert [(e.filename, e.is_dir) for e in entries] == [("videos", True), ("dataset.jsonl", False)]
    [clip] = await repo.list_dir("main", "videos/2026")
    assert clip.hash == expected and clip.size == video.stat().st_size


async def test_commit_log_newest_first_with_limit_and_path(repo: AsyncRepository) -> None:
    first = await commit_file(repo, "a.txt", b"1", "one")
    second = await commit_file(repo, "b.txt", b"2", "two")
    log = await repo.commit_log("main")
    assert [c.id for c in log[:2]] == [second, first]
    assert log[0].parent_ids == [first]
    assert [c.message for c in await repo.commit_log("main", limit=1)] == ["two"]
    assert [c.id for c in await repo.commit_log("main", path="a.txt")] == [first]


async def test_file_url_serves_the_file_and_page_url_is_the_hub_page(
    repo: AsyncRepository, emulator: EmulatorControl
) -> None:
    await commit_file(repo, "prompts/p 1.jsonl", b"{}", "prompts")
    url = repo.file_url("main", "prompts/p 1.jsonl")
    assert url == (f"{emulator.base_url}/api/repos/tests/{repo.name}/file/main/prompts/p%201.jsonl")
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {API_KEY}"}) as http:
        assert (await http.get(url)).content == b"{}"
    assert (
        repo.page_url("main", "prompts")
        == f"{emulator.base_url}/tests/{repo.name}/file/main/prompts"
    )


async def test_branch_create_and_commit_to_it(repo: AsyncRepository) -> None:
    head = await commit_file(repo, "a.txt", b"1", "one")
    branch = await repo.create_branch("run/7", from_branch="main")
    assert branch.commit_id == head
    workspace = await repo.create_workspace("run/7")
    await repo.upload_bytes(workspace.id, b"2", "b.txt")
    made = await repo.commit_workspace(workspace, message="on the run branch", **AUTHOR)
    assert (await repo.get_branch("run/7")).commit_id == made.id
    assert (await repo.get_branch("main")).commit_id == head
    assert {b.name for b in await repo.list_branches()} == {"main", "run/7"}
    with pytest.raises(BranchExists) as exists:
        await repo.create_branch("run/7")
    assert exists.value.branch == "run/7"


# --- moved branches -----------------------------------------------------------------------------


async def test_moved_branch_without_overlap_is_merged_onto(repo: AsyncRepository) -> None:
    await commit_file(repo, "a.txt", b"1", "one")
    slow = await repo.create_workspace()
    other = await commit_file(repo, "other.txt", b"o", "another run")
    await repo.upload_bytes(slow.id, b"mine", "mine.txt")
    made = await repo.commit_workspace(slow, message="mine", **AUTHOR)
    assert made.parent_ids == [other]
    assert await repo.read_bytes("main", "other.txt") == b"o"
    assert await repo.read_bytes("main", "mine.txt") == b"mine"


async def test_moved_branch_over_a_staged_file_raises_branch_moved(
    repo: AsyncRepository,
) -> None:
    await commit_file(repo, "table.jsonl", b"row1\n", "one")
    slow = await repo.create_workspace()
    head = await commit_file(repo, "table.jsonl", b"row1\nrow2\n", "another run")
    await repo.upload_bytes(slow.id, b"row1\nrow3\n", "table.jsonl")
    with pytest.raises(BranchMoved) as moved:
        await repo.commit_workspace(slow, message="mine", **AUTHOR)
    error = moved.value
    assert (error.branch, error.workspace_id, error.name) == ("main", slow.id, repo.name)
    assert error.branch_commit_id == head
    assert error.workspace_commit_id == slow.commit.id
    assert await repo.read_bytes("main", "table.jsonl") == b"row1\nrow2\n"


# --- typed errors -------------------------------------------------------------------------------


async def test_missing_things_raise_typed_not_found_errors(
    oxen: AsyncOxenClient, repo: AsyncRepository, tmp_path: Path
) -> None:
    with pytest.raises(RepositoryNotFound) as no_repo:
        await oxen.repository("tests", "does-not-exist").get()
    assert (no_repo.value.namespace, no_repo.value.name) == ("tests", "does-not-exist")
    with pytest.raises(BranchNotFound):
        await repo.get_branch("main")  # an empty repository has no branch yet
    with pytest.raises(BranchNotFound):
        await repo.commit_log("main")
    await commit_file(repo, "a.txt", b"1", "one")
    with pytest.raises(BranchNotFound) as no_branch:
        await repo.get_branch("nope")
    assert no_branch.value.branch == "nope"
    with pytest.raises(RepositoryPathNotFound) as no_path:
        await repo.download_file("main", "missing.mp4", tmp_path / "x.mp4")
    assert (no_path.value.revision, no_path.value.path) == ("main", "missing.mp4")
    assert not (tmp_path / "x.mp4").exists() and not list(tmp_path.glob(".*.part"))
    with pytest.raises(BranchNotFound):
        await repo.read_bytes("nobranch", "a.txt")
    with pytest.raises(RepositoryPathNotFound):
        await repo.list_dir("main", "no/such/dir")


async def test_workspace_errors(repo: AsyncRepository) -> None:
    workspace = await repo.create_workspace()
    await repo.upload_bytes(workspace.id, b"1", "a.txt")
    await repo.commit_workspace(workspace, message="one", **AUTHOR)
    # An unnamed workspace ends with its commit.
    with pytest.raises(WorkspaceNotFound) as gone:
        await repo.upload_bytes(workspace.id, b"2", "b.txt")
    assert gone.value.workspace_id == workspace.id
    with pytest.raises(WorkspaceNotFound):
        await repo.commit_workspace(workspace, message="again", **AUTHOR)

    named = await repo.create_workspace(name="archive")
    assert (await repo.create_workspace(name="archive")).id == named.id
    with pytest.raises(NothingToCommit):
        await repo.commit_workspace(named, message="empty", **AUTHOR)
    await repo.upload_bytes(named.id, b"x", "x.txt")
    assert await repo.unstage(named.id, ["x.txt", "never.txt"]) == ["never.txt"]
    with pytest.raises(NothingToCommit):
        await repo.commit_workspace(named, message="empty again", **AUTHOR)
    await repo.delete_workspace(named.id)
    with pytest.raises(WorkspaceNotFound):
        await repo.delete_workspace(named.id)


async def test_create_conflict_and_exist_ok(oxen: AsyncOxenClient, repo: AsyncRepository) -> None:
    same = oxen.repository(repo.namespace, repo.name)
    with pytest.raises(RepositoryExists) as exists:
        await same.create()
    assert exists.value.status_code == 409 and exists.value.name == repo.name
    assert (await same.create(exist_ok=True)).name == repo.name


async def test_errors_and_reprs_never_hold_the_key(
    oxen: AsyncOxenClient, repo: AsyncRepository
) -> None:
    with pytest.raises(RepositoryNotFound) as caught:
        await oxen.repository("tests", "nope-nope").get()
    for text in (str(caught.value), repr(caught.value), repr(caught.value.body), repr(repo)):
        assert API_KEY not in text


# --- the send path ------------------------------------------------------------------------------


async def test_upload_is_retried_through_the_shared_policy(
    repo: AsyncRepository, emulator: EmulatorControl
) -> None:
    workspace = await repo.create_workspace()
    emulator.configure(faults={"unavailable": 1.0, "routes": [UPLOAD_ROUTE], "limit": 1})
    assert await repo.upload_bytes(workspace.id, b"payload", "data/p.bin") == "data/p.bin"
    stats = emulator.stats()
    assert stats["requests"][UPLOAD_ROUTE] == 2
    assert stats["faults_injected"]["unavailable"] == 1


async def test_a_commit_whose_answer_is_lost_is_not_resent(
    repo: AsyncRepository, emulator: EmulatorControl
) -> None:
    from prefect_oxen.client import TransportError

    workspace = await repo.create_workspace()
    await repo.upload_bytes(workspace.id, b"1", "a.txt")
    route = "POST /api/repos/{namespace}/{repo_name}/workspaces/{workspace_id}/commit/{branch:path}"
    emulator.configure(faults={"connection_reset": 1.0, "routes": [route], "limit": 1})
    with pytest.raises(TransportError) as lost:
        await repo.commit_workspace(workspace, message="one", **AUTHOR)
    assert lost.value.sent
    assert emulator.stats()["requests"][route] == 1


def test_repository_names_are_checked(oxen: AsyncOxenClient) -> None:
    with pytest.raises(InvalidRepoUri):
        oxen.repository("me", "../etc")


# --- URIs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("oxen://me/clips", OxenRepoUri("me", "clips", "main", "")),
        ("oxen://me/clips@dev", OxenRepoUri("me", "clips", "dev", "")),
        ("oxen://me/clips/prompts.jsonl", OxenRepoUri("me", "clips", "main", "prompts.jsonl")),
        ("OXEN://me/clips@v2/a/b/", OxenRepoUri("me", "clips", "v2", "a/b")),
        (
            "oxen://org-1/my_data.v2@main//x.csv",
            OxenRepoUri("org-1", "my_data.v2", "main", "x.csv"),
        ),
    ],
)
def test_uri_parsing(text: str, expected: OxenRepoUri) -> None:
    assert OxenRepoUri.parse(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("s3://bucket/key", "oxen://"),
        ("oxen://me", "NAMESPACE/REPO"),
        ("oxen:///clips", "NAMESPACE/REPO"),
        ("oxen://me/cl ips", "invalid repository name"),
        ("oxen://me/clips@/x", "empty branch"),
        ("oxen://me/clips/../x", "'..'"),
        ("oxen://m!e/clips", "invalid namespace name"),
    ],
)
def test_malformed_uris_say_why(text: str, reason: str) -> None:
    with pytest.raises(InvalidRepoUri) as caught:
        OxenRepoUri.parse(text)
    assert reason in str(caught.value) and caught.value.uri == text
    assert isinstance(caught.value, ValueError)


def test_uri_round_trip_and_join() -> None:
    uri = OxenRepoUri.parse("oxen://me/clips@dev/videos")
    assert str(uri) == "oxen://me/clips@dev/videos"
    assert str(uri.join("a", "b.mp4")) == "oxen://me/clips@dev/videos/a/b.mp4"
    assert OxenRepoUri.parse(str(uri.join("x"))) == uri.join("x")
    assert str(OxenRepoUri("me", "clips")) == "oxen://me/clips@main"
    assert OxenRepoUri.is_oxen_uri(" oxen://x/y") and not OxenRepoUri.is_oxen_uri("s3://b/k")
