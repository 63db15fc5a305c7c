"""What every flow does before its first item: resolve its places, make them ready, hold clients.

The single, multi-shot and batch flows all start the same way, in the same order: load the
credentials and the archive from their parameters, check the archive can take a video (before
anything is paid), remember the run for its stop hooks, and hold the shared API clients while
the run works.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from prefect_oxen.blocks import OxenCredentials
from prefect_oxen.engine._clients import using_shared_clients
from prefect_oxen.engine._generation import current_flow_run_id
from prefect_oxen.engine._oxen_archive import oxen_archive_session, oxen_archive_uri
from prefect_oxen.engine._settings import ResolvedRun, RunPlaces
from prefect_oxen.engine._stop import remember_run
from prefect_oxen.storage import acheck_destination, archive_scheme

__all__ = ["run_credentials", "started_run"]

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
                flow_run_id=current_flow_run_id(),
                run_name=_run_name(),
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


def _run_name() -> str | None:
    """The flow run's name, or None outside a run."""
    from prefect.runtime import flow_run

    try:
        return str(flow_run.name) if flow_run.name else None
    except Exception:  # outside a flow run
        return None
