"""validate -> generate -> persist -> archive inside real flows, against the emulator over HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from prefect import flow

from prefect_oxen import OxenCredentials
from prefect_oxen.client import RequestValidationError, VideoRequest
from prefect_oxen.media import VideoVerificationError
from prefect_oxen.tasks import (
    GenerationJournal,
    GenerationResult,
    archive_video,
    close_shared_clients,
    generate_video,
    persist_video,
    validate_video_request,
)
from tests.support import FAST

from ..conftest import API_KEY


def _pipeline(workdir: Path, **generate_options):
    @flow
    async def pipeline(
        request: dict, credentials: OxenCredentials, key: str, refresh: bool = False
    ):
        try:
            checked = await validate_video_request(request, credentials, key=key)
            task = generate_video.with_options(refresh_cache=refresh, retry_delay_seconds=0)
            result = await task(
                checked,
                credentials,
                journal_path=str(workdir / "journal" / "j.jsonl"),
                staging_dir=str(workdir / "staging"),
                **generate_options,
            )
            persisted = await persist_video(result, credentials, workdir / "videos")
            record = await archive_video(persisted, result, str(workdir / "archive"), credentials)
            return checked, result, persisted, record
        finally:
            await close_shared_clients()

    return pipeline


async def _persist_once(result, credentials, output_dir, **options):
    """`persist_video` without retries, in a flow of its own (its shared clients closed after)."""

    @flow
    async def persist_only():
        try:
            return await persist_video.with_options(retries=0)(
                result, credentials, output_dir, **options
            )
        finally:
            await close_shared_clients()

    return await persist_only()


async def test_one_video_goes_from_request_to_archive(
    credentials, emulator, workdir: Path, unique: str
) -> None:
    request = {"model": FAST, "prompt": f"a fox {unique}", "duration": 3, "aspect_ratio": "9:16"}
    checked, result, persisted, record = await _pipeline(workdir)(request, credentials, "fox")
    assert checked.estimated_cost_usd == pytest.approx(0.03)
    assert result.mode == "queue" and result.generation_id
    [billed] = emulator.generations()
    assert persisted.sha256 == billed["sha256"] == record.sha256
    assert persisted.duration_seconds == pytest.approx(3, abs=0.2)
    assert persisted.height > persisted.width  # 9:16
    assert Path(persisted.poster_path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    archived = Path(record.uri.removeprefix("file://"))
    assert archived.read_bytes() == Path(persisted.path).read_bytes()
    manifest = json.loads(Path(record.manifest_uri.removeprefix("file://")).read_text())
    assert manifest["generation_id"] == result.generation_id
    assert manifest["sha256"] == persisted.sha256
    assert manifest["cost_usd"] == pytest.approx(0.03)
    assert manifest["request"]["prompt"] == request["prompt"]
    assert record.key.startswith("oxen/") and record.key.endswith(f"/{FAST}/fox.mp4")


async def test_running_the_flow_again_does_not_pay_again(
    credentials, emulator, workdir: Path, unique: str
) -> None:
    request = {"model": FAST, "prompt": f"rerun {unique}", "duration": 1}
    pipeline = _pipeline(workdir)
    first = await pipeline(request, credentials, "again")
    second = await pipeline(request, credentials, "again")
    assert emulator.stats()["billed_generations"] == 1
    assert second[1].generation_id == first[1].generation_id
    assert second[3].sha256 == first[3].sha256 and second[3].uploaded is False


async def test_without_the_cache_the_journal_still_prevents_paying_twice(
    credentials, emulator, workdir: Path, unique: str
) -> None:
    request = {"model": FAST, "prompt": f"journal {unique}", "duration": 1}
    pipeline = _pipeline(workdir)
    first = await pipeline(request, credentials, "journal")
    second = await pipeline(request, credentials, "journal", refresh=True)
    assert second[1].reattached and second[1].generation_id == first[1].generation_id
    assert emulator.stats()["billed_generations"] == 1
    assert emulator.stats()["requests"].get("POST /api/ai/queue") == 1


async def test_a_submission_interrupted_before_its_answer_is_found_not_repaid(
    credentials, emulator, workdir: Path, unique: str
) -> None:
    """A process died after POSTing but before journaling the id: the next run finds it queued."""
    from prefect_oxen.client import AsyncOxenClient
    from prefect_oxen.tasks import JournalEntry

    request = {"model": FAST, "prompt": f"interrupted {unique}", "duration": 1}
    journal = GenerationJournal(workdir / "journal" / "j.jsonl")
    identity = "lost:" + VideoRequest(**request).fingerprint()
    journal.record(JournalEntry(identity=identity, state="submitting", mode="queue", model=FAST))
    async with AsyncOxenClient(api_key=API_KEY, base_url=emulator.base_url) as oxen:
        [paid] = await oxen.enqueue(VideoRequest(**request))
    *_, record = await _pipeline(workdir)(request, credentials, "lost")
    assert emulator.stats()["billed_generations"] == 1
    assert (
        json.loads(Path(record.manifest_uri.removeprefix("file://")).read_text())["generation_id"]
        == paid.generation_id
    )


async def test_a_failed_generation_is_retried_once_and_billed_once(
    credentials, emulator, workdir: Path, unique: str
) -> None:
    emulator.configure(faults={"generation_failure": 1.0, "limit": 1})
    request = {"model": FAST, "prompt": f"flaky {unique}", "duration": 1}
    *_, record = await _pipeline(workdir)(request, credentials, "flaky")
    assert record.uploaded
    assert emulator.stats()["billed_generations"] == 1
    assert emulator.stats()["requests"]["POST /api/ai/queue"] == 2


async def test_inline_b64_video_goes_through_the_sync_endpoint(
    credentials, emulator, workdir: Path, unique: str
) -> None:
    request = {
        "model": FAST,
        "prompt": f"inline {unique}",
        "duration": 2,
        "response_format": "b64_json",
    }
    _, result, persisted, record = await _pipeline(workdir)(request, credentials, "inline")
    assert result.mode == "sync" and result.generation_id is None and result.staged_path
    [billed] = emulator.generations()
    assert persisted.sha256 == billed["sha256"] == record.sha256


async def test_truncated_download_is_recovered(
    credentials, emulator, workdir: Path, unique: str
) -> None:
    emulator.configure(faults={"truncated_download": 1.0, "limit": 2})
    request = {"model": FAST, "prompt": f"truncated {unique}", "duration": 2}
    _, _, persisted, _ = await _pipeline(workdir)(request, credentials, "cut")
    assert persisted.sha256 == emulator.generations()[0]["sha256"]


async def test_expired_url_is_recovered(credentials, emulator, workdir: Path, unique: str) -> None:
    emulator.configure(faults={"expired_url": 1.0, "limit": 1})
    request = {"model": FAST, "prompt": f"expired {unique}", "duration": 2}
    _, _, persisted, _ = await _pipeline(workdir)(request, credentials, "expired")
    assert persisted.sha256 == emulator.generations()[0]["sha256"]
    assert emulator.stats()["billed_generations"] == 1


async def test_invalid_request_fails_before_any_paid_call(
    credentials, emulator, workdir: Path
) -> None:
    with pytest.raises(RequestValidationError, match="duration value '2' is invalid"):
        await _pipeline(workdir)(
            {"model": "kling-video-v2-6-pro-text-to-video", "prompt": "a", "duration": 2},
            credentials,
            "bad",
        )
    assert not any(route.startswith("POST") for route in emulator.stats()["requests"])


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"<html><body>502 Bad Gateway</body></html>", "not"),
        (b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64, "mp4"),
    ],
    ids=["html-error-page", "truncated-mp4"],
)
async def test_a_file_that_is_not_the_video_is_rejected_and_removed(
    credentials, workdir: Path, content: bytes, words: str
) -> None:
    staged = workdir / "staging" / "bad.mp4"
    staged.write_bytes(content)
    result = GenerationResult(
        key="bad",
        fingerprint="0" * 64,
        model=FAST,
        mode="sync",
        staged_path=str(staged),
        request={"model": FAST, "prompt": "x", "duration": 2},
    )

    with pytest.raises(VideoVerificationError) as caught:
        await _persist_once(result, credentials, workdir / "videos")
    assert words in str(caught.value)
    assert not (workdir / "videos" / "bad.mp4").exists()


async def test_a_video_of_the_wrong_length_is_rejected(
    credentials, emulator, workdir: Path, unique: str
) -> None:
    request = {
        "model": FAST,
        "prompt": f"length {unique}",
        "duration": 2,
        "response_format": "b64_json",
    }
    _, result, _persisted, _ = await _pipeline(workdir)(request, credentials, "len")
    lying = result.model_copy(update={"request": {**result.request, "duration": 6}, "key": "len2"})

    with pytest.raises(VideoVerificationError, match="duration"):
        await _persist_once(lying, credentials, workdir / "videos")


async def test_deliver_video_persists_and_archives_in_one_task_run(
    credentials, emulator, workdir: Path, unique: str
) -> None:
    from prefect_oxen.tasks import deliver_video

    @flow
    async def generate_then_deliver():
        try:
            result = await generate_video(
                {"model": FAST, "prompt": f"deliver {unique}", "duration": 2},
                credentials,
                key="delivered",
                journal_path=str(workdir / "journal" / "j.jsonl"),
            )
            return await deliver_video(
                result, credentials, workdir / "videos", str(workdir / "archive")
            )
        finally:
            await close_shared_clients()

    delivered = await generate_then_deliver()
    archived = Path(delivered.record.uri.removeprefix("file://"))
    assert archived.exists() and delivered.record.sha256 == emulator.generations()[0]["sha256"]
    assert not Path(delivered.persisted.path).exists()  # the local copy went once archived
    assert Path(delivered.persisted.poster_path).exists()


async def test_a_paid_video_of_the_wrong_length_is_quarantined_not_deleted(
    credentials, emulator, workdir: Path, unique: str
) -> None:
    from prefect_oxen.media import VideoQuarantined
    from prefect_oxen.storage import sha256_file

    request = {"model": FAST, "prompt": f"quarantine {unique}", "duration": 2}
    _, result, _persisted, _ = await _pipeline(workdir)(request, credentials, "paid")
    # As if the API had made 2 s of the 6 s asked for.
    short = result.model_copy(update={"request": {**result.request, "duration": 6}, "key": "short"})

    kept = []
    for _ in range(2):  # the second time too: reported again, not deleted silently
        with pytest.raises(VideoQuarantined) as caught:
            await _persist_once(short, credentials, workdir / "videos")
        kept.append(caught.value)
    [billed] = emulator.generations()
    assert kept[0].path == kept[1].path
    path = kept[0].path
    assert path.parent == workdir / "videos" / "quarantine" and path.name.startswith("short.")
    assert sha256_file(path) == billed["sha256"]
    assert not (workdir / "videos" / "short.mp4").exists()
    assert str(kept[1]).startswith(
        f"The paid video short failed verification and was kept, not deleted: {path} "
    )
    assert f"generation {result.generation_id} stays in the journal" in str(kept[1])
    note = json.loads(kept[0].reason_path.read_text())
    assert note["generation_id"] == result.generation_id and note["sha256"] == billed["sha256"]
    assert note["expected"]["duration_seconds"] == 6
    assert note["found"]["duration_seconds"] == pytest.approx(2, abs=0.2)
    assert note["problems"][0].startswith("duration is 2.")
    assert emulator.stats()["billed_generations"] == 1


async def test_a_multi_shot_video_whose_length_the_api_chose_is_kept_with_a_warning(
    credentials, emulator, workdir: Path, unique: str
) -> None:
    request = {"model": FAST, "prompt": f"shots {unique}", "duration": 2}
    _, result, _persisted, _ = await _pipeline(workdir)(request, credentials, "made")
    shots = [{"prompt": "a", "duration": 3}, {"prompt": "b", "duration": 4}]
    multi = result.model_copy(
        update={"request": {"model": FAST, "multi_prompt": shots}, "key": "multi"}
    )

    persisted = await _persist_once(multi, credentials, workdir / "videos")
    assert Path(persisted.path).exists()
    assert persisted.verification["checks"]["duration"] is False
    [warning] = persisted.verification["warnings"]
    assert "expected 7 s" in warning
    assert not (workdir / "videos" / "quarantine").exists()


async def test_a_sync_video_failing_verification_keeps_its_staged_copy_too(
    credentials, emulator, workdir: Path, unique: str
) -> None:
    from prefect_oxen.media import VideoQuarantined
    from prefect_oxen.storage import sha256_file

    request = {
        "model": FAST,
        "prompt": f"sync kept {unique}",
        "duration": 2,
        "response_format": "b64_json",
    }
    _, result, _persisted, _ = await _pipeline(workdir)(request, credentials, "inline")
    wrong_shape = result.model_copy(
        update={"request": {**result.request, "aspect_ratio": "9:16"}, "key": "tall"}
    )

    with pytest.raises(VideoQuarantined, match="expected 9:16") as caught:
        await _persist_once(
            wrong_shape, credentials, workdir / "videos", quarantine_dir=workdir / "held"
        )
    [billed] = emulator.generations()
    assert caught.value.path.parent == workdir / "held"
    assert sha256_file(caught.value.path) == billed["sha256"]
    assert sha256_file(result.staged_path) == billed["sha256"]  # sync results have no other copy
    assert "running again reuses the staged file" in str(caught.value)
