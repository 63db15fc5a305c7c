"""`generate_video_flow`: one request, validated, generated, verified and archived."""

from typing import Any, Literal

from prefect import flow

from prefect_oxen.blocks import OxenCredentials
from prefect_oxen.engine import (
    RunPlaces,
    cancel_remote_generations,
    readable_key,
    run_item,
    started_run,
)
from prefect_oxen.flows.report import emit_item_event, publish_video_artifact
from prefect_oxen.storage import DEFAULT_KEY_TEMPLATE, ArchiveRecord
from prefect_oxen.tasks import produce_video, validate_video_request

__all__ = ["generate_video_flow"]


@flow(
    name="oxen-generate-video",
    on_cancellation=[cancel_remote_generations],
    on_crashed=[cancel_remote_generations],
)
async def generate_video_flow(
    request: dict[str, Any],
    credentials: OxenCredentials | None = None,
    archive: str = "oxen-archive",
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

    Returns the archive record and publishes an ``oxen-video`` artifact (what was made, where,
    cost, poster); raises the item's error (after nothing was lost: a paid generation stays in
    the journal for the next run to collect).

    Args:
        request: The API request as JSON, e.g. {"model": "kling-video-v2-6-pro-text-to-video",
            "prompt": "a red fox in fresh snow", "duration": 5}; checked against the model's
            schema and priced before anything is paid.
        credentials: The saved Oxen Credentials block to use; empty means OXEN_API_KEY and
            OXEN_BASE_URL from the worker's environment.
        archive: Where the video goes: a local directory, an s3://bucket/prefix URI or an
            oxen://NAMESPACE/REPO[@BRANCH][/PREFIX] repository (one commit per run).
        archive_block: Name of a saved prefect-aws S3Bucket block; when set it wins over
            archive.
        key: The video's id, used in its archive path; empty means a readable id made from the
            prompt.
        mode: How to call the API: "queue" (async queue, resumable), "sync" (one blocking call)
            or "auto" (the queue where the model allows it).
        key_template: Archive object path template ({prefix}, {date}, {model}, {key}).
        prefix: First part of every archive path.
        journal: Where the run state lives (what was paid for, who holds an item), which lets
            a re-run reattach without paying twice; empty means with the archive (a file in a
            local one, objects under an S3 one; for oxen:// a file under PREFECT_HOME). An
            s3:// location shares it between machines.
        work_dir: Scratch directory for downloads; empty means next to the journal.
        timeout: Seconds the generation may take before it is cancelled.

    Returns:
        Where the video was archived.

    Raises:
        ArchiveUnavailable: The archive cannot be written (before anything is paid).
        RequestValidationError: The request does not fit the model (nothing is paid).
        RuntimeError: The video was not archived; the message has the item's reason.
    """
    # The flow's own parameters, read as its stop hook reads them.
    places = RunPlaces.model_validate(locals())
    async with started_run(
        places, mode=mode, key_template=key_template, prefix=prefix, timeout=timeout
    ) as run:
        creds, settings = run.credentials, run.settings
        validated = await validate_video_request(request, creds, key=key or readable_key(request))
        item = await run_item(validated, creds, settings, produce_video)
        emit_item_event(item.report, batch_id=None)
        await publish_video_artifact(item.report, title="Oxen video")
        if item.record is None:
            raise RuntimeError(f"Video {item.report.key} was not archived: {item.report.error}")
        return item.record
