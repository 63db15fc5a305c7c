"""Reading what an emulator repository holds, for tests of ``oxen://`` archives and inputs."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx


class RepoView:
    """One emulator repository: its commits, the files at a branch head and their bytes.

    Args:
        base_url: The emulator's base URL.
        api_key: A key the emulator accepts.
        namespace: The repository's namespace.
        name: The repository's name.
    """

    def __init__(self, base_url: str, api_key: str, namespace: str, name: str) -> None:
        self.namespace, self.name = namespace, name
        self._http = httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30
        )

    def close(self) -> None:
        self._http.close()

    def state(self) -> dict[str, Any] | None:
        """The control view of the repository (branches, commits oldest first, workspaces)."""
        repositories = self._http.get("/_emulator/repositories").raise_for_status().json()
        for repo in repositories["repositories"]:
            if (repo["namespace"], repo["name"]) == (self.namespace, self.name):
                return dict(repo)
        return None

    def commits(self) -> list[dict[str, Any]]:
        """Every commit, oldest first (the initial empty commit included)."""
        state = self.state()
        return list(state["commits"]) if state else []

    def files(self, branch: str = "main") -> dict[str, str]:
        """Path to sha256 of every file at the head of `branch`."""
        state = self.state()
        assert state is not None, f"no repository {self.namespace}/{self.name}"
        head = state["branches"][branch]
        [commit] = [c for c in state["commits"] if c["id"] == head]
        return dict(commit["files"])

    def read(self, path: str, branch: str = "main") -> bytes:
        """A file's bytes at the head of `branch`."""
        url = f"/api/repos/{self.namespace}/{self.name}/file/{branch}/{path}"
        return self._http.get(url).raise_for_status().content

    def table(self, path: str, branch: str = "main") -> list[dict[str, Any]]:
        """The rows of a JSONL table at the head of `branch`."""
        return [json.loads(line) for line in self.read(path, branch).decode().splitlines() if line]

    def create_with(self, files: dict[str, bytes]) -> str:
        """Create the repository with `files` in its first commit; the commit id."""
        self._http.post(
            "/api/repos", json={"namespace": self.namespace, "name": self.name}
        ).raise_for_status()
        return self.upload_and_commit(files, "seed the repository")

    def upload_and_commit(self, files: dict[str, bytes], message: str, branch: str = "main") -> str:
        """Commit `files` through a workspace of our own (another writer); the commit id."""
        root = f"/api/repos/{self.namespace}/{self.name}"
        workspace = (
            self._http.put(
                f"{root}/workspaces",
                json={"workspace_id": message.replace(" ", "-"), "branch_name": branch},
            )
            .raise_for_status()
            .json()["workspace"]["id"]
        )
        for path, data in files.items():
            directory, _, filename = path.rpartition("/")
            self._http.post(
                f"{root}/workspaces/{workspace}/files/{directory}",
                files=[("file", (filename, data, "application/octet-stream"))],
            ).raise_for_status()
        body = {"message": message, "author": "someone", "email": "someone@example.com"}
        response = self._http.post(f"{root}/workspaces/{workspace}/commit/{branch}", json=body)
        return str(response.raise_for_status().json()["commit"]["id"])


def sha256_hex(data: bytes) -> str:
    """Hex sha256 of `data`."""
    return hashlib.sha256(data).hexdigest()
