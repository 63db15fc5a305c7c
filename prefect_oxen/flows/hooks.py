"""Flow hooks: when a run is cancelled or crashes, stop paying for what it left running."""

from __future__ import annotations

from typing import Any

from prefect.logging import get_logger

from prefect_oxen.client import OxenError
from prefect_oxen.flows.settings import PipelineSettings, resolve_archive, resolve_credentials
from prefect_oxen.tasks.journal import GenerationJournal, JournalEntry

__all__ = ["cancel_remote_generations"]

logger = get_logger("prefect_oxen.flows")


def _journal_for(parameters: dict[str, Any]) -> GenerationJournal:
    destination = resolve_archive(parameters.get("archive", "oxen-archive"), parameters.get("archive_block"))
    settings = PipelineSettings.build(destination, journal=parameters.get("journal"), work_dir=parameters.get("work_dir"))
    return GenerationJournal(settings.journal_path)


def cancel_remote_generations(flow: Any, flow_run: Any, state: Any) -> None:
    """Cancel every generation this flow run enqueued and did not finish (ids from the journal).

    Runs as ``on_cancellation`` / ``on_crashed``: the process may die right after, so it is
    synchronous and cancels one id at a time, journaling each so a later run does not reattach.
    """
    parameters = dict(getattr(flow_run, "parameters", None) or {})
    run_id = str(flow_run.id)
    try:
        journal = _journal_for(parameters)
        credentials = resolve_credentials(parameters.get("credentials"))
    except Exception as exc:  # a hook must never raise
        logger.warning("Could not find the journal of flow run %s to cancel its generations: %s", run_id, type(exc).__name__)
        return
    unfinished = [
        entry for entry in journal.latest().values()
        if entry.state == "enqueued" and entry.generation_ids and entry.detail.get("flow_run_id") == run_id
    ]
    if not unfinished:
        return
    cancelled = 0
    with credentials.get_client() as oxen:
        for entry in unfinished:
            for generation_id in entry.generation_ids:
                try:
                    oxen.cancel_generation(generation_id)
                    cancelled += 1
                except OxenError as exc:
                    logger.warning("Could not cancel generation %s: %s", generation_id, exc)
            journal.record(JournalEntry(
                identity=entry.identity, state="failed", mode=entry.mode, model=entry.model,
                generation_ids=entry.generation_ids, detail={**entry.detail, "reason": f"flow run {state.name.lower()}"},
            ))
    logger.info("Cancelled %d unfinished Oxen generation(s) of flow run %s.", cancelled, run_id)
