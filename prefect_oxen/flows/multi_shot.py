"""`multi_shot_flow`: several shots as one video, natively or stitched."""

import asyncio
from pathlib import Path
from typing import Any, Literal

from prefect import flow, get_run_logger
from pydantic import BaseModel

from prefect_oxen.blocks import OxenCredentials
from prefect_oxen.client import Shot, VideoRequest
from prefect_oxen.engine import (
    ItemReport,
    ItemRun,
    PipelineSettings,
    RunPlaces,
    cancel_remote_generations,
    check_request,
    combined_result,
    run_item,
    shared_async_client,
    shot_key,
    shot_requests,
    started_run,
    stitched_report,
    stitched_video,
    video_path,
)
from prefect_oxen.flows.report import emit_asset_event, emit_item_event, publish_video_artifact
from prefect_oxen.storage import DEFAULT_KEY_TEMPLATE, ArchiveRecord
from prefect_oxen.tasks import archive_video, produce_video, stitch_shots

__all__ = ["MultiShotResult", "multi_shot_flow"]

_TITLE = "Oxen multi-shot video"


class MultiShotResult(BaseModel):
    """The finished video and how it was made."""

    strategy: Literal["native", "stitched"]
    video: ArchiveRecord
    shots: list[ArchiveRecord] = []
    stitch_method: str | None = None
    duration_seconds: float


@flow(
    name="oxen-multi-shot",
    on_cancellation=[cancel_remote_generations],
    on_crashed=[cancel_remote_generations],
)
async def multi_shot_flow(
    model: str,
    shots: list[dict[str, Any]],
    credentials: OxenCredentials | None = None,
    archive: str = "oxen-archive",
    archive_block: str | None = None,
    key: str = "multi-shot",
    aspect_ratio: str | None = None,
    generate_audio: bool | None = None,
    seed: int | None = None,
    strategy: Literal["auto", "native", "stitch"] = "auto",
    mode: Literal["auto", "sync", "queue"] = "auto",
    key_template: str = DEFAULT_KEY_TEMPLATE,
    prefix: str = "oxen",
    journal: str | None = None,
    work_dir: str | None = None,
) -> MultiShotResult:
    """Make one video from `shots`, in order, and publish an ``oxen-video`` artifact.

    When the model supports ``multi_prompt`` (read from its request schema) this is one native
    generation; otherwise every shot is generated concurrently and the shots are stitched into
    one mp4 (remuxed without re-encoding when their streams match). Per-shot files are archived
    too.

    Args:
        model: The Oxen model id, e.g. kling-video-o3-pro-reference-to-video.
        shots: The shots in order, each {"prompt": "...", "duration": seconds}.
        credentials: The saved Oxen Credentials block to use; empty means OXEN_API_KEY and
            OXEN_BASE_URL from the worker's environment.
        archive: Where the video goes: a local directory, an s3://bucket/prefix URI or an
            oxen://NAMESPACE/REPO[@BRANCH][/PREFIX] repository (one commit per run).
        archive_block: Name of a saved prefect-aws S3Bucket block; when set it wins over
            archive.
        key: The video's id, used in its archive path (shots get -shot-01, -shot-02...).
        aspect_ratio: Aspect ratio for every shot, e.g. "16:9"; empty means the model's default.
        generate_audio: Ask for an audio track (priced at the model's audio rate).
        seed: Seed for reproducible output, where the model supports one.
        strategy: "native" (one multi_prompt generation), "stitch" (one generation per shot,
            joined here) or "auto" (native when the model supports it).
        mode: How to call the API: "queue" (async queue, resumable), "sync" (one blocking call)
            or "auto" (the queue where the model allows it).
        key_template: Archive object path template ({prefix}, {date}, {model}, {key}).
        prefix: First part of every archive path.
        journal: Where the run state lives (what was paid for, who holds an item), which lets
            a re-run reattach without paying twice; empty means with the archive (a file in a
            local one, objects under an S3 one; for oxen:// a file under PREFECT_HOME). An
            s3:// location shares it between machines.
        work_dir: Scratch directory for downloads; empty means next to the journal.

    Returns:
        The video's archive record, how it was made, and the shots' records when stitched.

    Raises:
        ArchiveUnavailable: The archive cannot be written (before anything is paid).
        RequestValidationError: A shot does not fit the model (nothing is paid).
        RuntimeError: A shot (or the native video) was not archived, with its reason.
        VideoVerificationError: The stitched video is not as long as its shots.
    """
    # The flow's own parameters, read as its stop hook reads them.
    places = RunPlaces.model_validate(locals())
    logger = get_run_logger()
    async with started_run(places, mode=mode, key_template=key_template, prefix=prefix) as run:
        creds, settings = run.credentials, run.settings
        parsed = [Shot.model_validate(shot) for shot in shots]
        options = {"aspect_ratio": aspect_ratio, "generate_audio": generate_audio, "seed": seed}
        common = {name: value for name, value in options.items() if value is not None}
        info = await shared_async_client(creds).get_model(model)
        if info.supports_multi_prompt if strategy == "auto" else strategy == "native":
            request = VideoRequest(model=model, multi_prompt=parsed, **common)
            item = await run_item(
                await check_request(request, creds, key=key), creds, settings, produce_video
            )
            emit_item_event(item.report, batch_id=None)
            await publish_video_artifact(
                item.report, title=_TITLE, extra=[f"{len(parsed)} shots, one native generation."]
            )
            _raise_unless_archived(item.report)
            logger.info("Generated %d shots natively with multi_prompt.", len(parsed))
            return MultiShotResult(
                strategy="native",
                video=item.record,
                duration_seconds=item.report.video_seconds or 0.0,
            )
        logger.info(
            "Model %s has no multi_prompt: generating %d shots and stitching them.",
            model,
            len(parsed),
        )
        validated = [
            await check_request(request, creds, key=shot_key(key, i))
            for i, request in enumerate(shot_requests(model, parsed, common))
        ]
        keep = settings.model_copy(update={"keep_local_copies": True})
        runs = await asyncio.gather(*(run_item(v, creds, keep, produce_video) for v in validated))
        for shot in runs:
            emit_item_event(shot.report, batch_id=None)
        if failed := [shot.report for shot in runs if shot.report.status != "archived"]:
            await publish_video_artifact(
                failed[0], title=_TITLE, extra=[f"Shot {failed[0].key} failed."]
            )
            _raise_unless_archived(failed[0])
        return await _stitch(runs, parsed, creds, settings, key=key, common=common)


async def _stitch(
    runs: list[ItemRun],
    parsed: list[Shot],
    creds: OxenCredentials,
    settings: PipelineSettings,
    *,
    key: str,
    common: dict[str, Any],
) -> MultiShotResult:
    """Join the archived shots, archive the result like any video, and publish it."""
    shot_records = [shot.record for shot in runs if shot.record is not None]
    shot_paths = [shot.persisted.path for shot in runs if shot.persisted is not None]
    combined = combined_result([shot.validated for shot in runs], parsed, key=key, common=common)
    stitched = video_path(settings.work_dir / "videos", combined)
    method, _ = await stitch_shots(shot_paths, str(stitched))
    persisted = await stitched_video(stitched, combined)
    # The same task as every other video: secrets scrubbed, retried, idempotent.
    record = await archive_video(
        persisted,
        combined,
        settings.destination,
        creds,
        key_template=settings.key_template,
        prefix=settings.prefix,
        extra={
            "strategy": "stitched",
            "stitch_method": method,
            "shots": [r.uri for r in shot_records],
        },
    )
    for path in shot_paths:
        Path(path).unlink(missing_ok=True)
    summary = stitched_report(key, parsed, runs, persisted, record)
    emit_asset_event(summary)
    await publish_video_artifact(
        summary,
        title=_TITLE,
        extra=[
            f"{len(parsed)} shots generated separately and stitched ({method}):",
            *(f"- `{shot.uri}`" for shot in shot_records),
            "",
        ],
    )
    return MultiShotResult(
        strategy="stitched",
        video=record,
        shots=shot_records,
        stitch_method=method,
        duration_seconds=persisted.duration_seconds,
    )


def _raise_unless_archived(report: ItemReport) -> None:
    """Fail the flow with the shot's reason if it was not archived."""
    if report.status != "archived":
        raise RuntimeError(f"Shot {report.key} was not archived: {report.error}")
