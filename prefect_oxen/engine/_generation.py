"""Generating a video once, whatever crashes, retries or re-runs happen around it.

The generation id is journaled before anything waits on it, so a retry, a crash or a new flow
run reattaches to the paid generation instead of paying again.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

from prefect import get_run_logger
from prefect.context import TaskRunContext
from prefect.logging.loggers import LoggingAdapter

from prefect_oxen.blocks import OxenCredentials
from prefect_oxen.client import (
    AsyncOxenClient,
    DeadlineExceeded,
    GenerationCancelled,
    GenerationError,
    GenerationFailed,
    GenerationNotFound,
    GenerationStatus,
    VideoRequest,
)
from prefect_oxen.engine._admission import current_pacing
from prefect_oxen.engine._clients import shared_async_client
from prefect_oxen.engine._journal import JournalEntry, default_journal_path
from prefect_oxen.engine._records import GenerationResult, ValidatedRequest, summary_level
from prefect_oxen.engine._references import sendable_request
from prefect_oxen.engine._run_state import RunState, run_state_at
from prefect_oxen.engine._validation import check_request
from prefect_oxen.storage import sanitize_key_component

__all__ = [
    "FlowRunIdentity",
    "GenerationMode",
    "current_flow_run",
    "generate_result",
    "generation_cache_key",
]

GenerationMode = Literal["auto", "sync", "queue"]


def _as_validated_inputs(parameters: dict[str, Any]) -> tuple[str, str]:
    """The item identity and the API scope a generate call is billed on."""
    request = parameters["request"]
    key = parameters.get("key")
    if isinstance(request, ValidatedRequest):
        fingerprint, key = request.fingerprint, key or request.key
    else:
        fingerprint = (
            request if isinstance(request, VideoRequest) else VideoRequest.model_validate(request)
        ).fingerprint()
    credentials: OxenCredentials = parameters["credentials"]
    scope = f"{credentials.base_url}|{credentials.target_namespace or ''}"
    return f"{key or ''}:{fingerprint}", scope


# Part of every cache key: bumped whenever the cached record's class moves or changes shape, so a
# result stored by an older release is never read back (unpickling it would fail the task); the
# miss costs nothing, because the journal reattaches to the generation that was already paid for.
# v2: the records moved from prefect_oxen.tasks.results to prefect_oxen.engine.
_RECORD_FORMAT = "v2"


def generation_cache_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    """Cache key over the validated request, the item key and the API it is billed on.

    The credentials block is left out on purpose (its secret must not shape a stored key, and a
    rotated key must not regenerate anything).

    Args:
        context: The task run's context (unused: the key depends on the parameters only).
        parameters: The generate task's parameters (request, credentials, key).

    Returns:
        ``oxen-generate-``, the record format and a sha256 over item identity and API scope.
    """
    identity, scope = _as_validated_inputs(parameters)
    digest = hashlib.sha256(f"{identity}|{scope}".encode()).hexdigest()
    return f"oxen-generate-{_RECORD_FORMAT}-{digest}"


def _choose_mode(mode: GenerationMode, request: VideoRequest) -> Literal["sync", "queue"]:
    """The endpoint for `mode`: "auto" takes the queue unless b64_json is asked for."""
    if mode != "auto":
        return mode
    # The queue is resumable (generation ids) and cheap to wait on; only an inline (b64_json)
    # answer needs the synchronous endpoint.
    return "sync" if request.response_format == "b64_json" else "queue"


def _staging_path(staging_dir: str | None, validated: ValidatedRequest) -> Path:
    """Where a synchronous result of `validated` is written."""
    from prefect.settings import PREFECT_HOME

    root = Path(staging_dir) if staging_dir else Path(PREFECT_HOME.value()) / "oxen" / "staging"
    stem = sanitize_key_component(validated.key) if validated.key else "video"
    return root / f"{stem}-{validated.fingerprint[:16]}.mp4"


class FlowRunIdentity(NamedTuple):
    """The id and name of a flow run (None for each outside one)."""

    id: str | None
    name: str | None


def current_flow_run() -> FlowRunIdentity:
    """The id and name of the flow run this code runs in (None for each outside a run)."""
    from prefect.runtime import flow_run

    try:
        run_id = flow_run.id
    except Exception:  # outside a flow run
        return _NO_RUN
    if not run_id:
        return _NO_RUN
    try:
        # Outside the run's own process (a hook, PREFECT__FLOW_RUN_ID set) the name is read from
        # the API, which may not know the run: the id alone still identifies it.
        name = flow_run.name
    except Exception:
        name = None
    return FlowRunIdentity(str(run_id), str(name) if name else None)


_NO_RUN = FlowRunIdentity(None, None)


async def generate_result(
    request: ValidatedRequest | VideoRequest | dict[str, Any],
    credentials: OxenCredentials,
    mode: GenerationMode = "auto",
    key: str | None = None,
    journal_path: str | None = None,
    staging_dir: str | None = None,
    timeout: float = 3600.0,
    start_timeout: float | None = None,
    cancel_on_timeout: bool = False,
) -> GenerationResult:
    """Generate one video and return where it is (generation id and URL, or a staged file).

    The function of the `generate_video` task (and the first step of `produce_video`). Safe to
    retry and re-run: the generation id is journaled before anything waits on it, so a retry, a
    crash or a new flow run reattaches to the paid generation instead of paying again, and the
    task caches a completed result under a key over the validated request. `mode` is "queue"
    (enqueue, then wait by events with polling as a net), "sync" (the blocking endpoint; needed
    for b64_json) or "auto" (queue unless b64_json is asked for).

    Example:
        ```python
        from prefect import flow
        from prefect_oxen import OxenCredentials
        from prefect_oxen.tasks import generate_video, persist_video


        @flow
        async def one_video():
            creds = OxenCredentials.load("BLOCK_NAME")
            request = {
                "model": "kling-video-v2-6-pro-text-to-video",
                "prompt": "a fox",
                "duration": 5,
            }
            result = await generate_video(request, creds, key="fox")
            return await persist_video(result, creds, "videos/")
        ```

    Args:
        request: The request, validated or not (then it is checked first).
        credentials: The credentials to pay with.
        mode: "queue", "sync" or "auto".
        key: The item's id (overrides the validated request's).
        journal_path: Where the run state lives: a journal file, or an S3 archive's
            ``s3://bucket/prefix/.oxen-state``; empty for ``$PREFECT_HOME/oxen/journal.jsonl``.
        staging_dir: Where synchronous results are written; empty for under PREFECT_HOME.
        timeout: Seconds the generation may run, counted from when the API starts it.
        start_timeout: Seconds it may wait in the API's queue before starting; empty for no bound.
        cancel_on_timeout: Cancel the generation (unbilled) when `timeout` passes.

    Returns:
        Where the video is, with timings and whether an earlier generation was reattached.

    Raises:
        GenerationFailed: The API reported the generation failed (not billed; retried).
        GenerationCancelled: It was cancelled.
        DeadlineExceeded: It did not finish in time.
        GenerationError: A journaled, paid generation is unknown to the API (not paid again).
    """
    logger = get_run_logger()
    validated = (
        request
        if isinstance(request, ValidatedRequest)
        else await check_request(request, credentials, key=key)
    )
    if key and validated.key != key:
        validated = validated.model_copy(update={"key": key})
    label = validated.key or validated.fingerprint[:12]
    client = shared_async_client(credentials)
    journal = run_state_at(journal_path or default_journal_path())
    chosen = _choose_mode(mode, validated.request)
    lifetime = timeout + (start_timeout or 0)
    run = _Generation(client, journal, validated, chosen, logger, label, staging_dir, lifetime)

    previous = await journal.alookup(validated.identity)
    result = None
    if previous is not None:
        result = await run.reattach(previous, timeout=timeout, start_timeout=start_timeout)
    if result is None:
        result = await (
            run.synchronous()
            if chosen == "sync"
            else run.queued(
                timeout=timeout, start_timeout=start_timeout, cancel_on_timeout=cancel_on_timeout
            )
        )
    logger.log(
        summary_level(),
        "Generated %s (%s%s).",
        result.label,
        f"generation {result.generation_id}" if result.generation_id else "synchronous",
        ", reattached: no new charge"
        if result.reattached
        else f", {result.wall_seconds or 0:.1f} s",
    )
    return result


@dataclass
class _Generation:
    """The steps of one generate call, sharing their context."""

    client: AsyncOxenClient
    journal: RunState
    validated: ValidatedRequest
    mode: Literal["sync", "queue"]
    logger: logging.Logger | LoggingAdapter
    label: str
    staging_dir: str | None
    #: Seconds a presigned reference must stay valid (the generation's whole allowance).
    lifetime: float
    run_id: str | None = field(default_factory=lambda: current_flow_run().id)

    async def _record(
        self, state: str, *, mode: str | None = None, ids: list[str] | None = None, **detail: Any
    ) -> None:
        """Journal this generation's new state (durably, before anything waits on it)."""
        await self.journal.arecord(
            JournalEntry(
                identity=self.validated.identity,
                state=state,
                mode=mode or self.mode,
                model=self.validated.request.model,
                generation_ids=ids or [],
                detail={"flow_run_id": self.run_id, "key": self.validated.key, **detail},
            )
        )

    async def _sendable(self, lifetime: float) -> VideoRequest:
        """The request as sent: ``s3://`` / ``oxen://`` references made fetchable URLs (the
        validated request, its fingerprint and the journal keep the originals)."""
        return await sendable_request(self.validated.request, self.client, lifetime=lifetime)

    def _result(self, **fields: Any) -> GenerationResult:
        """The result of this generation, with `fields` filled in."""
        return GenerationResult(
            key=self.validated.key,
            fingerprint=self.validated.fingerprint,
            model=self.validated.request.model,
            request=self.validated.request.to_payload(),
            cost_usd=self.validated.estimated_cost_usd,
            **fields,
        )

    # --- reattaching to earlier paid work ------------------------------------------------------

    async def reattach(
        self, previous: JournalEntry, *, timeout: float, start_timeout: float | None
    ) -> GenerationResult | None:
        """Reuse an earlier paid generation of this item, if the journal and the API have one."""
        if previous.mode == "sync":
            return self._reuse_staged(previous)
        ids = await self._journaled_ids(previous)
        if not ids:
            return None
        return await self._rejoin(ids[0], previous, timeout=timeout, start_timeout=start_timeout)

    def _reuse_staged(self, previous: JournalEntry) -> GenerationResult | None:
        """The staged file of an earlier synchronous generation, if it is still there."""
        staged = previous.detail.get("staged_path")
        if (
            previous.state in ("succeeded", "persisted", "archived")
            and staged
            and Path(staged).exists()
        ):
            self.logger.info(
                "Reusing the video already generated for %s (no new charge).", self.label
            )
            return self._result(mode="sync", staged_path=staged, reattached=True)
        if previous.state == "submitting":
            self.logger.warning(
                "An earlier synchronous generation of %s may have been billed but its answer was "
                "lost; synchronous results carry no id, so it is generated again. Use mode='queue' "
                "to make this impossible.",
                self.label,
            )
        return None

    async def _journaled_ids(self, previous: JournalEntry) -> list[str]:
        """The generation ids of an earlier queued attempt (found in the queue if its POST's
        answer was lost); none when it failed or never reached the API."""
        ids = list(previous.generation_ids)
        if previous.state == "submitting" and not ids:
            found = await self.client.find_enqueued(self.validated.request, since=previous.at)
            if not found:
                return []
            ids = [found[0].generation_id]
            self.logger.info(
                "Found generation %s from an interrupted submission of %s.", ids[0], self.label
            )
            await self._record("enqueued", mode="queue", ids=ids)
        return [] if previous.state == "failed" else ids

    async def _rejoin(
        self,
        generation_id: str,
        previous: JournalEntry,
        *,
        timeout: float,
        start_timeout: float | None,
    ) -> GenerationResult | None:
        """Wait on an earlier paid generation (None when it ended unbilled: submit anew)."""
        if previous.detail.get("flow_run_id") != self.run_id:
            # This run owns the wait from now on, before anything is awaited: if it is stopped
            # while reading the generation back, its hooks cancel what it reattached to.
            await self._record("enqueued", mode="queue", ids=[generation_id])
        try:
            row = await self.client.get_generation(generation_id)
        except GenerationNotFound:
            raise GenerationError(
                f"Generation {generation_id} of {self.label} was paid for earlier but the API no "
                "longer knows it; not paying again automatically. Check the generation history.",
                generation_id=generation_id,
            ) from None
        if row.status in (GenerationStatus.FAILED, GenerationStatus.CANCELLED):
            self.logger.info(
                "Earlier generation %s of %s ended %s; submitting anew.",
                generation_id,
                self.label,
                row.status.value,
            )
            return None
        self.logger.info(
            "Reattaching %s to generation %s (%s); no new charge.",
            self.label,
            generation_id,
            row.status.value,
        )
        current_pacing().submitted()
        self.client.tracker.resolve(row)
        result = await self._wait(
            generation_id,
            time.time(),
            timeout=timeout,
            start_timeout=start_timeout,
            cancel_on_timeout=False,
        )
        return result.model_copy(update={"reattached": True})

    # --- new work -----------------------------------------------------------------------------

    async def queued(
        self, *, timeout: float, start_timeout: float | None, cancel_on_timeout: bool
    ) -> GenerationResult:
        # Announce before sending: if this process dies between the POST and its answer, the next
        # run finds the generation in the queue instead of paying again.
        """Enqueue the request (journaled first) and wait for it."""
        # The request goes with it (no secrets in it): a stop hook that finds the POST still in
        # flight recognises the generation in the queue by it and cancels it.
        await self._record("submitting", mode="queue", request=self.validated.request.to_payload())
        sendable = await self._sendable(timeout + (start_timeout or 0))
        submitted = time.time()
        [generation, *_] = await self.client.enqueue(sendable, validate=False)
        current_pacing().submitted()
        await self._record("enqueued", mode="queue", ids=[generation.generation_id])
        self.logger.debug("Enqueued generation %s for %s.", generation.generation_id, self.label)
        return await self._wait(
            generation.generation_id,
            submitted,
            timeout=timeout,
            start_timeout=start_timeout,
            cancel_on_timeout=cancel_on_timeout,
        )

    async def _wait(
        self,
        generation_id: str,
        submitted: float,
        *,
        timeout: float,
        start_timeout: float | None,
        cancel_on_timeout: bool,
    ) -> GenerationResult:
        """Wait for the generation; journal it failed when the API says it will not be billed."""
        try:
            done = await self._wait_from_start(
                generation_id, timeout=timeout, start_timeout=start_timeout
            )
        except DeadlineExceeded:
            if cancel_on_timeout:
                await self.client.cancel_generation(generation_id)
                await self._record("failed", ids=[generation_id], reason="deadline, cancelled")
                self.logger.warning(
                    "Cancelled generation %s of %s after its deadline.", generation_id, self.label
                )
            raise
        except (GenerationFailed, GenerationCancelled) as exc:
            # Not billed: a later attempt may submit anew.
            await self._record("failed", ids=[generation_id], reason=type(exc).__name__)
            raise
        completed = time.time()
        # No "succeeded" line for queued work: "enqueued" already lets any run reattach, and the
        # next line is "archived"; one fsync less per video.
        self.logger.debug(
            "Generation %s of %s succeeded in %.1f s.",
            generation_id,
            self.label,
            completed - submitted,
        )
        return self._result(
            mode="queue",
            generation_id=generation_id,
            result_url=done.result_url,
            submitted_at=submitted,
            completed_at=completed,
            wall_seconds=round(completed - submitted, 3),
        )

    async def _wait_from_start(
        self, generation_id: str, *, timeout: float, start_timeout: float | None
    ) -> Any:
        """Wait with `timeout` counted from when the API started the generation, not from enqueue.

        A batch keeps more generations on the API than it runs at once, so a generation may wait
        in the queue behind its own batch for a while; that wait is bounded by `start_timeout`
        (if any), and must not eat into the time the generation itself is given.
        """
        budget = timeout
        while True:
            try:
                return await self.client.wait_for_generation(
                    generation_id, timeout=budget, start_timeout=start_timeout
                )
            except DeadlineExceeded as exc:
                if exc.stage != "finish":
                    raise
                row = await self.client.get_generation(generation_id)
                if row.status == GenerationStatus.QUEUED:
                    budget = timeout  # not started yet: its own time has not begun
                elif row.status == GenerationStatus.PROCESSING and row.started_at:
                    # The API stamps whole seconds: it started at most a second after its stamp.
                    budget = timeout - (time.time() - (row.started_at + 1.0))
                    if budget <= 0:
                        raise
                elif row.is_terminal:
                    self.client.tracker.resolve(
                        row
                    )  # ended as the deadline struck: take the outcome
                    budget = timeout
                else:
                    raise  # running with no start time to count from: the deadline stands
                self.logger.debug(
                    "Generation %s of %s queued for a while; waiting %.0f s more.",
                    generation_id,
                    self.label,
                    budget,
                )

    async def synchronous(self) -> GenerationResult:
        """Generate on the blocking endpoint into the staging file."""
        staged = _staging_path(self.staging_dir, self.validated)
        sendable = await self._sendable(self.lifetime)
        await self._record("submitting", mode="sync")
        submitted = time.time()
        try:
            outcome = await self.client.generate_video_to_file(sendable, staged, validate=False)
        except asyncio.CancelledError:
            raise
        completed = time.time()
        await self._record("succeeded", mode="sync", staged_path=str(staged))
        self.logger.info(
            "Generated %s on the synchronous endpoint in %.1f s (%d bytes, %s).",
            self.label,
            completed - submitted,
            outcome.download.size_bytes,
            outcome.delivered_as,
        )
        return self._result(
            mode="sync",
            staged_path=str(staged),
            submitted_at=submitted,
            completed_at=completed,
            wall_seconds=round(completed - submitted, 3),
        )
