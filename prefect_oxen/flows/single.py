"""`generate_video_flow`: one request, validated, generated, verified and archived."""


from typing import Any, Literal

from prefect import flow

from prefect_oxen.blocks import OxenCredentials
from prefect_oxen.flows.hooks import cancel_remote_generations, remember_run
from prefect_oxen.flows.pipeline import run_item
from prefect_oxen.flows.report import emit_item_event
from prefect_oxen.flows.settings import PipelineSettings, aresolve_archive, aresolve_credentials
from prefect_oxen.storage import DEFAULT_KEY_TEMPLATE, ArchiveRecord, acheck_destination
from prefect_oxen.tasks import using_shared_clients, validate_video_request

__all__ = ["generate_video_flow"]


@flow(name="oxen-generate-video", on_cancellation=[cancel_remote_generations], on_crashed=[cancel_remote_generations])
async def generate_video_flow(
    request: dict[str, Any],
    credentials: OxenCredentials | str | None = None,
    archive: Any = "oxen-archive",
    archive_block: str | None = None,
    key: str | None = None,
    mode: Literal["auto", "sync", "queue"] = "auto",
    key_template: str = DEFAULT_KEY_TEMPLATE,
    prefix: str = "oxen",
    journal: str | None = None,
    work_dir: str | None = None,
    timeout: float = 3600.0,
) -> ArchiveRecord:
    """Validate `request`, generate it once, verify the mp4 and archive it with its manifest.

    Returns the archive record; raises the item's error (after nothing was lost: a paid
    generation stays in the journal for the next run to collect).
    """
    creds = await aresolve_credentials(credentials)
    settings = PipelineSettings.build(
        await aresolve_archive(archive, archive_block), journal=journal, work_dir=work_dir, mode=mode,
        key_template=key_template, prefix=prefix, timeout=timeout,
    )
    await acheck_destination(settings.destination)  # unwritable or unreachable: fail before paying
    remember_run(creds, settings.journal_path)
    async with using_shared_clients():
        validated = await validate_video_request(request, creds, key=key)
        report, record = await run_item(validated, creds, settings)
        emit_item_event(report, batch_id=None)
        if record is None:
            raise RuntimeError(f"Video {report.key} was not archived: {report.error}")
        return record  # type: ignore[return-value]
