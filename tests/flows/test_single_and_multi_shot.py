"""One video, and one video made of several shots (natively or stitched)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prefect_oxen.flows import generate_video_flow, multi_shot_flow
from prefect_oxen.media import probe_video
from tests.support import FAST, O3


def _path(uri: str) -> Path:
    return Path(uri.removeprefix("file://"))


async def test_single_video_flow_returns_the_archive_record(
    credentials, emulator, workdir: Path, unique: str
) -> None:
    record = await generate_video_flow(
        {"model": FAST, "prompt": f"one {unique}", "duration": 2},
        credentials,
        archive=str(workdir / "archive"),
        key="one",
    )
    assert record.uploaded and _path(record.uri).exists()
    assert json.loads(_path(record.manifest_uri).read_text())["model"] == FAST
    assert emulator.stats()["billed_generations"] == 1


async def test_multi_prompt_model_makes_one_native_generation(
    credentials, emulator, workdir: Path, unique: str
) -> None:
    shots = [{"prompt": f"a {unique}", "duration": 2}, {"prompt": "b", "duration": 3}]
    result = await multi_shot_flow(
        O3, shots, credentials, archive=str(workdir / "archive"), key="native"
    )
    assert result.strategy == "native"
    assert emulator.stats()["billed_generations"] == 1
    assert probe_video(_path(result.video.uri)).duration_seconds == pytest.approx(5, abs=0.2)


async def test_other_models_get_shots_generated_concurrently_and_stitched(
    credentials, emulator, workdir: Path, unique: str
) -> None:
    shots = [
        {"prompt": f"first {unique}", "duration": 2},
        {"prompt": "second", "duration": 3},
        {"prompt": "third", "duration": 1},
    ]
    result = await multi_shot_flow(
        FAST,
        shots,
        credentials,
        archive=str(workdir / "archive"),
        key="stitched",
        aspect_ratio="1:1",
    )
    assert result.strategy == "stitched" and result.stitch_method == "remux"
    assert emulator.stats()["billed_generations"] == 3
    stitched = probe_video(_path(result.video.uri))
    assert stitched.duration_seconds == pytest.approx(6, abs=0.2)  # the shots' durations summed
    assert stitched.width == stitched.height
    assert [_path(r.uri).name for r in result.shots] == [
        "stitched-shot-01.mp4",
        "stitched-shot-02.mp4",
        "stitched-shot-03.mp4",
    ]
    assert all(_path(r.uri).exists() for r in result.shots)
    manifest = json.loads(_path(result.video.manifest_uri).read_text())
    assert manifest["extra"]["strategy"] == "stitched" and len(manifest["extra"]["shots"]) == 3
    assert manifest["cost_usd"] == pytest.approx(0.06)


@pytest.fixture
def no_aws_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """boto3 finds no credentials anywhere (and asks no metadata server)."""
    import boto3

    # boto3's default session keeps the credentials it first resolved (an earlier S3 test's).
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@pytest.mark.parametrize("flow_kind", ["single", "multi-shot"])
@pytest.mark.parametrize(
    ("archive", "words"),
    [
        ("under-a-file", "Cannot write to archive"),
        ("s3://team-videos/oxen", "No AWS credentials for s3://team-videos/oxen"),
    ],
    ids=["unwritable-directory", "s3-without-credentials"],
)
async def test_an_archive_that_cannot_take_the_video_fails_the_flow_before_paying(
    credentials,
    emulator,
    workdir: Path,
    unique: str,
    no_aws_credentials: None,
    flow_kind: str,
    archive: str,
    words: str,
) -> None:
    from prefect_oxen.storage import ArchiveUnavailable

    if archive == "under-a-file":
        (workdir / "plain-file").write_text("a file where a directory would have to be")
        archive = str(workdir / "plain-file" / "archive")
    # Journal and work files elsewhere, as a deployment would have them: only the archive is bad.
    places = {
        "archive": archive,
        "journal": str(workdir / "journal" / "j.jsonl"),
        "work_dir": str(workdir / "staging"),
    }
    with pytest.raises(ArchiveUnavailable, match=words):
        if flow_kind == "single":
            await generate_video_flow(
                {"model": FAST, "prompt": f"nowhere {unique}", "duration": 1},
                credentials,
                key="nowhere",
                **places,
            )
        else:
            await multi_shot_flow(
                O3,
                [{"prompt": f"a {unique}", "duration": 2}, {"prompt": "b", "duration": 2}],
                credentials,
                key="nowhere",
                **places,
            )
    assert emulator.generations() == []
    assert not any(route.startswith("POST") for route in emulator.stats()["requests"])


async def test_a_paid_video_failing_verification_is_quarantined_and_a_rerun_does_not_pay(
    credentials, emulator, workdir: Path, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect_oxen.media import verify_video
    from prefect_oxen.storage import sha256_file
    from prefect_oxen.tasks import produce_video

    def expecting_three_seconds_more(path, *, expected_duration=None, **checks):
        # What a model that ignored the requested length looks like to the verification.
        return verify_video(path, expected_duration=(expected_duration or 0) + 3, **checks)

    monkeypatch.setattr("prefect_oxen.engine._persist.verify_video", expecting_three_seconds_more)
    monkeypatch.setattr(
        "prefect_oxen.flows.single.produce_video", produce_video.with_options(retries=0)
    )
    request = {"model": FAST, "prompt": f"kept {unique}", "duration": 1}
    places = {"archive": str(workdir / "archive"), "work_dir": str(workdir / "staging")}
    messages = []
    for _ in range(2):
        with pytest.raises(RuntimeError, match="VideoQuarantined") as caught:
            await generate_video_flow(request, credentials, key="kept", **places)
        messages.append(str(caught.value))
    [billed] = emulator.generations()
    assert emulator.stats()["billed_generations"] == 1  # the re-run reattached, paid nothing
    assert emulator.stats()["requests"]["POST /api/ai/queue"] == 1
    [kept] = (workdir / "staging" / "quarantine").glob("kept.*.mp4")
    assert sha256_file(kept) == billed["sha256"]
    assert kept.with_suffix(".json").exists()
    assert all(f"kept, not deleted: {kept}" in message for message in messages)
    assert not list((workdir / "archive").rglob("*.mp4"))
