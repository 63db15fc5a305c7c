"""Which archive destinations are URIs, and which of those the package archives to (issue 21)."""

from __future__ import annotations

from pathlib import Path

import pytest

from prefect_oxen.storage import (
    ArchiveUnavailable,
    UnsupportedArchive,
    archive_scheme,
    check_destination,
)


@pytest.mark.parametrize(
    "path",
    ["oxen-archive", "./oxen-archive", "/srv/videos", "~/videos", "C:/videos", "./gs:/x", "a:b"],
)
def test_paths_are_local_directories(path: str) -> None:
    assert archive_scheme(path) is None


def test_s3_uris_are_s3() -> None:
    assert archive_scheme("s3://bucket/prefix") == "s3"


@pytest.mark.parametrize(
    ("destination", "hint"),
    [
        ("hf://me/clips", "hf:// is not an archive this package writes to."),
        ("gs://bucket/x", "gs:// is not an archive this package writes to."),
        ("az:/container", "az:// is not an archive this package writes to."),
        ("s3:/bucket", "did you mean s3://bucket?"),
        ("s3:///bucket", "did you mean s3://bucket?"),
        ("S3://bucket/x", "did you mean s3://bucket/x?"),
        ("file:///srv/videos", "give the directory's path, /srv/videos."),
        (Path("hf://me/clips"), "hf:// is not an archive this package writes to."),
    ],
)
def test_other_uris_are_refused_with_the_supported_schemes(
    destination: str | Path, hint: str
) -> None:
    with pytest.raises(UnsupportedArchive) as caught:
        archive_scheme(destination)
    assert str(caught.value).endswith(
        f"{hint} An archive is a local directory path or a URI starting with s3:// or oxen://."
    )
    assert isinstance(caught.value, ArchiveUnavailable)  # what the CLI and flows already catch
    assert caught.value.destination == str(destination)


def test_the_preflight_refuses_them_without_writing_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UnsupportedArchive):
        check_destination("hf://me/clips")
    assert list(tmp_path.iterdir()) == []


def test_oxen_repositories_are_supported_and_left_to_the_engine_to_reach(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert archive_scheme("oxen://me/clips@main/videos") == "oxen"
    check_destination("oxen://me/clips")  # no client here: nothing checked, nothing written
    assert list(tmp_path.iterdir()) == []


def test_a_scheme_is_supported_by_adding_it_to_the_one_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("prefect_oxen.storage._preflight.ARCHIVE_SCHEMES", ("s3", "oxen", "gs"))
    assert archive_scheme("gs://bucket") == "gs"
    with pytest.raises(UnsupportedArchive, match=r"starting with s3:// or oxen:// or gs://\.$"):
        archive_scheme("az://container")
