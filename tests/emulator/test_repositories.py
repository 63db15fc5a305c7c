"""The emulator's repository API over real HTTP: repositories, branches, workspaces, commits."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import httpx
import pytest

from prefect_oxen.emulator import EmulatorServer

AUTHOR = {"author": "Bessie", "email": "bessie@example.com"}


@pytest.fixture
def repo(client: httpx.Client, request: pytest.FixtureRequest) -> str:
    """A fresh repository `tests/<unique>` (repositories outlive the per-test reset)."""
    name = f"r-{uuid.uuid4().hex[:12]}"
    response = client.post("/api/repos", json={"namespace": "tests", "name": name})
    assert response.status_code == 200, response.text
    return f"/api/repos/tests/{name}"


def open_workspace(client: httpx.Client, repo: str, branch: str = "main", **extra: Any) -> str:
    workspace_id = str(uuid.uuid4())
    body = {"workspace_id": workspace_id, "branch_name": branch, **extra}
    response = client.put(f"{repo}/workspaces", json=body)
    assert response.status_code == 200, response.text
    return response.json()["workspace"]["id"]


def upload(
    client: httpx.Client, repo: str, workspace: str, directory: str, **files: bytes
) -> httpx.Response:
    parts = [("file", (name.replace("__", "."), data)) for name, data in files.items()]
    return client.post(f"{repo}/workspaces/{workspace}/files/{directory}", files=parts)


def commit(client: httpx.Client, repo: str, workspace: str, message: str, branch: str = "main"):
    return client.post(
        f"{repo}/workspaces/{workspace}/commit/{branch}", json={"message": message, **AUTHOR}
    )


def commit_files(client: httpx.Client, repo: str, message: str, **files: bytes) -> str:
    workspace = open_workspace(client, repo)
    assert upload(client, repo, workspace, "data", **files).status_code == 200
    response = commit(client, repo, workspace, message)
    assert response.status_code == 200, response.text
    return response.json()["commit"]["id"]


def test_create_get_and_conflicting_create(client: httpx.Client) -> None:
    name = f"r-{uuid.uuid4().hex[:12]}"
    created = client.post(
        "/api/repos", json={"namespace": "tests", "name": name, "description": "clips"}
    )
    assert created.status_code == 200
    assert created.json()["repository"]["latest_commit"] is None
    assert created.json()["status_message"] == "resource_created"

    shown = client.get(f"/api/repos/tests/{name}").json()
    assert shown["repository"]["is_empty"] is True
    assert shown["repository"]["name"] == name

    again = client.post("/api/repos", json={"namespace": "tests", "name": name})
    assert again.status_code == 409
    assert again.json()["error"]["type"] == "resource_already_exists"


def test_missing_repository_branch_and_file_are_404(client: httpx.Client, repo: str) -> None:
    missing = client.get("/api/repos/tests/no-such-repo")
    assert missing.status_code == 404
    assert "no-such-repo" in missing.json()["error"]["detail"]
    assert client.get(f"{repo}/branches/main").status_code == 404  # empty: no branch yet
    commit_files(client, repo, "first", a__txt=b"a")
    assert client.get(f"{repo}/branches/nope").status_code == 404
    assert client.get(f"{repo}/file/main/data/missing.txt").status_code == 404
    assert client.get(f"{repo}/file/nobranch/data/a.txt").status_code == 404
    assert client.get(f"{repo}/workspaces/{uuid.uuid4()}").status_code == 404


def test_requires_the_bearer_key(client: httpx.Client, plain: httpx.Client, repo: str) -> None:
    base = str(client.base_url).rstrip("/")
    assert plain.get(f"{base}{repo}").status_code == 401
    assert plain.post(f"{base}/api/repos", json={"namespace": "a", "name": "b"}).status_code == 401


def test_upload_commit_download_round_trip(client: httpx.Client, repo: str) -> None:
    video = bytes(range(256)) * 4000  # 1 MB, spans many multipart chunks
    workspace = open_workspace(client, repo)
    staged = upload(client, repo, workspace, "clips/2026", clip__mp4=video, meta__json=b"{}")
    assert staged.status_code == 200, staged.text
    assert staged.json()["paths"] == ["clips/2026/clip.mp4", "clips/2026/meta.json"]

    done = commit(client, repo, workspace, "Add a clip")
    assert done.status_code == 200, done.text
    made = done.json()["commit"]
    assert made["message"] == "Add a clip" and made["author"] == "Bessie"

    head = client.get(f"{repo}/branches/main").json()["branch"]
    assert head == {"name": "main", "commit_id": made["id"]}
    fetched = client.get(f"{repo}/file/main/clips/2026/clip.mp4")
    assert fetched.status_code == 200
    assert hashlib.sha256(fetched.content).hexdigest() == hashlib.sha256(video).hexdigest()
    assert fetched.headers["content-type"] == "video/mp4"
    by_commit = client.get(f"{repo}/file/{made['id']}/clips/2026/meta.json")
    assert by_commit.content == b"{}"
    # An unnamed workspace ends with its commit.
    assert client.get(f"{repo}/workspaces/{workspace}").status_code == 404


def test_branch_moved_without_overlap_commits_on_top(client: httpx.Client, repo: str) -> None:
    first = commit_files(client, repo, "first", shared__csv=b"v1")
    slow = open_workspace(client, repo)
    second = commit_files(client, repo, "second", other__txt=b"o")
    assert upload(client, repo, slow, "data", mine__txt=b"m").status_code == 200

    done = commit(client, repo, slow, "third")
    assert done.status_code == 200, done.text
    assert done.json()["commit"]["parent_ids"] == [second]
    tree = client.get(f"{repo}/dir/main/data").json()
    assert [e["filename"] for e in tree["entries"]] == ["mine.txt", "other.txt", "shared.csv"]
    assert first != second


def test_branch_moved_over_a_staged_file_is_refused(client: httpx.Client, repo: str) -> None:
    commit_files(client, repo, "first", table__jsonl=b"row1\n")
    slow = open_workspace(client, repo)
    head = commit_files(client, repo, "other run", table__jsonl=b"row1\nrow2\n")
    assert upload(client, repo, slow, "data", table__jsonl=b"row1\nrow3\n").status_code == 200

    refused = commit(client, repo, slow, "mine")
    # oxen-server's WorkspaceBehind: status 404, error type "conflict".
    assert refused.status_code == 404
    error = refused.json()["error"]
    assert error["type"] == "conflict" and error["title"] == "Workspace is behind"
    assert head in error["detail"]
    assert client.get(f"{repo}/branches/main").json()["branch"]["commit_id"] == head
    assert client.get(f"{repo}/file/main/data/table.jsonl").content == b"row1\nrow2\n"
    # The workspace and its staged file survive the refusal.
    assert client.get(f"{repo}/workspaces/{slow}").status_code == 200


def test_commit_log_is_newest_first_and_paginated(client: httpx.Client, repo: str) -> None:
    ids = [commit_files(client, repo, f"c{i}", **{f"f{i}__txt": b"x"}) for i in range(3)]
    log = client.get(f"{repo}/commits/history/main").json()
    messages = [c["message"] for c in log["commits"]]
    assert messages == ["c2", "c1", "c0", "Initialized Repo 🐂"]
    assert [c["id"] for c in log["commits"][:3]] == ids[::-1]
    page = client.get(f"{repo}/commits/history/main", params={"page_size": 2, "page": 2}).json()
    assert [c["message"] for c in page["commits"]] == ["c0", "Initialized Repo 🐂"]
    assert page["total_entries"] == 4 and page["total_pages"] == 2
    one_file = client.get(f"{repo}/commits/history/main/data/f1.txt").json()
    assert [c["message"] for c in one_file["commits"]] == ["c1"]
    assert client.get(f"{repo}/commits/{ids[0]}").json()["commit"]["message"] == "c0"


def test_branches_create_and_list(client: httpx.Client, repo: str) -> None:
    head = commit_files(client, repo, "first", a__txt=b"a")
    made = client.post(f"{repo}/branches", json={"new_name": "run/42", "from_name": "main"})
    assert made.status_code == 200
    assert made.json()["branch"] == {"name": "run/42", "commit_id": head}
    assert client.get(f"{repo}/branches/run/42").json()["branch"]["commit_id"] == head
    names = [b["name"] for b in client.get(f"{repo}/branches").json()["branches"]]
    assert names == ["main", "run/42"]
    again = client.post(f"{repo}/branches", json={"new_name": "run/42", "from_name": "main"})
    assert again.status_code == 409
    bad_source = client.post(f"{repo}/branches", json={"new_name": "x", "from_name": "nope"})
    assert bad_source.status_code == 404
    # A file read through a branch whose name holds a slash.
    assert client.get(f"{repo}/file/run/42/data/a.txt").content == b"a"


def test_workspace_on_a_missing_branch_of_a_non_empty_repo_is_400(
    client: httpx.Client, repo: str
) -> None:
    commit_files(client, repo, "first", a__txt=b"a")
    body = {"workspace_id": str(uuid.uuid4()), "branch_name": "nope"}
    assert client.put(f"{repo}/workspaces", json=body).status_code == 400
    assert client.put(f"{repo}/workspaces", json={"branch_name": "main"}).status_code == 400


def test_named_workspace_is_reused_and_survives_commit(client: httpx.Client, repo: str) -> None:
    first = open_workspace(client, repo, name="archive-run")
    again = open_workspace(client, repo, name="archive-run")
    assert first == again
    assert upload(client, repo, first, "", top__txt=b"t").json()["paths"] == ["top.txt"]
    assert commit(client, repo, first, "named").status_code == 200
    based_on = client.get(f"{repo}/workspaces/{first}").json()["workspace"]["commit"]["id"]
    assert based_on == client.get(f"{repo}/branches/main").json()["branch"]["commit_id"]


def test_staged_files_list_unstage_and_nothing_to_commit(client: httpx.Client, repo: str) -> None:
    commit_files(client, repo, "first", keep__txt=b"k")
    workspace = open_workspace(client, repo)
    upload(client, repo, workspace, "data", a__txt=b"a", b__txt=b"b")
    changes = client.get(f"{repo}/workspaces/{workspace}/changes").json()["staged"]
    assert [e["filename"] for e in changes["added_files"]["entries"]] == [
        "data/a.txt",
        "data/b.txt",
    ]
    gone = client.request(
        "DELETE", f"{repo}/workspaces/{workspace}/staged", json=["data/a.txt", "data/zz.txt"]
    )
    assert gone.status_code == 206 and gone.json()["paths"] == ["data/zz.txt"]
    assert client.delete(f"{repo}/workspaces/{workspace}/files/data/b.txt").status_code == 200
    empty = commit(client, repo, workspace, "nothing")
    assert empty.status_code == 422
    # Staging the removal of a committed file, then committing it.
    assert client.delete(f"{repo}/workspaces/{workspace}/files/data/keep.txt").status_code == 200
    assert commit(client, repo, workspace, "remove keep").status_code == 200
    assert client.get(f"{repo}/file/main/data/keep.txt").status_code == 404


def test_bad_uploads_are_400(client: httpx.Client, repo: str) -> None:
    workspace = open_workspace(client, repo)
    url = f"{repo}/workspaces/{workspace}/files/data"
    assert client.post(url, content=b"x", headers={"content-type": "text/plain"}).status_code == 400
    cut = b"--B\r\nContent-Disposition: form-data; name=file; filename=a.txt\r\n\r\nabc"
    headers = {"content-type": "multipart/form-data; boundary=B"}
    assert client.post(url, content=cut, headers=headers).status_code == 400
    escaping = client.post(f"{repo}/workspaces/{workspace}/files/../x", files={"file": b"x"})
    assert escaping.status_code in (400, 404)


def test_control_hook_and_disk_persistence(
    client: httpx.Client, reset_emulator: EmulatorServer, repo: str, tmp_path
) -> None:
    head = commit_files(client, repo, "first", a__txt=b"a")
    name = repo.rsplit("/", 1)[-1]
    [state] = [r for r in reset_emulator.repositories() if r["name"] == name]
    assert state["branches"] == {"main": head}
    assert state["commits"][-1]["files"] == {"data/a.txt": hashlib.sha256(b"a").hexdigest()}
    over_http = client.get("/_emulator/repositories").json()["repositories"]
    assert any(r["name"] == name for r in over_http)

    # Repositories live on disk: a restarted emulator with the same state dir still has them.
    with EmulatorServer(state_dir=tmp_path) as first, httpx.Client(headers=client.headers) as http:
        base = f"{first.base_url}/api/repos"
        http.post(base, json={"namespace": "ns", "name": "kept"}).raise_for_status()
        http.base_url = httpx.URL(first.base_url)
        commit_files(http, "/api/repos/ns/kept", "persisted", p__txt=b"p")
    with EmulatorServer(state_dir=tmp_path) as second, httpx.Client(headers=client.headers) as http:
        assert http.get(f"{second.base_url}/api/repos/ns/kept/file/main/data/p.txt").content == b"p"
