"""`multi_shot_flow`: several shots as one video, natively or stitched."""


import asyncio
from pathlib import Path
from typing import Any, Literal

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel

from prefect_oxen.blocks import OxenCredentials
from prefect_oxen.client import Shot, VideoRequest
from prefect_oxen.flows.hooks import cancel_remote_generations, remember_run
from prefect_oxen.flows.pipeline import run_item
from prefect_oxen.flows.report import (
    ItemReport,
    emit_asset_event,
    emit_item_event,
    publish_video_artifact,
)
from prefect_oxen.flows.settings import PipelineSettings, aresolve_archive, aresolve_credentials
from prefect_oxen.media import stitch_videos, verify_video
from prefect_oxen.storage import (
    DEFAULT_KEY_TEMPLATE,
    ArchiveManifest,
    ArchiveRecord,
    acheck_destination,
    sha256_file,
)
from prefect_oxen.tasks import open_archive, shared_async_client, using_shared_clients
from prefect_oxen.tasks.archive import archive_key
from prefect_oxen.tasks.results import GenerationResult
from prefect_oxen.tasks.validate import check_request

__all__ = ["MultiShotResult", "multi_shot_flow"]


class MultiShotResult(BaseModel):
    """The finished video and how it was made."""

    strategy: Literal["native", "stitched"]
    video: ArchiveRecord
    shots: list[ArchiveRecord] = []
    stitch_method: str | None = None
    duration_seconds: float


@task(name="stitch-shots", cache_policy=NO_CACHE)
async def stitch_shots(paths: list[str], output: str) -> tuple[str, float]:
    """Concatenate shot files in order (remux when streams match, else re-encode)."""
    result = await asyncio.to_thread(stitch_videos, [Path(p) for p in paths], Path(output))
    return result.mode, result.duration_seconds


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
        archive: Where the video goes: a local directory or an s3://bucket/prefix URI.
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
        journal: Path of the journal that lets a re-run reattach to paid generations; empty
            means inside the archive (local) or under PREFECT_HOME (S3).
        work_dir: Scratch directory for downloads; empty means next to the journal.
    """
    logger = get_run_logger()
    creds = await aresolve_credentials(credentials)
    destination = await aresolve_archive(archive, archive_block)
    settings = PipelineSettings.build(
        destination, journal=journal, work_dir=work_dir, mode=mode, key_template=key_template, prefix=prefix
    )
    await acheck_destination(settings.destination)  # unwritable or unreachable: fail before paying
    remember_run(creds, settings.journal_path)
    parsed = [Shot.model_validate(shot) for shot in shots]
    common = {k: v for k, v in {"aspect_ratio": aspect_ratio, "generate_audio": generate_audio, "seed": seed}.items() if v is not None}
    async with using_shared_clients():
        info = await shared_async_client(creds).get_model(model)
        native = info.supports_multi_prompt if strategy == "auto" else strategy == "native"
        if native:
            request = VideoRequest(model=model, multi_prompt=parsed, **common)
            validated = await check_request(request, creds, key=key)
            report, record = await run_item(validated, creds, settings)
            emit_item_event(report, batch_id=None)
            await publish_video_artifact(
                report, title="Oxen multi-shot video",
                extra=[f"{len(parsed)} shots, one native generation."],
            )
            _raise_unless_archived(report)
            logger.info("Generated %d shots natively with multi_prompt.", len(parsed))
            return MultiShotResult(strategy="native", video=record, duration_seconds=report.video_seconds or 0.0)

        logger.info("Model %s has no multi_prompt: generating %d shots and stitching them.", model, len(parsed))
        validated_shots = [
            await check_request(VideoRequest(model=model, prompt=shot.prompt, duration=shot.duration, **common), creds, key=f"{key}-shot-{i + 1:02d}")
            for i, shot in enumerate(parsed)
        ]
        keep = settings.model_copy(update={"keep_local_copies": True})
        outcomes = await asyncio.gather(*(run_item(v, creds, keep) for v in validated_shots))
        for report, _ in outcomes:
            emit_item_event(report, batch_id=None)
        if failed := [report for report, _ in outcomes if report.status != "archived"]:
            await publish_video_artifact(
                failed[0], title="Oxen multi-shot video", extra=[f"Shot {failed[0].key} failed."]
            )
            _raise_unless_archived(failed[0])
        shot_records = [record for _, record in outcomes]
        shot_paths = [str(settings.work_dir / "videos" / f"{v.key}.mp4") for v in validated_shots]
        stitched = settings.work_dir / "videos" / f"{key}.mp4"
        method, _ = await stitch_shots(shot_paths, str(stitched))
        total = sum(shot.duration for shot in parsed)
        verification = await asyncio.to_thread(verify_video, stitched, expected_duration=total, expected_aspect_ratio=aspect_ratio or "16:9")
        combined = GenerationResult(
            key=key, fingerprint=validated_shots[0].fingerprint, model=model, mode="queue",
            request={"model": model, "multi_prompt": [s.model_dump() for s in parsed], **common},
            cost_usd=round(sum(v.estimated_cost_usd or 0 for v in validated_shots), 6),
        )
        target = open_archive(destination)
        object_key = archive_key(combined, template=key_template, prefix=prefix)
        manifest = ArchiveManifest(
            key=object_key, model=model, request=combined.request, cost_usd=combined.cost_usd,
            verification={"duration_seconds": verification.probe.duration_seconds, "checks": verification.checks},
            extra={"strategy": "stitched", "stitch_method": method, "shots": [r.uri for r in shot_records]},
        )
        digest = await asyncio.to_thread(sha256_file, stitched)
        record = await asyncio.to_thread(target.put, stitched, object_key, manifest, sha256=digest)
        for path in shot_paths:
            Path(path).unlink(missing_ok=True)
        summary = ItemReport(
            key=key, model=model, prompt=parsed[0].prompt, status="archived",
            video_seconds=verification.probe.duration_seconds,
            cost_usd=sum(report.cost_usd or 0.0 for report, _ in outcomes
                         if report.paid_by == "this run") or None,
            archive_uri=record.uri, view_url=record.view_url, sha256=record.sha256,
            poster_path=next((r.poster_path for r, _ in outcomes if r.poster_path), None),
        )
        emit_asset_event(summary)
        await publish_video_artifact(summary, title="Oxen multi-shot video", extra=[
            f"{len(parsed)} shots generated separately and stitched ({method}):",
            *(f"- `{shot.uri}`" for shot in shot_records), "",
        ])
        return MultiShotResult(
            strategy="stitched", video=record, shots=shot_records, stitch_method=method,
            duration_seconds=verification.probe.duration_seconds,
        )


def _raise_unless_archived(report: ItemReport) -> None:
    if report.status != "archived":
        raise RuntimeError(f"Shot {report.key} was not archived: {report.error}")
