"""Atomic file writes and file hashing.

Hand-written because the one library for this (`atomicwrites`) is archived and unmaintained; the
recipe is short: temp file in the target's directory (so `os.replace` is a same-filesystem rename),
fsync the data, rename, fsync the directory so the rename itself survives a crash.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

_WRITE_MODES = frozenset({"wb", "w", "wt"})
_HASH_BLOCK = 1024 * 1024


@contextlib.contextmanager
def atomic_write(
    path: str | os.PathLike[str], mode: str = "wb", *, encoding: str | None = None
) -> Iterator[IO[Any]]:
    """Open a temp file next to `path` for writing; on success it atomically replaces `path`.

    On any exception the temp file is removed and `path` is left untouched.

    Args:
        path: The file to write.
        mode: ``"wb"``, ``"w"`` or ``"wt"``.
        encoding: Text encoding for text modes (default UTF-8).

    Yields:
        The open temp file; it is flushed, fsynced and renamed over `path` when the block ends.

    Raises:
        ValueError: `mode` is not a write mode.
    """
    if mode not in _WRITE_MODES:
        raise ValueError(f"atomic_write mode must be one of {sorted(_WRITE_MODES)}, got {mode!r}")
    target = Path(path)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        # mkstemp creates files 0600; give the result the permissions a plain open() would have.
        os.chmod(tmp, _default_file_mode(target))
        if "b" in mode:
            handle: IO[Any] = os.fdopen(fd, mode)
        else:
            handle = os.fdopen(fd, mode, encoding=encoding or "utf-8")
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    fsync_directory(target.parent)


def fsync_directory(directory: str | os.PathLike[str]) -> None:
    """Flush a directory entry to disk so a completed rename survives power loss (no-op on Windows).

    Args:
        directory: The directory whose entries were just renamed.
    """
    if os.name == "nt":  # directories cannot be opened for fsync on Windows
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Return the hex sha256 of a file, read in 1 MiB blocks (constant memory).

    Args:
        path: The file.

    Returns:
        Its hex sha256.
    """
    digest = hashlib.sha256()
    buffer = bytearray(_HASH_BLOCK)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buffer):
            digest.update(view[:n])
    return digest.hexdigest()


def _default_file_mode(target: Path) -> int:
    """The mode a new file at `target` gets: the existing file's, else 0644."""
    # Keep an existing file's mode; otherwise 0644-minus-umask. Reading the umask means setting it,
    # which is process-wide and racy under threads, so take the conventional 0644 instead.
    try:
        return target.stat().st_mode & 0o777
    except FileNotFoundError:
        return 0o644
