"""Atomic output paths for files written by PyAV (which wants a path, not a file object).

Deliberately not `prefect_oxen.storage._atomic`: media and storage are independent leaf packages,
and this variant differs anyway (it yields a path for a muxer to open, not an open file).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temp path next to `path`; on success fsync it and rename it over `path`.

    Args:
        path: The file a writer (FFmpeg, a PNG encoder) will produce.

    Yields:
        A temp path in the same directory for the writer to fill; it is removed on error.
    """
    target = Path(path)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would make outputs unreadable to other users
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
