"""Which run owns an item: an exclusive claim, so two overlapping runs never pay for it twice.

Two runs of one batch (a scheduled run and a manual one, say) share the journal. Without a claim
both can read "not generated yet" before either has announced its submission, and both pay. A
claim is an exclusive ``flock`` on a small file per item next to the journal, held while the item
is generated, verified and archived: the second run waits for it, then reads the journal again
and finds the item archived. ``flock`` locks belong to an open file and die with the process, so
a crashed run never leaves an item claimed. They bind processes on one machine (or one NFS/POSIX
file system); runs on several machines need a shared journal location, see README.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path

__all__ = ["ItemClaim", "claim_item"]

logger = logging.getLogger("prefect_oxen.engine")

# Waiting for another run to finish an item takes minutes (a generation); checking every second
# at most costs nothing and keeps the wait cancellable, which a blocking flock in a thread is not.
_RECHECK_FIRST, _RECHECK_MAX = 0.05, 1.0


class ItemClaim:
    """An exclusive claim on one item (identity) among every run that shares `journal_path`."""

    def __init__(self, journal_path: str | os.PathLike[str], identity: str) -> None:
        digest = hashlib.sha256(identity.encode()).hexdigest()[:32]
        self.path = Path(f"{os.fspath(journal_path)}.claims") / digest
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        """Take the claim if nobody holds it; False if another run (or task) does."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        """Let the next run have the item (closing the file drops the lock)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


@contextlib.asynccontextmanager
async def claim_item(
    journal_path: str | os.PathLike[str], identity: str, *, label: str = ""
) -> AsyncIterator[bool]:
    """Hold the item's claim while the block runs; yields True if it had to wait for another run
    (the caller should then read the journal again before paying)."""
    claim = ItemClaim(journal_path, identity)
    waited = False
    delay = _RECHECK_FIRST
    while not claim.try_acquire():
        if not waited:
            logger.info(
                "%s is being produced by another run; waiting for it.", label or identity[:12]
            )
            waited = True
        await asyncio.sleep(delay)
        delay = min(delay * 2, _RECHECK_MAX)
    try:
        yield waited
    finally:
        claim.release()
