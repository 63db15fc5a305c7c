"""Paid once on any machine: `prefect-oxen batch` with its defaults on "machines" that share no
disk (each its own working directory and PREFECT_HOME, so each its own Prefect too) and one S3
archive. What one run paid for, and what it holds, lives in the archive: nothing is paid twice
when a machine dies, when two start together, or when a finished batch runs again elsewhere.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.support import KLING, wait_for

from ..conftest import API_KEY

CLI = str(Path(sys.executable).with_name("prefect-oxen"))
BUCKET = "shared-archive"
N = 6


@pytest.fixture
def s3(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    for name, value in _aws(moto_server).items():
        monkeypatch.setenv(name, value)
    client = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1")
    if BUCKET not in [b["Name"] for b in client.list_buckets()["Buckets"]]:
        client.create_bucket(Bucket=BUCKET)
    return client


def _aws(endpoint: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


class Machine:
    """A working directory of its own, with its own PREFECT_HOME and the batch file in it."""

    def __init__(self, root: Path, name: str, emulator: Any, endpoint: str, batch: str) -> None:
        self.cwd = root / name
        (self.cwd / "prefect-home").mkdir(parents=True)
        (self.cwd / "batch.jsonl").write_text(batch)
        keep = ("PATH", "HOME", "LANG", "TMPDIR", "PYTHONPATH")
        self.env = {k: v for k, v in os.environ.items() if k in keep}
        self.env.update(
            _aws(endpoint),
            PREFECT_HOME=str(self.cwd / "prefect-home"),
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            DO_NOT_TRACK="1",
            PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="120",
            OXEN_API_KEY=API_KEY,
            OXEN_BASE_URL=emulator.base_url,
        )

    def start(self, archive: str) -> subprocess.Popen[str]:
        """`prefect-oxen batch batch.jsonl --archive ARCHIVE`, nothing else, in its own group."""
        return subprocess.Popen(
            [CLI, "batch", "batch.jsonl", "--archive", archive],
            cwd=self.cwd,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )

    def run(self, archive: str) -> str:
        process = self.start(archive)
        output, _ = process.communicate(timeout=240)
        assert process.returncode == 0, output[-3000:]
        return output


@pytest.fixture
def machines(tmp_path: Path, emulator: Any, s3: Any, moto_server: str, unique: str) -> Any:
    batch = "".join(
        json.dumps({"id": f"shot-{i}", "model": KLING, "prompt": f"{unique} {i}", "duration": 5})
        + "\n"
        for i in range(N)
    )
    return lambda name: Machine(tmp_path, name, emulator, moto_server, batch)


def _videos(s3: Any, prefix: str) -> list[str]:
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    return [obj["Key"] for obj in listed if obj["Key"].endswith(".mp4")]


@pytest.mark.slow
def test_a_machine_killed_after_paying_is_finished_elsewhere_without_paying_again(
    emulator: Any, s3: Any, machines: Any
) -> None:
    emulator.configure(latency=20)  # the API holds every generation a while
    archive = f"s3://{BUCKET}/killed-{uuid.uuid4().hex[:6]}"
    machine_a = machines("machine-a").start(archive)
    try:
        # A deadline, not a pace: a fresh machine starts Prefect's ephemeral server first,
        # which takes long on a loaded 2-core runner.
        wait_for(
            lambda: len(emulator.generations()) == N,
            timeout=200,
            what="machine A to have all its generations on the API",
        )
    except AssertionError as exc:
        os.killpg(machine_a.pid, signal.SIGKILL)  # then say what it was doing
        said = machine_a.communicate(timeout=30)[0]
        raise AssertionError(f"{exc}; machine A said:\n{said[-3000:]}") from exc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(machine_a.pid, signal.SIGKILL)
        machine_a.wait(30)
    assert _videos(s3, archive.split("/", 3)[3]) == []  # A died before archiving anything

    output = machines("machine-b").run(archive)

    assert len(_videos(s3, archive.split("/", 3)[3])) == N
    assert emulator.stats()["billed_generations"] == N, output[-3000:]
    assert len(emulator.generations()) == N  # not even enqueued twice


@pytest.mark.slow
def test_two_machines_starting_the_same_batch_together_pay_once(
    emulator: Any, s3: Any, machines: Any
) -> None:
    emulator.configure(latency=4)
    archive = f"s3://{BUCKET}/together-{uuid.uuid4().hex[:6]}"
    started = [machines(name).start(archive) for name in ("machine-a", "machine-b")]
    outputs = [process.communicate(timeout=240)[0] for process in started]
    for process, output in zip(started, outputs, strict=True):
        assert process.returncode == 0, output[-3000:]

    assert len(_videos(s3, archive.split("/", 3)[3])) == N
    assert emulator.stats()["billed_generations"] == N, outputs
    assert len(emulator.generations()) == N


@pytest.mark.slow
def test_a_finished_batch_run_again_on_a_fresh_machine_pays_nothing(
    emulator: Any, s3: Any, machines: Any
) -> None:
    emulator.configure(latency=1)
    archive = f"s3://{BUCKET}/again-{uuid.uuid4().hex[:6]}"
    machines("machine-a").run(archive)
    assert emulator.stats()["billed_generations"] == N

    output = machines("machine-c").run(archive)

    assert emulator.stats()["billed_generations"] == N  # nothing new paid
    assert f"{N} ({N} already archived)" in " ".join(output.split()), output[-3000:]
