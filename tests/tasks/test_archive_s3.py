"""archive_video to S3: prefect-aws blocks on moto in-process, and boto3 over HTTP end to end."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from moto.server import ThreadedMotoServer
from prefect import flow
from prefect_aws import AwsCredentials, S3Bucket

from prefect_oxen.tasks import archive_video, close_shared_clients, generate_video, persist_video
from tests.support import FAST

from ..conftest import API_KEY


def _generate_and_archive(workdir: Path, destination):
    @flow
    async def to_s3(request: dict, credentials, key: str):
        try:
            result = await generate_video(
                request, credentials, key=key, journal_path=str(workdir / "journal" / "j.jsonl")
            )
            persisted = await persist_video(result, credentials, workdir / "videos")
            first = await archive_video(
                persisted, result, destination, credentials, extra={"note": API_KEY}
            )
            again = await archive_video(persisted, result, destination, credentials)
            return persisted, first, again
        finally:
            await close_shared_clients()

    return to_s3


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)


async def test_archive_through_prefect_aws_blocks(
    aws_env, credentials, emulator, workdir: Path, unique: str
) -> None:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="videos")
        bucket = S3Bucket(
            bucket_name="videos",
            bucket_folder="team-a",
            credentials=AwsCredentials(region_name="us-east-1"),
        )
        request = {"model": FAST, "prompt": f"s3 {unique}", "duration": 2}
        persisted, first, again = await _generate_and_archive(workdir, bucket)(
            request, credentials, "clip-1"
        )

        assert first.uploaded and not again.uploaded
        assert first.uri.startswith("s3://videos/team-a/oxen/")
        object_key = first.uri.removeprefix("s3://videos/")
        head = s3.head_object(Bucket="videos", Key=object_key, ChecksumMode="ENABLED")
        assert head["ContentType"] == "video/mp4"
        assert head["ChecksumSHA256"] == base64.b64encode(bytes.fromhex(persisted.sha256)).decode()
        body = s3.get_object(Bucket="videos", Key=object_key)["Body"].read()
        assert hashlib.sha256(body).hexdigest() == persisted.sha256
        manifest_key = object_key.removesuffix(".mp4") + ".json"
        manifest_text = s3.get_object(Bucket="videos", Key=manifest_key)["Body"].read().decode()
        assert json.loads(manifest_text)["sha256"] == persisted.sha256
        everything = manifest_text + json.dumps(head["Metadata"])
        assert API_KEY not in everything
        assert all(value.isascii() for value in head["Metadata"].values())


async def test_archive_to_an_s3_uri_over_http(
    aws_env, credentials, emulator, workdir: Path, unique: str, monkeypatch
) -> None:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        s3.create_bucket(Bucket="archive")
        request = {"model": FAST, "prompt": f"http {unique}", "duration": 2}
        persisted, first, again = await _generate_and_archive(workdir, "s3://archive/nightly")(
            request, credentials, "clip-2"
        )
        assert first.uploaded and not again.uploaded
        object_key = first.uri.removeprefix("s3://archive/")
        assert object_key.startswith("nightly/oxen/")
        body = s3.get_object(Bucket="archive", Key=object_key)["Body"].read()
        assert (
            hashlib.sha256(body).hexdigest()
            == persisted.sha256
            == emulator.generations()[0]["sha256"]
        )
        import httpx

        assert httpx.get(first.view_url).content == body  # the presigned link works
    finally:
        server.stop()
