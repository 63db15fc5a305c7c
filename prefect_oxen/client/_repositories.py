"""Oxen repositories over HTTP: branches, workspaces, uploads, commits, downloads, history.

`AsyncRepository` is a handle on one repository, made by `AsyncOxenClient.repository`. Every
request leaves through the client's `Session` (the shared throttle, the key on same-origin
requests only, the error mapping and redaction) and every retry is a stamina attempt of the
client's `RetryPolicy`. The routes are those of Oxen's HTTP API (oxen-server): ``/api/repos``,
``.../branches``, ``.../workspaces`` (``PUT`` get-or-create, ``files/{dir}`` multipart upload,
``commit/{branch}``), ``.../file/{revision}/{path}``, ``.../dir/...`` and
``.../commits/history/...``.

Uploads stream each file from disk in chunks (httpx's multipart encoder reads file objects
piecewise and sends a Content-Length from their size), so a video is never held in memory;
downloads stream to a hidden part file that is renamed into place once complete.
"""

from __future__ import annotations

import functools
import hashlib
import mimetypes
import os
import re
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict

from prefect_oxen.client._download import CHUNK, DownloadResult, part_path
from prefect_oxen.client._error_mapping import json_object, transport_error
from prefect_oxen.client._errors import (
    APIError,
    BranchExists,
    BranchMoved,
    BranchNotFound,
    DownloadError,
    InvalidRepoUri,
    NotFound,
    NothingToCommit,
    RateLimited,
    RepositoryExists,
    RepositoryNotFound,
    RepositoryPathNotFound,
    ServerError,
    TransportError,
    WorkspaceNotFound,
)
from prefect_oxen.client._session import Session

__all__ = [
    "AsyncRepository",
    "Branch",
    "Commit",
    "OxenRepoUri",
    "RepoEntry",
    "Repository",
    "Workspace",
]

T = TypeVar("T")

_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
#: The commit ids in oxen-server's "workspace is behind" detail: "... commit <base> < <head>".
_BEHIND = re.compile(r"commit\s+(\S+)\s+<\s+(\S+)")
_REPO_MISSING = re.compile(r"repository '[^']*' not found|^repository not found")
_WORKSPACE_MISSING = re.compile(r"workspace not found|could not find workspace|workspace does not")
_REVISION_MISSING = re.compile(r"could not find branch|branch does not exist|revision not found")
#: Default cap of `read_bytes`: prompt tables, manifests, not videos.
MAX_READ_BYTES = 64 * 1024 * 1024


# --- URIs ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OxenRepoUri:
    """``oxen://NAMESPACE/REPO[@BRANCH][/PATH]``: a repository, a branch and a path in it.

    The branch is the segment after ``@`` up to the next ``/`` (so a branch name holding a slash
    cannot be written in a URI); `path` is repository-relative, without leading or trailing
    slashes ("" for the root).

    Example:
        >>> OxenRepoUri.parse("oxen://me/clips@dev/prompts.jsonl")
        OxenRepoUri(namespace='me', repo='clips', branch='dev', path='prompts.jsonl')
    """

    namespace: str
    repo: str
    branch: str = "main"
    path: str = ""

    @classmethod
    def parse(cls, uri: str) -> OxenRepoUri:
        """Read an ``oxen://`` URI.

        Args:
            uri: The text, e.g. ``oxen://me/synthetic-clips@main/videos``.

        Returns:
            The URI's parts.

        Raises:
            InvalidRepoUri: The text is not such a URI (the reason is in the message).
        """
        scheme, sep, rest = uri.strip().partition("://")
        if not sep or scheme.lower() != "oxen":
            raise InvalidRepoUri(uri, "it must start with oxen://")
        namespace, _, rest = rest.partition("/")
        head, _, path = rest.partition("/")
        repo, at, branch = head.partition("@")
        if not namespace or not repo:
            raise InvalidRepoUri(uri, "it must name NAMESPACE/REPO")
        for label, value in (("namespace", namespace), ("repository", repo)):
            if not _NAME.match(value) or not value.strip("."):
                raise InvalidRepoUri(uri, f"invalid {label} name {value!r}")
        if at and not branch:
            raise InvalidRepoUri(uri, "empty branch after @")
        parts = [p for p in path.split("/") if p]
        if any(p in (".", "..") for p in parts) or "\\" in path:
            raise InvalidRepoUri(uri, "the path may not hold '.', '..' or backslashes")
        return cls(namespace, repo, branch or "main", "/".join(parts))

    @staticmethod
    def is_oxen_uri(text: str) -> bool:
        """Whether `text` looks like an ``oxen://`` URI (valid or not).

        Args:
            text: Any string (a path, an ``s3://`` URI...).

        Returns:
            True when it starts with ``oxen://``.
        """
        return text.strip().lower().startswith("oxen://")

    def join(self, *parts: str) -> OxenRepoUri:
        """This URI with `parts` appended to its path.

        Args:
            *parts: Path segments (may hold slashes).

        Returns:
            A new URI.
        """
        joined = "/".join(p.strip("/") for p in (self.path, *parts) if p.strip("/"))
        return OxenRepoUri(self.namespace, self.repo, self.branch, joined)

    def __str__(self) -> str:
        text = f"oxen://{self.namespace}/{self.repo}@{self.branch}"
        return f"{text}/{self.path}" if self.path else text


# --- models -------------------------------------------------------------------------------------


class Commit(BaseModel):
    """One commit: id, parents, message, author and time."""

    model_config = ConfigDict(extra="allow")

    id: str
    parent_ids: list[str] = []
    message: str = ""
    author: str = ""
    email: str = ""
    timestamp: datetime | None = None


class Repository(BaseModel):
    """A repository as the API describes it."""

    model_config = ConfigDict(extra="allow")

    namespace: str
    name: str
    description: str | None = None
    is_empty: bool | None = None
    latest_commit: Commit | None = None


class Branch(BaseModel):
    """A branch and the id of its head commit."""

    model_config = ConfigDict(extra="allow")

    name: str
    commit_id: str


class Workspace(BaseModel):
    """A workspace: where files are staged before one commit; `commit` is what it started from."""

    model_config = ConfigDict(extra="allow")

    id: str
    name: str | None = None
    commit: Commit
    branch: str = "main"


class RepoEntry(BaseModel):
    """One file or directory of a directory listing."""

    model_config = ConfigDict(extra="allow")

    filename: str
    path: str | None = None
    is_dir: bool = False
    size: int | None = None
    hash: str | None = None
    mime_type: str | None = None
    data_type: str | None = None


# --- the handle ---------------------------------------------------------------------------------


def _q(segment: str) -> str:
    """A path segment (or a slash-separated path) quoted for a URL."""
    return quote(segment.strip("/"), safe="/")


class AsyncRepository:
    """One Oxen repository, through its client's session. Made by `AsyncOxenClient.repository`.

    Args:
        session: The client's send path.
        namespace: The user or organisation that owns the repository.
        name: The repository's name.
    """

    def __init__(self, session: Session, namespace: str, name: str) -> None:
        for value in (namespace, name):
            if not _NAME.match(value):
                raise InvalidRepoUri(f"{namespace}/{name}", f"invalid name {value!r}")
        self._session = session
        self.namespace = namespace
        self.name = name
        self._root = f"/api/repos/{_q(namespace)}/{_q(name)}"

    def __repr__(self) -> str:
        return f"AsyncRepository({self.namespace!r}, {self.name!r})"

    # -- urls ------------------------------------------------------------------------------------

    def file_url(self, revision: str, path: str) -> str:
        """The API URL of a file at a revision (what a download, or a model input, fetches).

        Args:
            revision: A branch name or commit id.
            path: The file's path in the repository.

        Returns:
            ``{base}/api/repos/{ns}/{repo}/file/{revision}/{path}``.
        """
        return self._session.url(f"{self._root}/file/{_q(revision)}/{_q(path)}")

    def page_url(self, revision: str, path: str = "") -> str:
        """The hub's web page of a file or directory (for links in reports).

        Args:
            revision: A branch name or commit id.
            path: The path in the repository ("" for the root).

        Returns:
            ``{base}/{ns}/{repo}/file/{revision}/{path}``.
        """
        page = f"/{_q(self.namespace)}/{_q(self.name)}/file/{_q(revision)}"
        return self._session.url(f"{page}/{_q(path)}" if path.strip("/") else page)

    # -- plumbing --------------------------------------------------------------------------------

    async def _json(self, method: str, path: str, **build: Any) -> dict[str, Any]:
        """One retried API call answered with a JSON object; errors mapped by `_classify`."""
        try:
            response = await self._session.call(method, self._root + path, **build)
        except APIError as exc:
            raise self._classify(exc) from None
        return json_object(response)

    def _classify(self, exc: APIError, *, revision: str = "", path: str = "") -> APIError:
        """The repository-specific error behind a generic one, from the API's detail text."""
        if not isinstance(exc, NotFound):
            return exc
        detail = (exc.detail or "").lower()
        if isinstance(exc.body, dict) and isinstance(exc.body.get("status_description"), str):
            # oxen-server's other error shape puts the human text here.
            detail += " " + exc.body["status_description"].lower()
        where = f"{self.namespace}/{self.name}"
        if _REPO_MISSING.search(detail):
            return RepositoryNotFound(
                f"Repository {where} not found ({exc.detail}).",
                namespace=self.namespace,
                name=self.name,
                **_answer(exc),
            )
        if _WORKSPACE_MISSING.search(detail):
            return WorkspaceNotFound(f"{exc.detail} in {where}.", workspace_id="", **_answer(exc))
        if _REVISION_MISSING.search(detail):
            return BranchNotFound(
                f"No branch or commit {revision!r} in {where} ({exc.detail}).",
                namespace=self.namespace,
                name=self.name,
                branch=revision,
                **_answer(exc),
            )
        if path:
            return RepositoryPathNotFound(
                f"No {path!r} at {revision!r} in {where} ({exc.detail}).",
                revision=revision,
                path=path,
                **_answer(exc),
            )
        return exc

    # -- repository and branches -------------------------------------------------------------

    async def get(self) -> Repository:
        """This repository's description.

        Returns:
            The repository.

        Raises:
            RepositoryNotFound: It does not exist (or the key may not see it).
        """
        body = await self._json("GET", "")
        return Repository.model_validate(body.get("repository"))

    async def create(self, *, description: str = "", exist_ok: bool = False) -> Repository:
        """Create this repository (empty: its first workspace makes the first commit).

        Args:
            description: Shown on the hub.
            exist_ok: Answer the existing repository instead of raising `RepositoryExists`.

        Returns:
            The repository.

        Raises:
            RepositoryExists: It exists and `exist_ok` is false.
        """
        payload = {"namespace": self.namespace, "name": self.name, "description": description}
        try:
            response = await self._session.call("POST", "/api/repos", json=payload)
        except APIError as exc:
            if exc.status_code != 409:
                raise
            if exist_ok:
                return await self.get()
            raise RepositoryExists(
                f"Repository {self.namespace}/{self.name} already exists.",
                namespace=self.namespace,
                name=self.name,
                **_answer(exc),
            ) from None
        return Repository.model_validate(json_object(response).get("repository"))

    async def get_branch(self, branch: str = "main") -> Branch:
        """A branch and its head commit id.

        Args:
            branch: The branch name.

        Returns:
            The branch.

        Raises:
            BranchNotFound: No such branch (an empty repository has none yet).
            RepositoryNotFound: No such repository.
        """
        try:
            body = await self._json("GET", f"/branches/{_q(branch)}")
        except NotFound as exc:
            raise self._branch_missing(exc, branch) from None
        return Branch.model_validate(body.get("branch"))

    def _branch_missing(self, exc: NotFound, branch: str) -> NotFound:
        """`exc` as `BranchNotFound` unless it already says which repository part is missing."""
        if isinstance(exc, (RepositoryNotFound, BranchNotFound)):
            if isinstance(exc, BranchNotFound):
                exc.branch = branch
            return exc
        return BranchNotFound(
            f"No branch {branch!r} in {self.namespace}/{self.name} ({exc.detail}).",
            namespace=self.namespace,
            name=self.name,
            branch=branch,
            **_answer(exc),
        )

    async def list_branches(self) -> list[Branch]:
        """Every branch of the repository.

        Returns:
            The branches.
        """
        body = await self._json("GET", "/branches")
        return [Branch.model_validate(b) for b in body.get("branches") or []]

    async def create_branch(self, branch: str, *, from_branch: str = "main") -> Branch:
        """A new branch at the head of `from_branch`.

        Args:
            branch: The new branch's name.
            from_branch: The branch whose head it starts from.

        Returns:
            The new branch.

        Raises:
            BranchExists: `branch` exists already.
            BranchNotFound: `from_branch` does not exist.
        """
        payload = {"new_name": branch, "from_name": from_branch}
        try:
            body = await self._json("POST", "/branches", json=payload)
        except NotFound as exc:
            raise self._branch_missing(exc, from_branch) from None
        except APIError as exc:
            if exc.status_code != 409:
                raise
            raise BranchExists(
                f"Branch {branch!r} already exists in {self.namespace}/{self.name}.",
                branch=branch,
                **_answer(exc),
            ) from None
        return Branch.model_validate(body.get("branch"))

    # -- workspaces ------------------------------------------------------------------------------

    async def create_workspace(
        self, branch: str = "main", *, name: str | None = None, workspace_id: str | None = None
    ) -> Workspace:
        """Open a workspace on `branch`'s head (or get the one with this name or id).

        A named workspace outlives its commits (it moves to each new commit); an unnamed one
        ends with its commit. On an empty repository the API makes the first commit on
        `branch` first.

        Args:
            branch: The branch to start from.
            name: A name, so a re-run finds the same workspace.
            workspace_id: The id to use (default: a fresh UUID).

        Returns:
            The workspace.

        Raises:
            RequestValidationError: `branch` does not exist in a non-empty repository (400).
            RepositoryNotFound: No such repository.
        """
        payload: dict[str, Any] = {
            "workspace_id": workspace_id or str(uuid.uuid4()),
            "branch_name": branch,
        }
        if name is not None:
            payload["name"] = name
        body = await self._json("PUT", "/workspaces", json=payload)
        return Workspace.model_validate({**body.get("workspace", {}), "branch": branch})

    async def delete_workspace(self, workspace_id: str) -> None:
        """Drop a workspace and everything it staged.

        Args:
            workspace_id: The workspace.

        Raises:
            WorkspaceNotFound: It is gone already.
        """
        await self._workspace_call("DELETE", workspace_id, "")

    async def _workspace_call(
        self, method: str, workspace_id: str, suffix: str, **build: Any
    ) -> dict[str, Any]:
        """A call on one workspace, its 404 read as `WorkspaceNotFound` with the id."""
        try:
            return await self._json(method, f"/workspaces/{_q(workspace_id)}{suffix}", **build)
        except WorkspaceNotFound as exc:
            exc.workspace_id = workspace_id
            raise

    async def upload_file(
        self, workspace_id: str, source: str | os.PathLike[str], dest: str
    ) -> str:
        """Stage a local file at `dest` in a workspace, streamed from disk.

        Args:
            workspace_id: The workspace.
            source: The local file.
            dest: Its path in the repository (``videos/abc.mp4``).

        Returns:
            The staged path.

        Raises:
            WorkspaceNotFound: The workspace is gone.
        """
        directory, filename = _split(dest)
        opener = functools.partial(open, source, "rb")  # each attempt opens; ExitStack closes
        [staged] = await self._upload(workspace_id, directory, [(filename, opener)])
        return staged

    async def upload_bytes(self, workspace_id: str, data: bytes, dest: str) -> str:
        """Stage small in-memory content (a table, a manifest) at `dest` in a workspace.

        Args:
            workspace_id: The workspace.
            data: The file's content.
            dest: Its path in the repository.

        Returns:
            The staged path.
        """
        directory, filename = _split(dest)
        [staged] = await self._upload(workspace_id, directory, [(filename, lambda: data)])
        return staged

    async def upload_files(
        self, workspace_id: str, directory: str, sources: Sequence[str | os.PathLike[str]]
    ) -> list[str]:
        """Stage several local files under one directory in a single request.

        Args:
            workspace_id: The workspace.
            directory: The repository directory ("" for the root).
            sources: Local files; each keeps its file name.

        Returns:
            The staged paths.
        """
        if not sources:
            return []
        items: list[tuple[str, Callable[[], Any]]] = [
            (Path(s).name, functools.partial(open, s, "rb")) for s in sources
        ]
        return await self._upload(workspace_id, directory.strip("/"), items)

    async def _upload(
        self, workspace_id: str, directory: str, items: list[tuple[str, Callable[[], Any]]]
    ) -> list[str]:
        """POST the multipart upload, re-opening the sources on each attempt (safe to repeat:
        staging the same content at the same path again changes nothing)."""
        path = f"{self._root}/workspaces/{_q(workspace_id)}/files/{_q(directory)}"
        url = self._session.url(path)
        try:
            async for attempt in self._session.attempts():
                with attempt, ExitStack() as stack:
                    files = []
                    for filename, source in items:
                        content = source()
                        if hasattr(content, "close"):
                            stack.callback(content.close)
                        media = mimetypes.guess_type(filename)[0] or "application/octet-stream"
                        files.append(("file", (filename, content, media)))
                    request = self._session.http.build_request(
                        "POST",
                        url,
                        files=files,
                        headers=self._session.auth_headers(url),
                        timeout=self._session.timeouts.httpx(),
                    )
                    response = await self._session.send_checked(request)
                    return [str(p) for p in json_object(response).get("paths") or []]
        except WorkspaceNotFound as exc:
            exc.workspace_id = workspace_id
            raise
        except APIError as exc:
            raise _workspace_missing(self._classify(exc), workspace_id) from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def unstage(self, workspace_id: str, paths: Sequence[str]) -> list[str]:
        """Drop staged changes at `paths` (the files stay as the workspace's commit has them).

        Args:
            workspace_id: The workspace.
            paths: Repository paths.

        Returns:
            The paths that had nothing staged.
        """
        url = f"{self._root}/workspaces/{_q(workspace_id)}/staged"
        try:
            response = await self._session.call("DELETE", url, json=list(paths))
        except APIError as exc:
            raise _workspace_missing(self._classify(exc), workspace_id) from None
        return (
            [str(p) for p in json_object(response).get("paths") or []]
            if response.status_code == 206
            else []
        )

    async def commit_workspace(
        self,
        workspace: Workspace | str,
        *,
        message: str,
        author: str,
        email: str,
        branch: str | None = None,
    ) -> Commit:
        """Commit what a workspace staged onto the current head of `branch`.

        The API merges onto a branch that moved since the workspace opened, unless the branch
        changed a file the workspace also staged: then it refuses (`BranchMoved`).

        Args:
            workspace: The workspace (or its id).
            message: The commit message.
            author: The author's name.
            email: The author's email.
            branch: The target branch (default: the workspace's own, else ``main``).

        Returns:
            The new commit.

        Raises:
            BranchMoved: The branch changed a staged file since the workspace opened.
            NothingToCommit: The workspace staged nothing.
            WorkspaceNotFound: The workspace is gone (an unnamed one ends with its commit).
            BranchNotFound: `branch` does not exist.
        """
        workspace_id = workspace if isinstance(workspace, str) else workspace.id
        target = branch or (workspace.branch if isinstance(workspace, Workspace) else "main")
        suffix = f"/commit/{_q(target)}"
        payload = {"message": message, "author": author, "email": email}
        path = f"{self._root}/workspaces/{_q(workspace_id)}{suffix}"
        try:
            # Not repeated once it may have arrived: a second commit attempt would find the
            # workspace gone (or empty) and hide whether the first one landed.
            async for attempt in self._session.attempts(on=_unsent_only):
                with attempt:
                    request = self._session.build("POST", path, json=payload)
                    response = await self._session.send_checked(request)
        except APIError as exc:
            error = self._commit_error(self._classify(exc, revision=target), workspace_id, target)
            raise _workspace_missing(error, workspace_id) from None
        return Commit.model_validate(json_object(response).get("commit"))

    def _commit_error(self, exc: APIError, workspace_id: str, branch: str) -> APIError:
        """A refused commit's typed error: a conflict is `BranchMoved`, whatever its status."""
        # oxen-server answers "workspace is behind" with 404 and error type "conflict".
        if exc.error_type == "conflict" or exc.status_code == 409:
            ids = _BEHIND.search(exc.detail or "")
            return BranchMoved(
                f"Branch {branch!r} of {self.namespace}/{self.name} moved since workspace "
                f"{workspace_id} opened and changed a file it staged; nothing was committed.",
                namespace=self.namespace,
                name=self.name,
                branch=branch,
                workspace_id=workspace_id,
                workspace_commit_id=ids.group(1) if ids else None,
                branch_commit_id=ids.group(2) if ids else None,
                **_answer(exc),
            )
        detail = (exc.detail or "").lower()
        if exc.status_code == 422 and ("nothing" in detail or "no changes" in detail):
            return NothingToCommit(
                f"Workspace {workspace_id} has nothing staged to commit.",
                workspace_id=workspace_id,
                **_answer(exc),
            )
        if isinstance(exc, NotFound) and not isinstance(exc, WorkspaceNotFound):
            return self._branch_missing(exc, branch)
        return exc

    # -- reading -----------------------------------------------------------------------------------

    async def download_file(
        self, revision: str, path: str, destination: str | os.PathLike[str]
    ) -> DownloadResult:
        """Stream a file at a revision to `destination` (atomically, hashed while written).

        Args:
            revision: A branch name or commit id.
            path: The file's path in the repository.
            destination: The local file to write.

        Returns:
            Where the file is, its size and sha256.

        Raises:
            RepositoryPathNotFound: No such file at that revision.
            BranchNotFound: No such branch or commit.
            DownloadError: The body could not be completed in the attempts allowed.
        """
        target = Path(destination)
        target.parent.mkdir(parents=True, exist_ok=True)
        part = part_path(target)
        number = 0
        try:
            async for attempt in self._session.attempts():
                with attempt:
                    number = attempt.num
                    async with self._stream(revision, path) as response:
                        size, sha256 = await _write(response, part)
        except APIError as exc:
            part.unlink(missing_ok=True)
            raise self._classify(exc, revision=revision, path=path) from None
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        os.replace(part, target)
        return DownloadResult(path=target, size_bytes=size, sha256=sha256, attempts=number)

    @asynccontextmanager
    async def _stream(self, revision: str, path: str) -> AsyncIterator[httpx.Response]:
        """The open, successful response of a file download (closed on exit)."""
        request = self._session.build("GET", self.file_url(revision, path))
        response = await self._session.send_checked(request, stream=True)
        try:
            yield response
        except httpx.HTTPError as exc:
            raise transport_error(exc, request, paid=False) from None
        finally:
            await response.aclose()

    async def read_bytes(
        self, revision: str, path: str, *, max_bytes: int = MAX_READ_BYTES
    ) -> bytes:
        """A small file's content at a revision (prompt tables, manifests).

        Args:
            revision: A branch name or commit id.
            path: The file's path in the repository.
            max_bytes: Refuse files larger than this.

        Returns:
            The bytes.

        Raises:
            RepositoryPathNotFound: No such file at that revision.
            DownloadError: The file is larger than `max_bytes`.
        """
        try:
            async for attempt in self._session.attempts():
                with attempt:
                    async with self._stream(revision, path) as response:
                        chunks, total = [], 0
                        async for chunk in response.aiter_bytes(CHUNK):
                            total += len(chunk)
                            if total > max_bytes:
                                too_big = DownloadError(
                                    f"{path} at {revision} is larger than {max_bytes} bytes."
                                )
                                too_big.retryable = False
                                raise too_big
                            chunks.append(chunk)
                        return b"".join(chunks)
        except APIError as exc:
            raise self._classify(exc, revision=revision, path=path) from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def list_dir(self, revision: str = "main", path: str = "") -> list[RepoEntry]:
        """The entries of a directory at a revision (every page).

        Args:
            revision: A branch name or commit id.
            path: The directory ("" for the root).

        Returns:
            Directories first, then files.

        Raises:
            RepositoryPathNotFound: No such directory.
        """
        resource = f"/dir/{_q(revision)}/{_q(path)}".rstrip("/")
        entries: list[RepoEntry] = []
        try:
            async for item in self._pages(resource, "entries"):
                entries.append(RepoEntry.model_validate(item))
        except APIError as exc:
            raise self._classify(exc, revision=revision, path=path or "/") from None
        return entries

    async def commit_log(
        self, revision: str = "main", *, path: str = "", limit: int | None = None
    ) -> list[Commit]:
        """The commits reachable from a revision, newest first.

        Args:
            revision: A branch name or commit id.
            path: Only commits that changed this file or directory.
            limit: At most this many commits (None: all).

        Returns:
            The commits.

        Raises:
            BranchNotFound: No such branch or commit (an empty repository has none yet).
        """
        resource = f"/commits/history/{_q(revision)}/{_q(path)}".rstrip("/")
        commits: list[Commit] = []
        try:
            async for item in self._pages(resource, "commits"):
                commits.append(Commit.model_validate(item))
                if limit is not None and len(commits) >= limit:
                    break
        except NotFound as exc:
            raise self._branch_missing(exc, revision) from None
        return commits

    async def _pages(self, resource: str, key: str) -> AsyncIterator[Any]:
        """The `key` items of every page of a paginated listing."""
        page = 1
        while True:
            body = await self._json("GET", resource, params={"page": page, "page_size": 100})
            for item in body.get(key) or []:
                yield item
            if page >= int(body.get("total_pages") or 1):
                return
            page += 1


async def _write(response: httpx.Response, part: Path) -> tuple[int, str]:
    """Write a response body to `part`, returning its size and sha256."""
    digest = hashlib.sha256()
    size = 0
    with open(part, "wb") as sink:
        async for chunk in response.aiter_bytes(CHUNK):
            sink.write(chunk)
            digest.update(chunk)
            size += len(chunk)
    expected = response.headers.get("content-length")
    if expected is not None and expected.isdigit() and int(expected) != size:
        raise DownloadError(f"Got {size} of {expected} bytes.")
    return size, digest.hexdigest()


def _split(dest: str) -> tuple[str, str]:
    """(directory, file name) of a repository path; ValueError when it names no file."""
    parts = PurePosixPath(dest.strip("/")).parts
    if not parts or any(p in (".", "..") for p in parts):
        raise ValueError(f"not a file path in a repository: {dest!r}")
    return "/".join(parts[:-1]), parts[-1]


def _unsent_only(exc: Exception) -> bool | float:
    """Retry hook of non-idempotent calls: only what surely never reached the server."""
    if isinstance(exc, RateLimited):
        return exc.retry_after if exc.retry_after is not None else True
    if isinstance(exc, ServerError):
        return exc.status_code == 503
    return isinstance(exc, TransportError) and not exc.sent


def _answer(exc: APIError) -> dict[str, Any]:
    """The API's answer that `exc` carries, as keyword arguments of a more precise error."""
    return {
        "status_code": exc.status_code,
        "error_type": exc.error_type,
        "detail": exc.detail,
        "body": exc.body,
    }


def _workspace_missing(exc: APIError, workspace_id: str) -> APIError:
    """`exc` with the workspace id filled in when it is a `WorkspaceNotFound`."""
    if isinstance(exc, WorkspaceNotFound):
        exc.workspace_id = workspace_id
    return exc
