"""Oxen repositories on disk: branches, commits, workspaces and content-addressed file versions.

Each repository lives in ``<root>/<namespace>/<name>/``: ``repo.json`` holds its commits (each
with its whole file tree: fine for the emulator's small repositories), branches and workspaces,
rewritten atomically on every change; ``versions/<sha256>`` holds each file version once.

Committing a workspace follows oxen-server (``repositories::workspaces::commit``): the staged
changes land on top of the branch's *current* head, so a branch that moved since the workspace
was created is merged into silently, unless a staged file was also changed on the branch since
the workspace's commit. That is a conflict ("workspace is behind"), answered as oxen-server
answers it: status 404 with error type ``conflict``.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import os
import shutil
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

#: Author and message of the commit oxen-server makes when a workspace opens on an empty repo.
INITIAL_AUTHOR = ("Oxen", "oxen@oxen.ai")
INITIAL_MESSAGE = "Initialized Repo 🐂"


class RepoProblem(Exception):
    """An answer other than success: HTTP status, error type, title and human detail."""

    def __init__(self, status: int, kind: str, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.kind = kind
        self.title = title
        self.detail = detail


def not_found(title: str, detail: str) -> RepoProblem:
    """A 404 `resource_not_found` problem."""
    return RepoProblem(404, "resource_not_found", title, detail)


def bad_request(detail: str) -> RepoProblem:
    """A 400 `bad_request` problem."""
    return RepoProblem(400, "bad_request", "Bad Request", detail)


def clean_path(raw: str, *, allow_root: bool = False) -> str:
    """A repository-relative POSIX path without ``.``/``..`` parts; 400 otherwise."""
    text = raw.strip("/")
    if not text:
        if allow_root:
            return ""
        raise bad_request("A path is required")
    parts = PurePosixPath(text).parts
    if any(part in (".", "..") for part in parts) or "\\" in text or "\x00" in text:
        raise bad_request(f"Invalid path: {raw!r}")
    return "/".join(parts)


def _now() -> str:
    """The current time as RFC 3339 in UTC."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass
class Commit:
    """One commit and the whole tree it records (``path -> {"hash", "size"}``)."""

    id: str
    parent_ids: list[str]
    message: str
    author: str
    email: str
    timestamp: str
    seq: int
    tree: dict[str, dict[str, Any]]

    def view(self) -> dict[str, Any]:
        """The commit as oxen-server's `Commit` JSON."""
        return {
            "id": self.id,
            "parent_ids": self.parent_ids,
            "message": self.message,
            "author": self.author,
            "email": self.email,
            "timestamp": self.timestamp,
        }


@dataclass
class Workspace:
    """A staging area opened on a commit; `staged` maps a path to a version, or None (removal)."""

    id: str
    name: str | None
    branch: str
    commit_id: str
    staged: dict[str, dict[str, Any] | None] = field(default_factory=dict)


@dataclass
class Repo:
    """One repository's metadata, commits, branches and workspaces."""

    namespace: str
    name: str
    description: str = ""
    created_at: str = field(default_factory=_now)
    branches: dict[str, str] = field(default_factory=dict)
    commits: dict[str, Commit] = field(default_factory=dict)
    workspaces: dict[str, Workspace] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Repo:
        """Rebuild a repository from its ``repo.json``."""
        repo = cls(data["namespace"], data["name"], data["description"], data["created_at"])
        repo.branches = dict(data["branches"])
        repo.commits = {c["id"]: Commit(**c) for c in data["commits"]}
        repo.workspaces = {w["id"]: Workspace(**w) for w in data["workspaces"]}
        return repo

    def to_json(self) -> dict[str, Any]:
        """The JSON that ``repo.json`` holds."""
        return {
            "namespace": self.namespace,
            "name": self.name,
            "description": self.description,
            "created_at": self.created_at,
            "branches": self.branches,
            "commits": [asdict(c) for c in self.commits.values()],
            "workspaces": [asdict(w) for w in self.workspaces.values()],
        }

    def head(self, branch: str) -> Commit:
        """The head commit of `branch`; 404 when there is no such branch."""
        commit_id = self.branches.get(branch)
        if commit_id is None:
            raise not_found("Branch does not exist", f"Could not find branch: {branch}")
        return self.commits[commit_id]

    def resolve(self, resource: str) -> tuple[Commit, str]:
        """Split ``REVISION/PATH`` (the branch may hold slashes) into a commit and a path."""
        segments = [s for s in resource.split("/") if s]
        for cut in range(len(segments), 0, -1):
            branch = "/".join(segments[:cut])
            if branch in self.branches:
                return self.commits[self.branches[branch]], "/".join(segments[cut:])
        if segments and segments[0] in self.commits:
            return self.commits[segments[0]], "/".join(segments[1:])
        revision = segments[0] if segments else ""
        raise not_found("Revision not found", f"Could not find branch or commit: {revision}")

    def history(self, start: Commit) -> list[Commit]:
        """`start` and its ancestors, newest first."""
        seen: dict[str, Commit] = {}
        todo = [start]
        while todo:
            commit = todo.pop()
            if commit.id not in seen:
                seen[commit.id] = commit
                todo.extend(self.commits[p] for p in commit.parent_ids if p in self.commits)
        return sorted(seen.values(), key=lambda c: -c.seq)

    def view(self) -> dict[str, Any]:
        """The repository as oxen-server's `RepositoryView` JSON."""
        return {
            "namespace": self.namespace,
            "name": self.name,
            "description": self.description,
            "min_version": "0.19.0",
            "is_empty": not self.commits,
        }


class RepositoryStore:
    """Every repository under `root`, loaded lazily and saved on every change."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self._repos: dict[tuple[str, str], Repo] = {}

    # -- storage -----------------------------------------------------------------------------

    def _dir(self, namespace: str, name: str) -> Path:
        """Where the repository's files live (names are checked before they get here)."""
        return self.root / namespace / name

    def versions(self, namespace: str, name: str) -> Path:
        """The directory of the repository's file versions."""
        return self._dir(namespace, name) / "versions"

    def spool(self, namespace: str, name: str) -> Path:
        """A directory on the same file system as the versions, for uploads in flight."""
        path = self._dir(namespace, name) / "uploads"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def version_path(self, repo: Repo, sha256: str) -> Path:
        """The stored bytes of one file version."""
        return self.versions(repo.namespace, repo.name) / sha256

    def save(self, repo: Repo) -> None:
        """Write `repo` atomically."""
        target = self._dir(repo.namespace, repo.name) / "repo.json"
        tmp = target.with_suffix(".tmp")
        tmp.write_text(json.dumps(repo.to_json()), encoding="utf-8")
        os.replace(tmp, target)

    def get(self, namespace: str, name: str) -> Repo:
        """The repository `namespace/name`; 404 when it does not exist."""
        key = (namespace, name)
        if key not in self._repos:
            path = self._dir(namespace, name) / "repo.json"
            if not _valid_name(namespace) or not _valid_name(name) or not path.exists():
                raise not_found(
                    "Repository not found", f"Repository '{namespace}/{name}' not found"
                )
            self._repos[key] = Repo.from_json(json.loads(path.read_text(encoding="utf-8")))
        return self._repos[key]

    def all(self) -> list[Repo]:
        """Every repository on disk."""
        found = []
        for meta in sorted(self.root.glob("*/*/repo.json")):
            found.append(self.get(meta.parent.parent.name, meta.parent.name))
        return found

    def clear(self) -> None:
        """Forget every repository (and delete their files)."""
        self._repos.clear()
        for child in self.root.iterdir():
            shutil.rmtree(child, ignore_errors=True)

    # -- repositories and branches -------------------------------------------------------------

    def create(self, namespace: str, name: str, description: str = "") -> Repo:
        """A new, empty repository; 409 when it exists, 400 for a bad name."""
        if not _valid_name(namespace) or not _valid_name(name):
            raise bad_request(f"Invalid repository name: '{namespace}/{name}'")
        try:
            self.get(namespace, name)
        except RepoProblem:
            pass
        else:
            raise RepoProblem(
                409,
                "resource_already_exists",
                "Repository already exists",
                f"Repository '{namespace}/{name}' already exists",
            )
        repo = Repo(namespace, name, description)
        self.versions(namespace, name).mkdir(parents=True, exist_ok=True)
        self._repos[(namespace, name)] = repo
        self.save(repo)
        return repo

    def create_branch(self, repo: Repo, new_name: str, from_name: str) -> str:
        """Branch `new_name` at the head of `from_name`; returns its commit id."""
        if not new_name or new_name.startswith("/") or ".." in new_name:
            raise bad_request(f"Invalid branch name: {new_name!r}")
        head = repo.head(from_name)
        if new_name in repo.branches:
            raise RepoProblem(
                409,
                "resource_already_exists",
                "Branch already exists",
                f"Branch already exists: {new_name}",
            )
        repo.branches[new_name] = head.id
        self.save(repo)
        return head.id

    def _commit(
        self,
        repo: Repo,
        parents: list[str],
        message: str,
        user: tuple[str, str],
        tree: dict[str, dict[str, Any]],
    ) -> Commit:
        """Record a new commit (the caller moves the branch)."""
        seq = max((c.seq for c in repo.commits.values()), default=0) + 1
        stamp = _now()
        seed = json.dumps([parents, message, user, stamp, uuid.uuid4().hex, sorted(tree)])
        commit_id = hashlib.sha256(seed.encode()).hexdigest()[:32]
        commit = Commit(commit_id, parents, message, user[0], user[1], stamp, seq, tree)
        repo.commits[commit_id] = commit
        return commit

    # -- workspaces ------------------------------------------------------------------------------

    def open_workspace(
        self, repo: Repo, workspace_id: str, branch: str, name: str | None
    ) -> tuple[Workspace, bool]:
        """The workspace with this id or name, else a new one on `branch`'s head (and whether
        it was created). An empty repository gets its initial commit on `branch` first."""
        for workspace in repo.workspaces.values():
            if workspace.id == workspace_id or (name is not None and workspace.name == name):
                return workspace, False
        if branch not in repo.branches:
            if repo.commits:
                raise bad_request(
                    f"Branch not found: {branch}. For non-empty repositories, create the "
                    "branch first."
                )
            initial = self._commit(repo, [], INITIAL_MESSAGE, INITIAL_AUTHOR, {})
            repo.branches[branch] = initial.id
        workspace = Workspace(workspace_id, name, branch, repo.branches[branch])
        repo.workspaces[workspace_id] = workspace
        self.save(repo)
        return workspace, True

    @staticmethod
    def workspace(repo: Repo, workspace_id: str) -> Workspace:
        """The workspace `workspace_id` of `repo`; 404 when there is none."""
        for workspace in repo.workspaces.values():
            if workspace_id in (workspace.id, workspace.name):
                return workspace
        raise not_found("Workspace does not exist", f"Workspace not found: {workspace_id}")

    def delete_workspace(self, repo: Repo, workspace: Workspace) -> None:
        """Drop `workspace` and what it staged."""
        repo.workspaces.pop(workspace.id, None)
        self.save(repo)

    def stage_version(
        self, repo: Repo, workspace: Workspace, path: str, spooled: Path, sha256: str, size: int
    ) -> None:
        """Move an uploaded file into the version store and stage it at `path`."""
        target = self.version_path(repo, sha256)
        if target.exists():
            spooled.unlink(missing_ok=True)
        else:
            os.replace(spooled, target)
        workspace.staged[path] = {"hash": sha256, "size": size}

    def unstage(self, repo: Repo, workspace: Workspace, paths: list[str]) -> list[str]:
        """Drop staged changes at `paths`; returns the paths that had none."""
        missing = [p for p in paths if workspace.staged.pop(p, "absent") == "absent"]
        self.save(repo)
        return missing

    def stage_removal(self, repo: Repo, workspace: Workspace, path: str) -> None:
        """Unstage `path` if it was added, else stage its removal; 404 if it is nowhere."""
        if path in workspace.staged:
            del workspace.staged[path]
        elif path in repo.commits[workspace.commit_id].tree:
            workspace.staged[path] = None
        else:
            raise not_found("Resource not found", f"Could not find path: {path}")
        self.save(repo)

    def commit_workspace(
        self, repo: Repo, workspace: Workspace, branch: str, message: str, user: tuple[str, str]
    ) -> Commit:
        """Commit what `workspace` staged onto the current head of `branch` (see module doc)."""
        head = repo.head(branch)
        base = repo.commits[workspace.commit_id]
        if not workspace.staged:
            raise RepoProblem(422, "nothing_to_commit", "Nothing to commit", "No changes to commit")
        if head.id != base.id:
            conflicts = [
                path
                for path in workspace.staged
                if path in head.tree and path in base.tree and head.tree[path] != base.tree[path]
            ]
            if conflicts:
                raise RepoProblem(
                    404,
                    "conflict",
                    "Workspace is behind",
                    f"This workspace '{workspace.id}' is behind on branch '{branch}' commit "
                    f"{base.id} < {head.id}",
                )
        tree = dict(head.tree)
        for path, version in workspace.staged.items():
            if version is None:
                tree.pop(path, None)
            else:
                tree[path] = version
        commit = self._commit(repo, [head.id], message, user, tree)
        repo.branches[branch] = commit.id
        if workspace.name is None:
            repo.workspaces.pop(workspace.id, None)  # unnamed workspaces end with their commit
        else:
            workspace.commit_id, workspace.staged = commit.id, {}
        self.save(repo)
        return commit

    # -- reading -----------------------------------------------------------------------------------

    def list_dir(self, commit: Commit, directory: str) -> list[dict[str, Any]]:
        """The entries directly under `directory` at `commit`; 404 when it holds nothing."""
        prefix = f"{directory}/" if directory else ""
        files: list[dict[str, Any]] = []
        dirs: dict[str, int] = {}
        for path, version in commit.tree.items():
            if not path.startswith(prefix):
                continue
            head, sep, _ = path[len(prefix) :].partition("/")
            if sep:
                dirs[head] = dirs.get(head, 0) + int(version["size"])
            else:
                files.append(entry_view(path, version))
        if directory and not files and not dirs:
            raise not_found("Path does not exist", f"Could not find path: {directory}")
        folders = [
            {
                "filename": name,
                "path": f"{prefix}{name}",
                "is_dir": True,
                "size": size,
                "hash": None,
                "mime_type": "inode/directory",
                "data_type": "dir",
            }
            for name, size in sorted(dirs.items())
        ]
        return folders + sorted(files, key=lambda e: e["filename"])

    def snapshot(self) -> list[dict[str, Any]]:
        """Every repository's branches, commits (oldest first) and workspaces, for tests."""
        out = []
        for repo in self.all():
            commits = sorted(repo.commits.values(), key=lambda c: c.seq)
            out.append(
                {
                    **repo.view(),
                    "branches": dict(repo.branches),
                    "commits": [
                        {**c.view(), "files": {p: v["hash"] for p, v in c.tree.items()}}
                        for c in commits
                    ],
                    "workspaces": [asdict(w) for w in repo.workspaces.values()],
                }
            )
        return out


def entry_view(path: str, version: dict[str, Any]) -> dict[str, Any]:
    """One file as a directory-listing entry."""
    mime = mimetypes.guess_type(path)[0] or "application/octet-stream"
    return {
        "filename": PurePosixPath(path).name,
        "path": path,
        "is_dir": False,
        "size": version["size"],
        "hash": version["hash"],
        "mime_type": mime,
        "data_type": _data_type(path, mime),
    }


def _data_type(path: str, mime: str) -> str:
    """Oxen's coarse data type of a file."""
    if path.endswith((".csv", ".tsv", ".jsonl", ".ndjson", ".parquet", ".arrow")):
        return "tabular"
    kind = mime.split("/", 1)[0]
    return kind if kind in ("image", "video", "audio", "text") else "binary"


def _valid_name(name: str) -> bool:
    """A namespace or repository name: letters, digits, ``-``, ``_`` and ``.``, not dots only."""
    return bool(name) and name.strip(".") != "" and all(c.isalnum() or c in "-_." for c in name)
