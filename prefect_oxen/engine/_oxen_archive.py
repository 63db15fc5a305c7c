"""Archiving into an Oxen repository (``oxen://NS/REPO[@BRANCH][/PREFIX]``): one commit per run.

Each video is staged as it is delivered, with its JSON manifest, in ONE workspace of the run;
when the run ends (success, failure or cancellation) `oxen_archive_session` merges this run's
rows into the dataset table at the branch head (`PREFIX/dataset.jsonl`) and commits everything
once. A branch that moved meanwhile is merged by the server; when it changed the table (a
conflict), the table is re-read from the new head, the run's files are staged again in a fresh
workspace on that head and the commit is retried, so no row is ever lost.

`OxenArchive` implements the synchronous `ArchiveTarget` protocol (tasks call it from worker
threads), so its async repository client lives on a private event loop thread; the credentials
block's key and base URL reach the API through that loop's shared client and session.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from prefect_oxen.blocks import OxenCredentials
from prefect_oxen.client import (
    APIError,
    AsyncRepository,
    BranchMoved,
    BranchNotFound,
    Commit,
    NotFound,
    OxenRepoUri,
    RepositoryNotFound,
    Workspace,
)
from prefect_oxen.engine._clients import close_shared_clients, shared_async_client
from prefect_oxen.engine._oxen_table import dataset_row, merge_rows, parse_table, render_table
from prefect_oxen.storage import (
    ArchiveConflict,
    ArchiveManifest,
    ArchiveRecord,
    ArchiveUnavailable,
    manifest_key,
    sha256_file,
)

__all__ = [
    "TABLE_FILE",
    "OxenArchive",
    "OxenArchiveNotOpen",
    "oxen_archive_for",
    "oxen_archive_session",
    "oxen_archive_uri",
]

T = TypeVar("T")
logger = logging.getLogger(__name__)

#: The dataset table's file name, under the archive's prefix.
TABLE_FILE = "dataset.jsonl"
#: Who the commits are by (the API key's user is who pushes them).
COMMIT_AUTHOR = ("prefect-oxen", "prefect-oxen@users.noreply.oxen.ai")
#: Commits tried before giving up on a branch that keeps moving under the run.
MAX_COMMIT_ATTEMPTS = 5


class OxenArchiveNotOpen(RuntimeError):
    """A video was put into an ``oxen://`` archive outside a run that commits it."""


def oxen_archive_uri(destination: Any) -> OxenRepoUri | None:
    """The repository an archive destination names, or None when it is not ``oxen://``.

    Args:
        destination: The archive parameter (a path, a URI, a block).

    Returns:
        The parsed URI, or None.

    Raises:
        InvalidRepoUri: It starts with ``oxen://`` but is not a valid repository URI.
    """
    if not isinstance(destination, (str, os.PathLike)):
        return None
    text = os.fspath(destination)
    return OxenRepoUri.parse(text) if OxenRepoUri.is_oxen_uri(text) else None


class _LoopThread:
    """A private event loop on a daemon thread, so synchronous callers on any thread (and the
    flow's own loop) can await the repository client without sharing a loop with it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="prefect-oxen-repository", daemon=True
        )
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the loop and wait for it (never call from the loop's own thread)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    async def arun(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the loop; the caller's cancellation does not stop it half-way."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return await asyncio.shield(asyncio.wrap_future(future))

    def close(self) -> None:
        """Close the loop's clients, stop it and join its thread."""
        with contextlib.suppress(Exception):
            self.run(close_shared_clients())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self.loop.close()


@dataclass
class _Staged:
    """A video this run staged: its spooled copy (to stage again on a new head), its stored
    manifest and its table row."""

    spool: Path
    manifest: bytes
    row: dict[str, Any]


class OxenArchive:
    """An `ArchiveTarget` that stages videos in one workspace of an Oxen repository.

    Args:
        uri: The repository, branch and prefix.
        credentials: Whose key and base URL reach the repository API.
        spool_dir: Where staged videos are linked until the commit (default: a temp folder).
        flow_run_id: The run, for the table's `flow_run_id` column and the workspace's id.
    """

    def __init__(
        self,
        uri: OxenRepoUri,
        credentials: OxenCredentials,
        *,
        spool_dir: Path | None = None,
        flow_run_id: str | None = None,
    ) -> None:
        self.uri = uri
        self.flow_run_id = flow_run_id
        self._credentials = credentials
        self._loop = _LoopThread()
        self._lock = threading.Lock()
        self._spool = spool_dir or Path(tempfile.mkdtemp(prefix="prefect-oxen-spool-"))
        self._workspace: Workspace | None = None
        self._staged: dict[str, _Staged] = {}
        self._committed: dict[str, dict[str, Any]] | None = None
        self._ready = False  # the repository and branch are known to exist
        self.batches: set[str] = set()
        self.last_commit: Commit | None = None

    def __repr__(self) -> str:
        return f"OxenArchive({str(self.uri)!r})"

    # -- places ------------------------------------------------------------------------------------

    def path_for(self, key: str) -> str:
        """The repository path of the video at `key` (the prefix, then the key)."""
        return self.uri.join(key).path

    @property
    def table_path(self) -> str:
        """The repository path of the dataset table."""
        return self.uri.join(TABLE_FILE).path

    def uri_for(self, key: str) -> str:
        """``oxen://NS/REPO@BRANCH/PREFIX/KEY``: the video's URI (its Prefect asset key)."""
        return str(self.uri.join(key))

    def _repo(self) -> AsyncRepository:
        """The repository handle on the private loop's shared client (call on that loop)."""
        client = shared_async_client(self._credentials)
        return client.repository(self.uri.namespace, self.uri.repo)

    def page_url(self, key: str = "") -> str:
        """The hub's web page of the video at `key` (the archive's folder for "")."""
        path = self.path_for(key) if key else self.uri.path
        return self._loop.run(self._apage_url(path))

    async def _apage_url(self, path: str) -> str:
        """`page_url` on the private loop."""
        return self._repo().page_url(self.uri.branch, path)

    # -- reading the branch ----------------------------------------------------------------------

    async def _read(self, revision: str, path: str) -> bytes | None:
        """A file at a revision, or None when the repository, branch or file is missing."""
        try:
            return await self._repo().read_bytes(revision, path)
        except NotFound:
            return None

    def committed_rows(self) -> dict[str, dict[str, Any]]:
        """The table at the branch head, read once per archive (what earlier runs committed)."""
        if self._committed is None:
            data = self._loop.run(self._read(self.uri.branch, self.table_path))
            self._committed = parse_table(data) if data else {}
        return self._committed

    def exists(self, key: str, sha256: str) -> bool:
        """Whether this run's workspace, else the table's row (else the manifest) at the branch
        head, says a video with this sha256 is at `key`."""
        staged = self._staged.get(key)
        if staged is not None:
            return bool(staged.row["sha256"] == sha256)
        row = self.committed_rows().get(self.path_for(key))
        if row is not None:
            return bool(row.get("sha256") == sha256)
        manifest = self.read_manifest(key)
        return bool(manifest and manifest.get("sha256") == sha256)

    def read_manifest(self, key: str) -> dict[str, Any] | None:
        """The manifest of the video at `key` (staged by this run, else at the branch head)."""
        staged = self._staged.get(key)
        if staged is not None:
            return dict(json.loads(staged.manifest))
        data = self._loop.run(self._read(self.uri.branch, self.path_for(manifest_key(key))))
        try:
            parsed = json.loads(data) if data else None
        except ValueError:
            return None
        return parsed if isinstance(parsed, dict) else None

    # -- writing -----------------------------------------------------------------------------------

    def put(
        self,
        video_path: str | os.PathLike[str],
        key: str,
        manifest: ArchiveManifest,
        *,
        sha256: str | None = None,
        overwrite: bool = False,
    ) -> ArchiveRecord:
        """Stage the video and its manifest in the run's workspace (committed when it ends);
        `OxenArchiveNotOpen` when no run of this process holds the archive open to commit it."""
        source = Path(video_path)
        digest = sha256 or sha256_file(source)
        size = source.stat().st_size
        path = self.path_for(key)
        held = self._staged.get(key) or _Staged(Path(), b"", self.committed_rows().get(path, {}))
        if held.row.get("sha256") == digest:
            return self._record(key, digest, size, uploaded=False)
        if held.row and not overwrite:
            raise ArchiveConflict(
                uri=self.uri_for(key), existing_sha256=held.row.get("sha256"), new_sha256=digest
            )
        if _session_of(self.uri) is not self:
            raise OxenArchiveNotOpen(
                f"{self.uri} is not open for writing in this process: archive to it from a "
                "prefect-oxen flow (its run stages and commits), or inside oxen_archive_session."
            )
        stored = manifest.model_copy(
            update={
                "key": key,
                "video_uri": self.uri_for(key),
                "sha256": digest,
                "size_bytes": size,
            }
        )
        if isinstance(stored.extra.get("batch"), str):
            self.batches.add(stored.extra["batch"])
        staged = _Staged(
            self._spooled(source, key),
            stored.to_json_bytes(),
            dataset_row(path, stored, sha256=digest, flow_run_id=self.flow_run_id),
        )
        workspace = self._open_workspace()
        self._loop.run(self._stage(workspace.id, key, staged))
        with self._lock:
            self._staged[key] = staged
        return self._record(key, digest, size, uploaded=True)

    def _record(self, key: str, sha256: str, size: int, *, uploaded: bool) -> ArchiveRecord:
        """The archive record of the video at `key`."""
        return ArchiveRecord(
            uri=self.uri_for(key),
            manifest_uri=self.uri_for(manifest_key(key)),
            key=key,
            sha256=sha256,
            size_bytes=size,
            uploaded=uploaded,
            view_url=self.page_url(key),
        )

    def _spooled(self, source: Path, key: str) -> Path:
        """A link to (else a copy of) the video, kept until the commit: a conflict stages it
        again on the new head, and the run's work file may be gone by then."""
        target = self._spool / key
        target.parent.mkdir(parents=True, exist_ok=True)
        target.unlink(missing_ok=True)
        try:
            os.link(source, target)
        except OSError:  # another filesystem: copy
            shutil.copyfile(source, target)
        return target

    def _open_workspace(self) -> Workspace:
        """The run's workspace, opened on first use (a run that stages nothing opens none)."""
        with self._lock:
            if self._workspace is None:
                self._workspace = self._loop.run(self._new_workspace())
            return self._workspace

    async def _new_workspace(self) -> Workspace:
        """A fresh workspace on the branch head, with an id naming the run (the repository and
        branch are created first if the run's check left that for now)."""
        if not self._ready:
            await self._prepare(create=True)
        run = self.flow_run_id or "run"
        workspace_id = f"prefect-{run}-{uuid.uuid4().hex[:8]}"
        return await self._repo().create_workspace(self.uri.branch, workspace_id=workspace_id)

    async def _stage(self, workspace_id: str, key: str, staged: _Staged) -> None:
        """Upload the video (streamed from disk) and its manifest into the workspace."""
        repo = self._repo()
        await repo.upload_file(workspace_id, staged.spool, self.path_for(key))
        await repo.upload_bytes(workspace_id, staged.manifest, self.path_for(manifest_key(key)))

    # -- the run's commit --------------------------------------------------------------------------

    @property
    def staged_count(self) -> int:
        """How many videos this run staged."""
        return len(self._staged)

    async def aprepare(self, *, create: bool = True) -> None:
        """Check the repository before anything is paid, and read its table once.

        Args:
            create: Create the repository (and the branch) now if missing; otherwise only check
                the key reaches the API, and create them when the first video is staged.

        Raises:
            ArchiveUnavailable: The repository cannot be reached, read or created with this key.
        """
        try:
            await self._loop.arun(self._prepare(create=create))
        except APIError as exc:
            raise ArchiveUnavailable(
                f"Cannot archive to {self.uri}: {exc}", destination=str(self.uri)
            ) from None

    async def _prepare(self, *, create: bool) -> None:
        """Create what is missing (if asked), then read the committed table."""
        repo = self._repo()
        try:
            await repo.get()
        except RepositoryNotFound:
            if not create:
                self._committed = {}
                return
            await repo.create(description="Videos generated with prefect-oxen", exist_ok=True)
        try:
            await repo.get_branch(self.uri.branch)
        except BranchNotFound:
            if create and (await repo.get()).latest_commit is not None:
                # An empty repository gets the branch with its first workspace instead.
                await repo.create_branch(self.uri.branch, from_branch="main")
        data = await self._read(self.uri.branch, self.table_path)
        self._committed = parse_table(data) if data else {}
        self._ready = self._ready or create

    async def acommit(self, message: Callable[[int], str]) -> Commit | None:
        """Merge the run's rows into the head's table and commit the workspace once.

        Args:
            message: Makes the commit message from the merged table's row count.

        Returns:
            The commit, or None when the run staged nothing (no commit is made).

        Raises:
            BranchMoved: The branch kept changing the table through every attempt.
        """
        if not self._staged:
            return None
        commit = await self._loop.arun(self._commit(message))
        self.last_commit = commit
        return commit

    async def _commit(self, message: Callable[[int], str]) -> Commit:
        """Stage the merged table and commit; on a conflict, start again on the new head."""
        repo = self._repo()
        assert self._workspace is not None
        for attempt in range(1, MAX_COMMIT_ATTEMPTS + 1):
            head = await self._head_id(repo)
            data = await self._read(head or self.uri.branch, self.table_path)
            rows = merge_rows(parse_table(data) if data else {}, self.new_rows())
            await repo.upload_bytes(self._workspace.id, render_table(rows), self.table_path)
            try:
                commit = await repo.commit_workspace(
                    self._workspace,
                    message=message(len(rows)),
                    author=COMMIT_AUTHOR[0],
                    email=COMMIT_AUTHOR[1],
                    branch=self.uri.branch,
                )
            except BranchMoved:
                if attempt == MAX_COMMIT_ATTEMPTS:
                    raise
                logger.info("%s moved and changed the table: staging again on its head.", self.uri)
                await self._restage(repo)
                continue
            await self._keep_rows_committed_meanwhile(repo, commit, head, rows)
            return commit
        raise AssertionError("unreachable")  # pragma: no cover

    async def _head_id(self, repo: AsyncRepository) -> str | None:
        """The branch's head commit id (None before the repository's first commit)."""
        try:
            return (await repo.get_branch(self.uri.branch)).commit_id
        except BranchNotFound:
            return None

    async def _keep_rows_committed_meanwhile(
        self, repo: AsyncRepository, commit: Commit, read_at: str | None, rows: dict[str, Any]
    ) -> None:
        """Add back the rows of a commit that landed between reading the table and committing
        (the server merged over it without a conflict when our workspace had no table yet)."""
        parent = commit.parent_ids[0] if commit.parent_ids else None
        if read_at is None or parent is None or parent == read_at:
            return
        data = await self._read(parent, self.table_path)
        earlier = parse_table(data) if data else {}
        missed = {path: row for path, row in earlier.items() if path not in rows}
        for _ in range(MAX_COMMIT_ATTEMPTS):
            head = await self._head_id(repo)
            current = parse_table(await self._read(head or self.uri.branch, self.table_path) or b"")
            merged = {**missed, **current}
            if len(merged) == len(current):
                return
            workspace = await self._new_workspace()
            await repo.upload_bytes(workspace.id, render_table(merged), self.table_path)
            try:
                await repo.commit_workspace(
                    workspace,
                    message=f"prefect-oxen: keep {len(merged) - len(current)} {TABLE_FILE} "
                    f"row(s) committed while flow run {self.flow_run_id} committed",
                    author=COMMIT_AUTHOR[0],
                    email=COMMIT_AUTHOR[1],
                    branch=self.uri.branch,
                )
                return
            except BranchMoved:
                continue

    def new_rows(self) -> list[dict[str, Any]]:
        """This run's table rows (one per video it staged)."""
        return [staged.row for staged in self._staged.values()]

    async def _restage(self, repo: AsyncRepository) -> None:
        """Stage the run's files again in a fresh workspace on the branch's new head."""
        old = self._workspace
        self._workspace = await self._new_workspace()
        for key, staged in self._staged.items():
            await self._stage(self._workspace.id, key, staged)
        if old is not None:
            with contextlib.suppress(APIError):
                await repo.delete_workspace(old.id)

    async def adiscard(self) -> None:
        """Drop the run's workspace if it was opened and not committed (best effort)."""
        workspace, self._workspace = self._workspace, None
        if workspace is not None and self.last_commit is None:
            with contextlib.suppress(APIError):
                await self._loop.arun(self._repo().delete_workspace(workspace.id))

    def close(self) -> None:
        """Stop the private loop and drop the spooled links."""
        self._loop.close()
        shutil.rmtree(self._spool, ignore_errors=True)


# --- one archive per repository URI and process, held by the runs that write to it -------------

_SESSIONS: dict[str, tuple[OxenArchive, int]] = {}
_SESSIONS_LOCK = threading.Lock()
_READERS: dict[str, OxenArchive] = {}


def _session_of(uri: OxenRepoUri) -> OxenArchive | None:
    """The archive a run of this process holds open for `uri`, if any."""
    with _SESSIONS_LOCK:
        held = _SESSIONS.get(str(uri))
    return held[0] if held else None


def oxen_archive_for(uri: OxenRepoUri, credentials: OxenCredentials | None = None) -> OxenArchive:
    """The archive target for `uri`: the one a run of this process holds open, else a reader.

    Args:
        uri: The repository, branch and prefix.
        credentials: Whose key reaches it (default: OXEN_API_KEY / OXEN_BASE_URL).

    Returns:
        The target (a reader answers `exists` and `read_manifest`; only a run's can `put`).
    """
    session = _session_of(uri)
    if session is not None:
        return session
    with _SESSIONS_LOCK:
        reader = _READERS.get(str(uri))
        if reader is None:
            reader = _READERS[str(uri)] = OxenArchive(uri, credentials or OxenCredentials())
        return reader


def _join(
    uri: OxenRepoUri, credentials: OxenCredentials, **options: Any
) -> tuple[OxenArchive, bool]:
    """Hold the process's archive for `uri` (made now if no run holds it); whether this holder
    is its first."""
    with _SESSIONS_LOCK:
        archive, holders = _SESSIONS.get(str(uri)) or (None, 0)
        if archive is None:
            archive = OxenArchive(uri, credentials, **options)
        _SESSIONS[str(uri)] = (archive, holders + 1)
        return archive, holders == 0


def _leave(uri: OxenRepoUri) -> bool:
    """Let go of the archive for `uri`; whether this was its last holder (who commits)."""
    with _SESSIONS_LOCK:
        archive, holders = _SESSIONS[str(uri)]
        if holders > 1:
            _SESSIONS[str(uri)] = (archive, holders - 1)
            return False
        del _SESSIONS[str(uri)]
        return True


def commit_message(archive: OxenArchive, rows: int, *, run_name: str | None, outcome: str) -> str:
    """The run's commit message: the batch, the flow run and the counts (never a secret).

    Args:
        archive: The archive the run staged into.
        rows: How many rows the committed table holds.
        run_name: The flow run's name.
        outcome: "ended", "failed part-way" (it raised) or "cancelled".

    Returns:
        A one-line summary, then the detail.
    """
    batch = ", ".join(sorted(Path(b).name for b in archive.batches)) or "single videos"
    run = f"{run_name or 'unnamed'} ({archive.flow_run_id or 'no flow run id'})"
    return (
        f"prefect-oxen: {archive.staged_count} video(s) from {batch}\n\n"
        f"Batch: {batch}\nFlow run: {run}, {outcome}\n"
        f"Archived by this run: {archive.staged_count} video(s) with manifests\n"
        f"{TABLE_FILE}: {rows} row(s)"
    )


@contextlib.asynccontextmanager
async def oxen_archive_session(
    destination: Any,
    credentials: OxenCredentials,
    *,
    work_dir: Path | None = None,
    flow_run_id: str | None = None,
    run_name: str | None = None,
    prepare: bool = True,
) -> AsyncIterator[OxenArchive | None]:
    """Hold an ``oxen://`` archive open for a run: checked now, committed once when it ends.

    The last holder in the process commits what every holder staged, on success, failure and
    cancellation alike (a run that fails part-way commits what it archived); nothing staged
    means no commit. Yields None for any other destination.

    Args:
        destination: The run's archive destination.
        credentials: Whose key and base URL reach the repository.
        work_dir: The run's scratch folder (staged videos are linked there until the commit).
        flow_run_id: The run (for the table and the workspace id).
        run_name: The run's name, for the commit message.
        prepare: Create a missing repository now; False for a run that may write nothing (it
            is then created when the first video is staged; the key is checked either way).

    Yields:
        The archive, or None when `destination` is not an Oxen repository.

    Raises:
        ArchiveUnavailable: The repository cannot be reached or created (nothing is paid).
    """
    uri = oxen_archive_uri(destination)
    if uri is None:
        yield None
        return
    spool = work_dir / f"oxen-staged-{uuid.uuid4().hex[:8]}" if work_dir else None
    archive, first = _join(uri, credentials, spool_dir=spool, flow_run_id=flow_run_id)
    outcome = "ended"
    try:
        if first:
            await archive.aprepare(create=prepare)
        yield archive
    except (asyncio.CancelledError, KeyboardInterrupt):
        outcome = "cancelled"
        raise
    except BaseException:
        outcome = "failed part-way"
        raise
    finally:
        if _leave(uri):
            await _finish(archive, run_name=run_name, outcome=outcome)


async def _finish(archive: OxenArchive, *, run_name: str | None, outcome: str) -> None:
    """Commit the run's archive (if it staged anything), then close it."""
    try:
        commit = await archive.acommit(
            functools.partial(commit_message, archive, run_name=run_name, outcome=outcome)
        )
        if commit is not None:
            logger.info(
                "Committed %d video(s) to %s: %s", archive.staged_count, archive.uri, commit.id
            )
    finally:
        await archive.adiscard()
        archive.close()


def state_folder_name(uri: OxenRepoUri) -> str:
    """The folder, under ``$PREFECT_HOME/oxen``, of an Oxen archive's local run state.

    Args:
        uri: The archive.

    Returns:
        A short hash of its normalised URI.
    """
    return hashlib.sha256(str(uri).encode()).hexdigest()[:16]
