"""prefect_oxen._files: atomic writes, links and copies into place, sha256."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from prefect_oxen._files import (
    atomic_output,
    atomic_write,
    copy_file,
    link_into_place,
    link_or_copy,
    sha256_file,
)


def test_replaces_the_file_only_on_success(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with atomic_write(target) as f:
        f.write(b"new")
        assert target.read_bytes() == b"old"  # not visible until the block ends
    assert target.read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["out.bin"]


def test_error_keeps_the_old_file_and_removes_the_temp(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="boom"), atomic_write(target) as f:
        f.write(b"partial")
        raise RuntimeError("boom")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["out.bin"]


def test_text_mode_and_permissions(tmp_path: Path) -> None:
    target = tmp_path / "note.txt"
    with atomic_write(target, "w") as f:
        f.write("héllo")
    assert target.read_text(encoding="utf-8") == "héllo"
    assert target.stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600


def test_existing_mode_is_kept(tmp_path: Path) -> None:
    target = tmp_path / "script.sh"
    target.write_text("old")
    target.chmod(0o755)
    with atomic_write(target, "w") as f:
        f.write("new")
    assert target.stat().st_mode & 0o777 == 0o755


def test_rejects_read_modes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mode"), atomic_write(tmp_path / "x", "rb"):
        pass


def test_sha256_file_matches_hashlib(tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)  # spans several read blocks
    path = tmp_path / "data"
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()


def test_atomic_output_fills_a_temp_path_then_replaces(tmp_path: Path) -> None:
    target = tmp_path / "out.mp4"
    with atomic_output(target) as tmp:
        assert tmp.parent == tmp_path and tmp != target
        tmp.write_bytes(b"video")
        assert not target.exists()
    assert target.read_bytes() == b"video"
    assert target.stat().st_mode & 0o777 == 0o644
    assert os.listdir(tmp_path) == ["out.mp4"]


def test_atomic_output_removes_the_temp_on_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="boom"), atomic_output(tmp_path / "out.mp4") as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("boom")
    assert os.listdir(tmp_path) == []


def test_copy_file_returns_the_hash_of_what_it_copied(tmp_path: Path) -> None:
    data = os.urandom(2 * 1024 * 1024 + 5)
    (tmp_path / "src").write_bytes(data)
    digest = copy_file(tmp_path / "src", tmp_path / "dst")
    assert digest == hashlib.sha256(data).hexdigest()
    assert (tmp_path / "dst").read_bytes() == data


def test_copy_file_verify_can_refuse_before_the_rename(tmp_path: Path) -> None:
    (tmp_path / "src").write_bytes(b"new")
    (tmp_path / "dst").write_bytes(b"old")
    seen: list[str] = []

    def refuse(digest: str) -> None:
        seen.append(digest)
        raise ValueError("wrong hash")

    with pytest.raises(ValueError, match="wrong hash"):
        copy_file(tmp_path / "src", tmp_path / "dst", verify=refuse)
    assert seen == [hashlib.sha256(b"new").hexdigest()]
    assert (tmp_path / "dst").read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["dst", "src"]


def test_link_into_place_shares_the_inode(tmp_path: Path) -> None:
    (tmp_path / "src").write_bytes(b"video")
    (tmp_path / "dst").write_bytes(b"old")
    assert link_into_place(tmp_path / "src", tmp_path / "dst") is True
    assert os.path.samefile(tmp_path / "src", tmp_path / "dst")
    assert sorted(os.listdir(tmp_path)) == ["dst", "src"]


def test_link_into_place_reports_failure_and_changes_nothing(tmp_path: Path) -> None:
    (tmp_path / "dst").write_bytes(b"old")
    assert link_into_place(tmp_path / "missing", tmp_path / "dst") is False
    assert (tmp_path / "dst").read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["dst"]


def test_link_or_copy_copies_where_links_fail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "src").write_bytes(b"video")

    def no_links(*_args: object) -> None:
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", no_links)
    link_or_copy(tmp_path / "src", tmp_path / "dst")
    assert (tmp_path / "dst").read_bytes() == b"video"
    assert not os.path.samefile(tmp_path / "src", tmp_path / "dst")
    assert sorted(os.listdir(tmp_path)) == ["dst", "src"]
