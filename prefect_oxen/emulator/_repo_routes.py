"""The repository HTTP API (the subset prefect-oxen uses), shaped as oxen-server answers it.

Routes and bodies follow Oxen's HTTP API docs and the oxen-server source (``services/*.rs``,
``controllers/*.rs``, ``view/*.rs``): success bodies carry ``status: "success"`` and a
``status_message`` (``resource_created`` / ``resource_found``) beside the resource; errors carry
``{"error": {"type", "title", "detail"}, "status": "error", "status_message": type}`` plus the
``status_description`` of oxen-server's ``StatusMessageDescription`` errors.
"""

from __future__ import annotations

import json
import math
import mimetypes
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse
from starlette.types import ASGIApp

from prefect_oxen.emulator._engine import Emulator
from prefect_oxen.emulator._multipart import MultipartError, discard, read_multipart
from prefect_oxen.emulator._repositories import (
    Repo,
    RepoProblem,
    bad_request,
    clean_path,
    entry_view,
    not_found,
)


def ok(status_message: str, **body: Any) -> JSONResponse:
    """A success body in oxen-server's `StatusMessage` envelope."""
    return JSONResponse({"status": "success", "status_message": status_message, **body})


def problem_response(problem: RepoProblem) -> JSONResponse:
    """A `RepoProblem` in oxen-server's error shape (both of its readers' fields)."""
    body = {
        "error": {"type": problem.kind, "title": problem.title, "detail": problem.detail},
        "status": "error",
        "status_message": problem.kind,
        "status_description": problem.detail,
    }
    return JSONResponse(body, status_code=problem.status)


async def _json(request: Request) -> Any:
    """The JSON body; 400 when it is not JSON."""
    try:
        return json.loads(await request.body() or b"null")
    except ValueError:
        raise bad_request("Request body is not valid JSON") from None


async def _object(request: Request, *required: str) -> dict[str, Any]:
    """The JSON object body with non-empty string `required` fields; 400 otherwise."""
    body = await _json(request)
    if not isinstance(body, dict):
        raise bad_request("Request body must be a JSON object")
    for key in required:
        if not isinstance(body.get(key), str) or not body[key]:
            raise bad_request(f"missing field `{key}`")
    return body


def _repo(request: Request, emu: Emulator) -> Repo:
    """The repository the path names; 404 when it does not exist."""
    params = request.path_params
    return emu.repositories.get(params["namespace"], params["repo_name"])


def _workspace_view(emu: Emulator, repo: Repo, workspace_id: str) -> dict[str, Any]:
    """oxen-server's `WorkspaceResponse`: id, name and the commit it is based on."""
    workspace = emu.repositories.workspace(repo, workspace_id)
    commit = repo.commits[workspace.commit_id].view()
    commit.pop("parent_ids")
    return {"id": workspace.id, "name": workspace.name, "commit": commit}


# -- repositories and branches -------------------------------------------------------------------


async def create_repository(request: Request, emu: Emulator) -> ASGIApp:
    """POST /api/repos: a new empty repository (409 when it exists)."""
    body = await _object(request, "namespace", "name")
    description = body.get("description") if isinstance(body.get("description"), str) else ""
    repo = emu.repositories.create(body["namespace"], body["name"], description or "")
    view = {
        "namespace": repo.namespace,
        "name": repo.name,
        "latest_commit": None,
        "min_version": "0.19.0",
    }
    return ok("resource_created", repository=view, metadata_entries=None)


async def get_repository(request: Request, emu: Emulator) -> ASGIApp:
    """GET /api/repos/{namespace}/{repo_name}."""
    return ok("resource_found", repository=_repo(request, emu).view())


async def list_branches(request: Request, emu: Emulator) -> ASGIApp:
    """GET .../branches."""
    repo = _repo(request, emu)
    branches = [{"name": n, "commit_id": c} for n, c in sorted(repo.branches.items())]
    return ok("resource_found", branches=branches)


async def create_branch(request: Request, emu: Emulator) -> ASGIApp:
    """POST .../branches `{new_name, from_name}`: a branch at another branch's head."""
    repo = _repo(request, emu)
    body = await _object(request, "new_name", "from_name")
    commit_id = emu.repositories.create_branch(repo, body["new_name"], body["from_name"])
    return ok("resource_created", branch={"name": body["new_name"], "commit_id": commit_id})


async def get_branch(request: Request, emu: Emulator) -> ASGIApp:
    """GET .../branches/{branch_name}: the branch and its head commit id."""
    repo = _repo(request, emu)
    name = request.path_params["branch_name"]
    head = repo.head(name)
    return ok("resource_found", branch={"name": name, "commit_id": head.id})


# -- workspaces ----------------------------------------------------------------------------------


async def open_workspace(request: Request, emu: Emulator) -> ASGIApp:
    """PUT|POST .../workspaces `{workspace_id, branch_name, name?}`: get or create."""
    repo = _repo(request, emu)
    body = await _object(request, "workspace_id", "branch_name")
    name = body.get("name") if isinstance(body.get("name"), str) else None
    workspace, created = emu.repositories.open_workspace(
        repo, body["workspace_id"], body["branch_name"], name
    )
    status = "resource_created" if created else "resource_found"
    return ok(status, workspace=_workspace_view(emu, repo, workspace.id))


async def get_workspace(request: Request, emu: Emulator) -> ASGIApp:
    """GET .../workspaces/{workspace_id}."""
    repo = _repo(request, emu)
    view = _workspace_view(emu, repo, request.path_params["workspace_id"])
    return ok("resource_found", workspace=view)


async def delete_workspace(request: Request, emu: Emulator) -> ASGIApp:
    """DELETE .../workspaces/{workspace_id}: drop it and what it staged."""
    repo = _repo(request, emu)
    view = _workspace_view(emu, repo, request.path_params["workspace_id"])
    emu.repositories.delete_workspace(repo, emu.repositories.workspace(repo, view["id"]))
    return ok("resource_deleted", workspace=view)


async def add_files(request: Request, emu: Emulator) -> ASGIApp:
    """POST .../workspaces/{id}/files/{directory}: stage each multipart file part there."""
    repo = _repo(request, emu)
    workspace = emu.repositories.workspace(repo, request.path_params["workspace_id"])
    directory = clean_path(request.path_params.get("directory", ""), allow_root=True)
    spool = emu.repositories.spool(repo.namespace, repo.name)
    try:
        parts = await read_multipart(
            request.stream(), request.headers.get("content-type", ""), spool
        )
    except MultipartError as exc:
        raise bad_request(str(exc)) from None
    staged = []
    try:
        for part in parts:
            if part.path is None or not part.filename:
                continue
            # Like oxen-server, only the base name of the part's filename is kept.
            filename = clean_path(part.filename.replace("\\", "/").rsplit("/", 1)[-1])
            path = f"{directory}/{filename}" if directory else filename
            emu.repositories.stage_version(repo, workspace, path, part.path, part.sha256, part.size)
            staged.append(path)
    finally:
        discard(parts)
    if not staged:
        raise bad_request("No file parts in the upload")
    emu.repositories.save(repo)
    return ok("resource_created", paths=staged)


async def list_changes(request: Request, emu: Emulator) -> ASGIApp:
    """GET .../workspaces/{id}/changes: what the workspace staged (a reduced status view)."""
    repo = _repo(request, emu)
    workspace = emu.repositories.workspace(repo, request.path_params["workspace_id"])
    added, removed = [], []
    for path, version in sorted(workspace.staged.items()):
        if version is None:
            removed.append({"filename": path, "status": "removed"})
        else:
            added.append({**entry_view(path, version), "filename": path, "status": "added"})
    return ok(
        "resource_found",
        staged={
            "added_files": {"entries": added, "total_entries": len(added)},
            "removed_files": {"entries": removed, "total_entries": len(removed)},
        },
    )


async def unstage_files(request: Request, emu: Emulator) -> ASGIApp:
    """DELETE .../workspaces/{id}/staged `[paths]`: unstage; 206 lists paths with nothing staged."""
    repo = _repo(request, emu)
    workspace = emu.repositories.workspace(repo, request.path_params["workspace_id"])
    body = await _json(request)
    if not isinstance(body, list) or not all(isinstance(p, str) for p in body):
        raise bad_request("Request body must be a JSON list of paths")
    missing = emu.repositories.unstage(repo, workspace, [clean_path(p) for p in body])
    if missing:
        body_206 = {"status": "error", "status_message": "resource_not_found", "paths": missing}
        return JSONResponse(body_206, status_code=206)
    return ok("resource_deleted")


async def remove_file(request: Request, emu: Emulator) -> ASGIApp:
    """DELETE .../workspaces/{id}/files/{path}: unstage an added file or stage a removal."""
    repo = _repo(request, emu)
    workspace = emu.repositories.workspace(repo, request.path_params["workspace_id"])
    path = clean_path(request.path_params.get("directory", ""))
    emu.repositories.stage_removal(repo, workspace, path)
    return ok("resource_deleted")


async def commit_workspace(request: Request, emu: Emulator) -> ASGIApp:
    """POST .../workspaces/{id}/commit/{branch} (or /merge/): `{message, author, email}`."""
    repo = _repo(request, emu)
    body = await _object(request, "message")
    workspace = emu.repositories.workspace(repo, request.path_params["workspace_id"])
    branch = request.path_params["branch"].strip("/")
    if branch not in repo.branches:
        raise not_found("Branch does not exist", branch)
    user = (str(body.get("author") or ""), str(body.get("email") or ""))
    commit = emu.repositories.commit_workspace(repo, workspace, branch, body["message"], user)
    return ok("resource_created", commit=commit.view())


# -- reading -------------------------------------------------------------------------------------


async def download_file(request: Request, emu: Emulator) -> ASGIApp:
    """GET .../file/{revision}/{path}: the file's bytes at that branch or commit."""
    repo = _repo(request, emu)
    commit, path = repo.resolve(request.path_params["resource"])
    version = commit.tree.get(path)
    if version is None:
        raise not_found("Path does not exist", f"Could not find path: {path}")
    media = mimetypes.guess_type(path)[0] or "application/octet-stream"
    return FileResponse(
        emu.repositories.version_path(repo, version["hash"]),
        media_type=media,
        headers={"oxen-revision-id": commit.id, "etag": f'"{version["hash"]}"'},
    )


def _page(request: Request, total: int) -> tuple[int, int, int]:
    """(page, page_size, total_pages) from the query (defaults 1 and 100)."""
    try:
        page = max(1, int(request.query_params.get("page", "1")))
        size = max(1, min(1000, int(request.query_params.get("page_size", "100"))))
    except ValueError:
        raise bad_request("page and page_size must be integers") from None
    return page, size, max(1, math.ceil(total / size))


async def list_dir(request: Request, emu: Emulator) -> ASGIApp:
    """GET .../dir/{revision}/{path}: one directory's entries, paginated."""
    repo = _repo(request, emu)
    commit, path = repo.resolve(request.path_params["resource"])
    entries = emu.repositories.list_dir(commit, path)
    page, size, pages = _page(request, len(entries))
    return ok(
        "resource_found",
        entries=entries[(page - 1) * size : page * size],
        resource={"path": path, "version": commit.id},
        page_number=page,
        page_size=size,
        total_pages=pages,
        total_entries=len(entries),
    )


async def commit_history(request: Request, emu: Emulator) -> ASGIApp:
    """GET .../commits/history/{revision}[/{path}]: commits newest first, paginated; with a
    path, only those that changed it."""
    repo = _repo(request, emu)
    commit, path = repo.resolve(request.path_params["resource"])
    commits = repo.history(commit)
    if path:
        commits = [c for c in commits if _touches(repo, c, path)]
    page, size, pages = _page(request, len(commits))
    return ok(
        "resource_found",
        commits=[c.view() for c in commits[(page - 1) * size : page * size]],
        page_number=page,
        page_size=size,
        total_pages=pages,
        total_entries=len(commits),
    )


def _touches(repo: Repo, commit: Any, path: str) -> bool:
    """Whether `commit` changed the file at `path` (or under the directory `path`)."""
    parent = repo.commits.get(commit.parent_ids[0]) if commit.parent_ids else None

    def under(tree: dict[str, Any]) -> dict[str, Any]:
        """The part of `tree` at or below `path`."""
        return {p: v for p, v in tree.items() if p == path or p.startswith(f"{path}/")}

    return under(commit.tree) != (under(parent.tree) if parent else {})


async def get_commit(request: Request, emu: Emulator) -> ASGIApp:
    """GET .../commits/{commit_id}."""
    repo = _repo(request, emu)
    commit = repo.commits.get(request.path_params["commit_id"])
    if commit is None:
        raise not_found("Revision not found", request.path_params["commit_id"])
    return ok("resource_found", commit=commit.view())


# -- emulator control ------------------------------------------------------------------------------


async def repository_log(request: Request, emu: Emulator) -> ASGIApp:
    """GET /_emulator/repositories: every repository's branches, commits and workspaces."""
    snapshot = emu.repositories.snapshot()
    return JSONResponse({"count": len(snapshot), "repositories": snapshot})


_REPO = "/api/repos/{namespace}/{repo_name}"
_WORKSPACE = _REPO + "/workspaces/{workspace_id}"

#: (method, template, handler) of every repository route, in matching order.
REPOSITORY_ROUTES: tuple[tuple[str, str, Any], ...] = (
    ("POST", "/api/repos", create_repository),
    ("GET", _REPO, get_repository),
    ("GET", _REPO + "/branches", list_branches),
    ("POST", _REPO + "/branches", create_branch),
    ("GET", _REPO + "/branches/{branch_name:path}", get_branch),
    ("PUT", _REPO + "/workspaces", open_workspace),
    ("POST", _REPO + "/workspaces", open_workspace),
    ("GET", _WORKSPACE, get_workspace),
    ("DELETE", _WORKSPACE, delete_workspace),
    ("GET", _WORKSPACE + "/changes", list_changes),
    ("DELETE", _WORKSPACE + "/staged", unstage_files),
    ("POST", _WORKSPACE + "/files/{directory:path}", add_files),
    ("DELETE", _WORKSPACE + "/files/{directory:path}", remove_file),
    ("POST", _WORKSPACE + "/commit/{branch:path}", commit_workspace),
    ("POST", _WORKSPACE + "/merge/{branch:path}", commit_workspace),
    ("GET", _REPO + "/file/{resource:path}", download_file),
    ("GET", _REPO + "/dir/{resource:path}", list_dir),
    ("GET", _REPO + "/commits/history/{resource:path}", commit_history),
    ("GET", _REPO + "/commits/{commit_id}", get_commit),
)
