"""atomic_write and sha256_file."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from prefect_oxen.storage import atomic_write, sha256_file


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
