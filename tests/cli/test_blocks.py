"""`blocks register|create`: saved on the Prefect server, usable with --credentials-block."""

from __future__ import annotations

import uuid

import pytest

from ..conftest import API_KEY
from .conftest import flat


def test_register_block_types(cli) -> None:
    result = cli("blocks", "register")
    assert result.exit_code == 0
    assert "Registered block type Oxen Credentials" in result.stdout


def test_create_then_use_the_block(cli, oxen_env, monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect_oxen import OxenCredentials

    name = f"oxen-{uuid.uuid4().hex[:8]}"
    created = cli("blocks", "create", "--name", name)
    assert created.exit_code == 0, created.stderr
    assert f"Saved OxenCredentials block {name}" in flat(created.stdout)
    saved = OxenCredentials.load(name)
    assert saved.api_key.get_secret_value() == API_KEY
    assert saved.base_url == oxen_env.base_url

    again = cli("blocks", "create", "--name", name)
    assert again.exit_code == 2
    assert "--overwrite" in flat(again.stderr)

    # The block alone is enough: no key and no base URL in the environment.
    monkeypatch.delenv("OXEN_API_KEY")
    monkeypatch.delenv("OXEN_BASE_URL")
    listed = cli("models", "--credentials-block", name)
    assert listed.exit_code == 0, listed.stderr
    assert "kling-video-v2-6-pro-text-to-video" in listed.stdout


def test_create_needs_a_key(cli, oxen_env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OXEN_API_KEY")
    result = cli("blocks", "create", "--name", f"oxen-{uuid.uuid4().hex[:8]}")
    assert result.exit_code == 2
    assert "No Oxen API key" in result.stderr


def test_create_with_an_s3_archive(cli, oxen_env, monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect_aws import S3Bucket

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIATESTEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret-do-not-print")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    suffix = uuid.uuid4().hex[:8]
    result = cli(
        "blocks",
        "create",
        "--name",
        f"oxen-{suffix}",
        "--s3-bucket",
        "videos",
        "--s3-block-name",
        f"archive-{suffix}",
        "--aws-block-name",
        f"aws-{suffix}",
        "--s3-folder",
        "nightly",
    )
    assert result.exit_code == 0, result.stderr
    assert "aws-secret-do-not-print" not in result.stdout + result.stderr
    bucket = S3Bucket.load(f"archive-{suffix}")
    assert (bucket.bucket_name, bucket.bucket_folder) == ("videos", "nightly")
    assert bucket.credentials.aws_client_parameters.endpoint_url == "http://127.0.0.1:9"
