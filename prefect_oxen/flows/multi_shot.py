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
from prefect_oxen.flows.report import ItemReport, emit_item_event
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


@flow(name="oxen-multi-shot", on_cancellation=[cancel_remote_generations], on_crashed=[cancel_remote_generations])
async def multi_shot_flow(
    model: str,
    shots: list[dict[str, Any]],
    credentials: OxenCredentials | str | None = None,
    archive: Any = "oxen-archive",
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
    """Make one video from `shots` (each ``{"prompt", "duration"}``), in order.

    When the model supports ``multi_prompt`` (read from its request schema) this is one native
    generation; otherwise every shot is generated concurrently and the shots are stitched into
    one mp4 (remuxed without re-encoding when their streams match). Per-shot files are archived
    too.
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
            _raise_unless_archived(report)
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
        return MultiShotResult(
            strategy="stitched", video=record, shots=shot_records, stitch_method=method,
            duration_seconds=verification.probe.duration_seconds,
        )


def _raise_unless_archived(report: ItemReport) -> None:
    if report.status != "archived":
        raise RuntimeError(f"Shot {report.key} was not archived: {report.error}")
