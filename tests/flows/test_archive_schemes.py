"""Issue 21: an archive written as a URI the package does not archive to is refused by the flows
before anything is paid, never taken as a local directory (``oxen://me/clips`` used to write
the videos under ``./oxen:/me/clips``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from prefect_oxen.flows import batch_flow, generate_video_flow, multi_shot_flow
from prefect_oxen.storage import ARCHIVE_SCHEMES, UnsupportedArchive
from tests.support import FAST, O3

ARCHIVES = ["hf://me/synthetic-clips", "gs://bucket/x", "s3:/bucket/x", "S3://bucket/x"]


async def _run(flow_kind: str, archive: str, credentials, unique: str) -> object:
    if flow_kind == "single":
        return await generate_video_flow(
            {"model": FAST, "prompt": f"nowhere {unique}", "duration": 1},
            credentials,
            archive=archive,
            key="nowhere",
        )
    if flow_kind == "multi-shot":
        return await multi_shot_flow(
            O3,
            [{"prompt": f"a {unique}", "duration": 2}, {"prompt": "b", "duration": 2}],
            credentials,
            archive=archive,
            key="nowhere",
        )
    return await batch_flow(
        [{"id": "nowhere", "model": FAST, "prompt": f"nowhere {unique}", "duration": 1}],
        credentials,
        archive=archive,
    )


@pytest.mark.parametrize("flow_kind", ["single", "multi-shot", "batch"])
@pytest.mark.parametrize("archive", ARCHIVES)
async def test_an_unknown_archive_scheme_fails_the_flow_before_paying(
    credentials,
    emulator,
    workdir: Path,
    unique: str,
    monkeypatch: pytest.MonkeyPatch,
    flow_kind: str,
    archive: str,
) -> None:
    monkeypatch.chdir(workdir)
    before = sorted(p.name for p in workdir.iterdir())
    with pytest.raises(UnsupportedArchive) as caught:
        await _run(flow_kind, archive, credentials, unique)
    message = str(caught.value)
    assert message.startswith(f"Unsupported archive {archive}: ")
    assert (
        "An archive is a local directory path or a URI starting with s3:// or oxen://." in message
    )
    assert emulator.generations() == []
    assert not any(route.startswith("POST") for route in emulator.stats()["requests"])
    assert emulator.api_requests() == 0  # every flow, the batch too: before any API call
    # Nothing was written where the URI would have been taken as a directory.
    assert sorted(p.name for p in workdir.iterdir()) == before


def test_the_supported_schemes_are_one_list_the_message_is_built_from() -> None:
    assert ARCHIVE_SCHEMES == ("s3", "oxen")
