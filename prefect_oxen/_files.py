"""Files that appear whole or not at all: atomic writes, links and copies into place, sha256.

The recipe (hand-written: `atomicwrites`, the library for it, is archived): a temp file in the
target's directory, so `os.replace` is a same-filesystem rename; fsync the data, rename, fsync
the directory so the rename itself survives a crash. On any error the temp file is removed and
the target is left untouched.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

__all__ = [
    "atomic_output",
    "atomic_write",
    "copy_file",
    "fsync_directory",
    "link_into_place",
    "link_or_copy",
    "sha256_file",
]

CHUNK = 1024 * 1024
_WRITE_MODES = frozenset({"wb", "w", "wt"})


class _CannotLink(Exception):
    """`os.link` failed: another filesystem, no hard links there, or no permission."""


@contextlib.contextmanager
def _replace_on_success(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temp file beside `path`; renamed over `path` on success, removed on error."""
    target = Path(path)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        # mkstemp creates files 0600; give the result the permissions a plain open() would have.
        os.chmod(tmp, _default_file_mode(target))
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    fsync_directory(target.parent)


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temp path beside `path` for a writer that opens it itself (FFmpeg); on success it
    is fsynced and renamed over `path`, on error removed."""
    with _replace_on_success(path) as tmp:
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_write(
    path: str | os.PathLike[str], mode: str = "wb", *, encoding: str | None = None
) -> Iterator[IO[Any]]:
    """Open a temp file beside `path` in `mode` (``"wb"``, ``"w"``, ``"wt"``; text is UTF-8 unless
    `encoding` says otherwise); on success it is fsynced and renamed over `path`.

    Raises:
        ValueError: `mode` is not a write mode.
    """
    if mode not in _WRITE_MODES:
        raise ValueError(f"atomic_write mode must be one of {sorted(_WRITE_MODES)}, got {mode!r}")
    text_encoding = None if "b" in mode else encoding or "utf-8"
    with _replace_on_success(path) as tmp, open(tmp, mode, encoding=text_encoding) as handle:
        yield handle
        handle.flush()
        os.fsync(handle.fileno())


def copy_file(
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
    *,
    verify: Callable[[str], None] | None = None,
) -> str:
    """Copy `source` over `target` atomically, hashing while copying, and return the sha256;
    `verify` gets the hash before the rename and may raise to leave `target` untouched."""
    digest = hashlib.sha256()
    with open(source, "rb") as src, atomic_write(target) as out:
        while block := src.read(CHUNK):
            digest.update(block)
            out.write(block)
        if verify is not None:
            verify(digest.hexdigest())
    return digest.hexdigest()


def link_into_place(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> bool:
    """Hard-link `source` over `target` atomically; False, with nothing changed, where links fail."""
    try:
        with _replace_on_success(target) as tmp:
            tmp.unlink()  # os.link does not overwrite
            try:
                os.link(source, tmp)
            except OSError as exc:
                raise _CannotLink from exc
    except _CannotLink:
        return False
    return True


def link_or_copy(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
    """Hard-link `source` over `target` atomically, or copy it atomically where links fail."""
    if not link_into_place(source, target):
        copy_file(source, target)


def fsync_directory(directory: str | os.PathLike[str]) -> None:
    """Flush a directory's entries to disk so a completed rename survives power loss."""
    if os.name == "nt":  # directories cannot be opened for fsync on Windows
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The hex sha256 of a file, read in 1 MiB blocks (constant memory)."""
    digest = hashlib.sha256()
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buffer):
            digest.update(view[:n])
    return digest.hexdigest()


def _default_file_mode(target: Path) -> int:
    """The mode a new file at `target` gets: the existing file's, else 0644."""
    # Not 0666-minus-umask: reading the umask means setting it, process-wide and racy in threads.
    try:
        return target.stat().st_mode & 0o777
    except FileNotFoundError:
        return 0o644
