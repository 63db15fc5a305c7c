"""`prefect-oxen cancel`: cancel the generations a stopped or killed run left on the API.

A run killed outright (SIGKILL, a lost machine) runs no hook, so what it enqueued keeps running
and is billed. Its journal still lists those generations as ``enqueued``: re-running the same
command collects them without paying again, and this command cancels them instead.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from prefect_oxen.cli._credentials import cli_credentials
from prefect_oxen.cli._exit_codes import ExitCode, fail, handle_errors
from prefect_oxen.cli._options import (
    DEFAULT_ARCHIVE,
    ArchiveOption,
    BaseUrlOption,
    CredentialsBlockOption,
)
from prefect_oxen.cli._output import console, err_console

__all__ = ["cancel_command"]


@handle_errors
def cancel_command(
    archive: ArchiveOption = DEFAULT_ARCHIVE,
    journal: Annotated[
        Optional[str],  # noqa: UP045 (typer needs Optional on 3.10)
        typer.Option(
            help="Run state (journal file or s3:// prefix), when the run was given its own "
            "(default: the archive's)."
        ),
    ] = None,
    flow_run: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(help="Only the generations of this flow run id (default: all)."),
    ] = None,
    base_url: BaseUrlOption = None,
    credentials_block: CredentialsBlockOption = None,
) -> None:
    """Cancel every generation the archive's journal still lists as unfinished.

    For a run that was killed before it could cancel what it paid for. Do not use it while a run
    of the same archive is working: it would cancel that run's generations too. Exit 0 when
    everything unfinished was cancelled (or nothing was), 1 when some could not be.
    """
    from prefect_oxen.engine import cancel_unfinished, run_state_for

    state = run_state_for(archive, journal)
    if not state.exists():
        raise fail(
            f"No run state at {state.location}: nothing was generated into {archive} "
            "(or give --journal)."
        )
    credentials = cli_credentials(base_url, credentials_block)
    outcome = cancel_unfinished(
        state,
        credentials,
        flow_run_id=flow_run,
        reason="cancelled: prefect-oxen cancel",
    )
    out = console()
    if not outcome.generations:
        out.print(
            f"Nothing to cancel: the run state {state.location} lists no unfinished generation."
        )
        return
    for generation in outcome.cancelled:
        out.print(
            f"cancelled {generation.generation_id}"
            + (f" ({generation.key})" if generation.key else "")
        )
    out.print(f"Cancelled {len(outcome.cancelled)} generation(s) (not billed).")
    if outcome.finished:
        out.print(
            f"{len(outcome.finished)} generation(s) had already finished: re-running the same "
            "batch archives them without paying again."
        )
    if outcome.not_cancelled:
        for generation in outcome.not_cancelled:
            err_console().print(
                f"[yellow]not cancelled[/] {generation.generation_id}"
                + (f" ({generation.key})" if generation.key else "")
                + f": {generation.detail}"
            )
        count = len(outcome.not_cancelled)
        err_console().print(
            f"[bold red]Could not cancel {count} generation(s)[/]; the journal keeps them, so "
            "re-running the same command collects them without paying again."
        )
        raise typer.Exit(int(ExitCode.ITEMS_FAILED))
