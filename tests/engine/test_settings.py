"""Flow parameters to settings: one resolver for the flows and their stop hooks."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from prefect_oxen.blocks import OxenCredentials
from prefect_oxen.engine import PipelineSettings, RunPlaces
from prefect_oxen.storage import InvalidObjectKey


def test_a_local_archive_keeps_journal_and_work_files_inside_it(tmp_path: Path) -> None:
    settings = PipelineSettings.build(str(tmp_path / "archive"))
    assert settings.state_location == str(tmp_path / "archive" / ".oxen-journal.jsonl")
    assert settings.work_dir == tmp_path / "archive" / ".oxen-work"


def test_an_s3_archive_keeps_its_run_state_in_the_bucket_and_scratch_files_locally() -> None:
    from prefect.settings import PREFECT_HOME

    settings = PipelineSettings.build("s3://bucket/videos")
    folder = hashlib.sha256(b"s3://bucket/videos").hexdigest()[:16]
    # What was paid for lives with the archive (any machine that writes it sees it); only
    # scratch space is local.
    assert settings.state_location == "s3://bucket/videos/.oxen-state"
    assert settings.work_dir == Path(PREFECT_HOME.value()) / "oxen" / folder / "work"


def test_an_s3_bucket_block_keeps_its_run_state_under_its_folder() -> None:
    from prefect_aws import AwsCredentials, S3Bucket

    block = S3Bucket(bucket_name="bucket", bucket_folder="clips/", credentials=AwsCredentials())
    assert PipelineSettings.build(block).state_location == "s3://bucket/clips/.oxen-state"


def test_explicit_journal_and_work_dir_win(tmp_path: Path) -> None:
    settings = PipelineSettings.build(
        str(tmp_path / "a"), journal=str(tmp_path / "j.jsonl"), work_dir=str(tmp_path / "w")
    )
    assert (settings.state_location, settings.work_dir) == (
        str(tmp_path / "j.jsonl"),
        tmp_path / "w",
    )


def test_a_bad_key_template_fails_before_anything_is_paid(tmp_path: Path) -> None:
    with pytest.raises(InvalidObjectKey):
        PipelineSettings.build(str(tmp_path), key_template="{prefix}/../{key}")


async def test_the_flows_and_the_hooks_find_the_same_run_state(tmp_path: Path) -> None:
    arguments = {"archive": str(tmp_path / "archive"), "journal": None, "work_dir": None}
    run = await RunPlaces(credentials=OxenCredentials(api_key="k"), **arguments).aresolve(
        mode="queue", prefix="p"
    )
    # A hook sees the run's stored parameters, the flow's other parameters included.
    stored = {"items": [], "budget": 1.0, "credentials": None, **arguments}
    assert RunPlaces.model_validate(stored).state() is run.settings.state()
    assert run.settings.mode == "queue" and run.settings.prefix == "p"
    assert run.credentials.api_key.get_secret_value() == "k"


def test_a_hook_never_takes_prefects_masked_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OXEN_API_KEY", "from-the-environment")
    stored = {"credentials": {"api_key": "**********", "base_url": "http://oxen.test"}}
    credentials = RunPlaces.model_validate(stored).unmasked_credentials()
    assert credentials.api_key.get_secret_value() == "from-the-environment"
    assert credentials.base_url == "http://oxen.test"


def test_a_block_given_as_a_block_is_used_as_is() -> None:
    block = OxenCredentials(api_key="k")
    assert RunPlaces(credentials=block).unmasked_credentials() is block
