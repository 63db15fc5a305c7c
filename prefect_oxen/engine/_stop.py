"""A flow run's start and stop: what every flow does before its first item (`started_run`), and
the stop hooks that, when a run is cancelled or crashes, stop paying for what it left running.

Every flow starts the same way, in the same order: load the credentials and the archive from its
parameters, check the archive can take a video (before anything is paid), remember the run for
its stop hooks, and hold the shared API clients while the run works.

The hook needs the run's real API key, which the flow run's stored parameters do not hold:
Prefect masks a secret (``**********``) when it records them. So `started_run` calls
`remember_run` once it has resolved the credentials, and the hook of that flow run (in the
same process: the CLI, a direct call, `serve`, a worker's flow subprocess) uses what was
remembered. Only when nothing was remembered does it resolve the credentials from the
parameters, through the flows' own resolver (`RunPlaces`: a saved block name, a ``$ref``, or
OXEN_API_KEY), and it never sends a masked key.

A generation is journaled ``failed`` only when the API confirms it is cancelled (or failed):
one whose cancel did not go through stays ``enqueued``, so the next run reattaches to it and
pays nothing more.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from prefect import Flow
from prefect.client.schemas.objects import FlowRun, State
from prefect.logging import get_logger

from prefect_oxen.blocks import OxenCredentials
from prefect_oxen.client import GenerationStatus, OxenClient, OxenError
from prefect_oxen.engine._clients import using_shared_clients
from prefect_oxen.engine._generation import current_flow_run
from prefect_oxen.engine._journal import JournalEntry
from prefect_oxen.engine._oxen_archive import oxen_archive_session, oxen_archive_uri
from prefect_oxen.engine._run_state import RunState
from prefect_oxen.engine._settings import ResolvedRun, RunPlaces
from prefect_oxen.storage import acheck_destination, archive_scheme

__all__ = [
    "CancellationOutcome",
    "GenerationCancel",
    "cancel_remote_generations",
    "cancel_unfinished",
    "cancellation_outcome",
    "cancellation_outcomes",
    "hook_logger",
    "remember_run",
    "run_credentials",
    "started_run",
    "still_billed_advice",
    "usable_api_key",
]

logger = get_logger("prefect_oxen.flows")

# A long-lived process (serve, a notebook) runs many flows; only the latest few need remembering.
_REMEMBERED_RUNS = 512


@dataclass(frozen=True)
class GenerationCancel:
    """What happened to one unfinished generation when its run stopped."""

    generation_id: str
    key: str | None
    cancelled: bool
    detail: str
    #: It had already succeeded: paid, and collected by the next run without paying again.
    finished: bool = False


@dataclass
class CancellationOutcome:
    """What a stop did about the generations a flow run left unfinished on the API."""

    flow_run_id: str | None
    state_location: str
    generations: list[GenerationCancel] = field(default_factory=list)
    problem: str | None = None

    @property
    def cancelled(self) -> list[GenerationCancel]:
        """Generations the API confirmed cancelled (not billed)."""
        return [g for g in self.generations if g.cancelled]

    @property
    def finished(self) -> list[GenerationCancel]:
        """Generations that had already succeeded: nothing to cancel, the next run collects them."""
        return [g for g in self.generations if g.finished]

    @property
    def not_cancelled(self) -> list[GenerationCancel]:
        """Generations that may still run and be billed; the journal keeps them ``enqueued``."""
        return [g for g in self.generations if not g.cancelled and not g.finished]


@dataclass(frozen=True)
class _RememberedRun:
    """What a flow run resolved that its stop hook needs."""

    credentials: OxenCredentials
    state: RunState


class _RunRegistry:
    """Process-local memory of each flow run's resolved credentials and of its hook's outcome."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: OrderedDict[str, _RememberedRun] = OrderedDict()
        self._outcomes: OrderedDict[str, CancellationOutcome] = OrderedDict()

    def remember(self, run_id: str, run: _RememberedRun) -> None:
        """Keep `run` for `run_id` (the oldest is forgotten past the limit)."""
        with self._lock:
            self._runs[run_id] = run
            self._runs.move_to_end(run_id)
            while len(self._runs) > _REMEMBERED_RUNS:
                self._runs.popitem(last=False)

    def run(self, run_id: str) -> _RememberedRun | None:
        """What was remembered for `run_id`."""
        with self._lock:
            return self._runs.get(run_id)

    def record(self, outcome: CancellationOutcome) -> None:
        """Keep a hook's outcome."""
        with self._lock:
            self._outcomes[str(outcome.flow_run_id)] = outcome
            while len(self._outcomes) > _REMEMBERED_RUNS:
                self._outcomes.popitem(last=False)

    def outcomes(self) -> dict[str, CancellationOutcome]:
        """Every kept outcome, by flow run id."""
        with self._lock:
            return dict(self._outcomes)


_registry = _RunRegistry()


def remember_run(credentials: OxenCredentials, state: RunState) -> None:
    """Remember the current flow run's resolved credentials and run state for its stop hooks.

    Args:
        credentials: The credentials the run pays with (holding the real key).
        state: The run state the run records its generations in.
    """
    run_id = current_flow_run().id
    if run_id:
        _registry.remember(run_id, _RememberedRun(credentials, state))


def cancellation_outcome(flow_run_id: str) -> CancellationOutcome | None:
    """What this process's stop hook did for `flow_run_id`, if it ran here.

    Args:
        flow_run_id: The flow run.

    Returns:
        The outcome, or None when no hook of this process ran for it.
    """
    return _registry.outcomes().get(str(flow_run_id))


def cancellation_outcomes() -> dict[str, CancellationOutcome]:
    """Every outcome this process's stop hooks recorded, by flow run id, oldest first.

    Returns:
        The outcomes by flow run id.
    """
    return _registry.outcomes()


def still_billed_advice(cancel_option: str, *, rerun: str = "batch", one: bool = False) -> str:
    """What to do about generations a stop may have left running: the one wording every stop
    report uses.

    Args:
        cancel_option: How `prefect-oxen cancel` finds them ("--archive DIR", "--journal PATH").
        rerun: What to re-run to collect them ("batch", "command").
        one: Say "it" (one generation) rather than "they".

    Returns:
        E.g. "They may still run and be billed: re-run the same batch to collect them (no new
        charge), or cancel them with `prefect-oxen cancel --archive DIR`."
    """
    they, them = ("It", "it") if one else ("They", "them")
    return (
        f"{they} may still run and be billed: re-run the same {rerun} to collect {them} (no new "
        f"charge), or cancel {them} with `prefect-oxen cancel {cancel_option}`."
    )


def usable_api_key(credentials: OxenCredentials) -> bool:
    """True when `credentials` hold a key worth sending (not missing, not Prefect's mask).

    Args:
        credentials: The credentials to check.

    Returns:
        Whether the key may be sent.
    """
    key = credentials.api_key.get_secret_value().strip() if credentials.api_key else ""
    return bool(key) and set(key) != {"*"}


def cancel_unfinished(
    journal: RunState,
    credentials: OxenCredentials,
    *,
    flow_run_id: str | None = None,
    reason: str = "cancelled",
) -> CancellationOutcome:
    """Cancel the journal's ``enqueued`` generations (of `flow_run_id`, or all when None).

    Each one is journaled ``failed`` only once the API shows it cancelled or failed; any other
    stays ``enqueued`` (a later run reattaches to it without paying again). Never raises for
    API errors: they are in the outcome.

    Args:
        journal: The run state holding the generation ids.
        credentials: Credentials with the real key (a masked or missing key sends nothing).
        flow_run_id: Only the generations this flow run enqueued; None for every one.
        reason: Recorded in the journal next to each cancelled generation.

    Returns:
        What happened to each unfinished generation.
    """
    outcome = CancellationOutcome(flow_run_id=flow_run_id, state_location=journal.location)
    mine = journal.open_entries(flow_run_id)
    unfinished = [entry for entry in mine if entry.state == "enqueued" and entry.generation_ids]
    in_flight = [entry for entry in mine if _enqueue_in_flight(entry)]
    if not unfinished and not in_flight:
        return outcome
    if not usable_api_key(credentials):
        outcome.problem = "no usable Oxen API key (missing, or masked by Prefect)"
        outcome.generations = [
            GenerationCancel(gid, entry.detail.get("key"), False, outcome.problem)
            for entry in unfinished
            for gid in entry.generation_ids
        ]
        return outcome
    with credentials.get_client() as oxen:
        unfinished += [
            found for entry in in_flight if (found := _find_in_queue(oxen, journal, entry))
        ]
        for entry in unfinished:
            results = [
                _cancel_one(oxen, gid, entry.detail.get("key")) for gid in entry.generation_ids
            ]
            outcome.generations.extend(results)
            if all(result.cancelled for result in results):
                journal.record(
                    JournalEntry(
                        identity=entry.identity,
                        state="failed",
                        mode=entry.mode,
                        model=entry.model,
                        generation_ids=entry.generation_ids,
                        detail={**entry.detail, "reason": reason},
                    )
                )
    return outcome


def _enqueue_in_flight(entry: JournalEntry) -> bool:
    """A queue submission stopped between its POST and the answer (no id journaled yet)."""
    return (
        entry.state == "submitting"
        and entry.mode == "queue"
        and not entry.generation_ids
        and isinstance(entry.detail.get("request"), dict)
    )


def _find_in_queue(oxen: OxenClient, journal: RunState, entry: JournalEntry) -> JournalEntry | None:
    """The in-flight submission's generation, found in the queue by its request and journaled
    ``enqueued`` (so a failed cancel leaves it for the next run); None when it is not there."""
    from prefect_oxen.client import VideoRequest

    try:
        request = VideoRequest.model_validate(entry.detail["request"])
        found = oxen.find_enqueued(request, since=entry.at - 1.0)
    except (OxenError, ValueError):
        return None
    if not found:
        return None
    enqueued = entry.model_copy(
        update={"state": "enqueued", "generation_ids": [found[0].generation_id], "at": time.time()}
    )
    journal.record(enqueued)
    return enqueued


def _cancel_one(oxen: OxenClient, generation_id: str, key: str | None) -> GenerationCancel:
    """Cancel one generation and read back whether it is stopped unbilled."""
    try:
        oxen.cancel_generation(generation_id)
        # Cancelling a finished generation "has no effect": only its status says whether it
        # was stopped unbilled, or succeeded and is there to collect.
        status = oxen.get_generation(generation_id).status
    except OxenError as exc:
        return GenerationCancel(generation_id, key, False, f"{type(exc).__name__}: {exc}")
    if status in (GenerationStatus.CANCELLED, GenerationStatus.FAILED):
        return GenerationCancel(generation_id, key, True, status.value)
    if status == GenerationStatus.SUCCEEDED:
        return GenerationCancel(
            generation_id, key, False, "already succeeded; the next run collects it", finished=True
        )
    return GenerationCancel(
        generation_id, key, False, f"already {status.value}; kept for the next run"
    )


def cancel_remote_generations(flow: Flow[..., Any], flow_run: FlowRun, state: State[Any]) -> None:
    """Cancel every generation this flow run enqueued and did not finish (ids from the journal).

    Runs as ``on_cancellation`` / ``on_crashed``: the process may die right after, so it is
    synchronous and cancels one id at a time. Never raises; what it did is logged and kept for
    `cancellation_outcome`.

    Args:
        flow: The flow whose run stopped.
        flow_run: The run (its id and stored parameters).
        state: The state it stopped in (Cancelled, Crashed).
    """
    run_id = str(flow_run.id)
    run_logger = hook_logger(flow_run, flow)
    remembered = _registry.run(run_id)
    try:
        if remembered is not None:
            credentials, journal = remembered.credentials, remembered.state
        else:
            places = RunPlaces.model_validate(dict(getattr(flow_run, "parameters", None) or {}))
            journal = places.state()
            credentials = places.unmasked_credentials()
    except Exception as exc:  # a hook must never raise
        run_logger.error(
            "Could not find the journal or credentials of flow run %s to cancel its generations "
            "(%s). %s",
            run_id,
            type(exc).__name__,
            still_billed_advice("--archive DIR"),
        )
        return
    state_name = str(getattr(state, "name", "stopped")).lower()
    outcome = cancel_unfinished(
        journal, credentials, flow_run_id=run_id, reason=f"cancelled: flow run {state_name}"
    )
    _registry.record(outcome)
    _log_outcome(run_logger, outcome, run_id)


def _log_outcome(
    run_logger: logging.Logger | logging.LoggerAdapter[logging.Logger],
    outcome: CancellationOutcome,
    run_id: str,
) -> None:
    """Log what a stop hook did, to the run's logs."""
    for generations, template in (
        (outcome.cancelled, "Cancelled %d unfinished Oxen generation(s) of flow run %s: %s."),
        (
            outcome.finished,
            "%d Oxen generation(s) of flow run %s had already finished (paid, not lost): "
            "re-running the same batch archives them without paying again: %s.",
        ),
    ):
        if generations:
            ids = ", ".join(g.generation_id for g in generations)
            run_logger.info(template, len(generations), run_id, ids)
    if outcome.not_cancelled:
        run_logger.error(
            "Could not cancel %d Oxen generation(s) of flow run %s%s: %s. %s",
            len(outcome.not_cancelled),
            run_id,
            f" ({outcome.problem})" if outcome.problem else "",
            "; ".join(f"{g.generation_id} ({g.detail})" for g in outcome.not_cancelled),
            still_billed_advice(f"--journal {outcome.state_location}"),
        )


def hook_logger(
    flow_run: FlowRun, flow: Flow[..., Any] | None = None
) -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    """The logger of a stop hook: the run's (its records reach the run's logs in the UI) when
    there is one, else ``prefect_oxen.flows``."""
    from prefect.logging.loggers import flow_run_logger

    try:
        return flow_run_logger(flow_run, flow)
    except Exception:  # not a real flow run (a direct call of the hook)
        return logger


_RUN_CREDENTIALS: contextvars.ContextVar[OxenCredentials | None] = contextvars.ContextVar(
    "prefect_oxen_run_credentials", default=None
)


@asynccontextmanager
async def started_run(
    places: RunPlaces, *, check_destination: bool = True, **options: Any
) -> AsyncIterator[ResolvedRun]:
    """Resolve `places` for this flow run and hold the shared clients while it runs.

    Args:
        places: The flow's credentials, archive, journal and work directory parameters.
        check_destination: Check now that the archive can take a video; False for a flow that
            checks it later itself (a batch's dry run writes nothing, so it does not check).
        **options: Further `PipelineSettings` fields (mode, key_template, prefix, timeout).

    Yields:
        The run's credentials and settings.

    Raises:
        UnsupportedArchive: The archive is a URI of a scheme that is not supported.
        ArchiveUnavailable: The archive cannot be written or reached, or an ``oxen://``
            repository cannot be reached or created with the credentials (nothing is paid).
        ValueError: A named block does not exist.
        InvalidObjectKey: The key template makes no valid key.
    """
    if isinstance(places.archive, str) and not places.archive_block:
        archive_scheme(places.archive)  # gs://, s3:/ ...: refused before any API call
    run = await places.aresolve(**options)
    destination = run.settings.destination
    oxen = oxen_archive_uri(destination) is not None
    if check_destination and not oxen:
        # Unwritable or unreachable: fail before paying.
        await acheck_destination(destination)
    async with contextlib.AsyncExitStack() as stack:
        # An oxen:// archive is checked (created if missing) now and committed once at the end,
        # however the run ends: a run that fails part-way commits what it archived.
        await stack.enter_async_context(
            oxen_archive_session(
                destination,
                run.credentials,
                work_dir=run.settings.work_dir,
                flow_run_id=current_flow_run().id,
                run_name=current_flow_run().name,
                prepare=check_destination,
            )
        )
        # Reading oxen:// inputs in the run uses its credentials, as its archive does.
        token = _RUN_CREDENTIALS.set(run.credentials)
        stack.callback(_RUN_CREDENTIALS.reset, token)
        # The stop hooks need the resolved credentials (the real key, not Prefect's mask).
        remember_run(run.credentials, run.settings.state())
        await stack.enter_async_context(using_shared_clients())
        yield run


def run_credentials() -> OxenCredentials | None:
    """The credentials of the flow run this code runs in (set by `started_run`).

    Returns:
        The run's resolved credentials, or None outside `started_run`.
    """
    return _RUN_CREDENTIALS.get()
