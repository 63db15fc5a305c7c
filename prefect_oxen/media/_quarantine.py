"""Keeping a paid video that failed verification aside, with a note saying why.

A video that decodes but is not what was asked for (wrong length, wrong shape) was still paid
for, and it may be usable; deleting it would leave nothing to look at and invite paying again.
So it is moved into a quarantine folder with a small JSON note next to it.
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from prefect_oxen._files import atomic_write, link_or_copy

__all__ = ["QuarantinedVideo", "quarantine_video"]


class QuarantinedVideo(BaseModel):
    """Where a quarantined video and the note saying why now are."""

    model_config = ConfigDict(frozen=True)

    path: Path
    reason_path: Path


def quarantine_video(
    path: str | os.PathLike[str],
    directory: str | os.PathLike[str],
    *,
    reason: Mapping[str, Any],
    name: str | None = None,
    keep_original: bool = False,
) -> QuarantinedVideo:
    """Move the video at `path` into `directory` and write ``<name minus .mp4>.json`` beside it.

    Args:
        path: The video to keep aside.
        directory: The quarantine folder (created if missing).
        reason: JSON-friendly facts for the note (what failed, ids); no secrets.
        name: File name in the folder (default: the video's own). Put something content-derived
            in it (a hash) so a different video never replaces one already kept.
        keep_original: Link or copy instead of moving, for a file that must stay where it is.

    Returns:
        Where the video and its note now are.
    """
    source = Path(path)
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / (name or source.name)
    note = target.with_suffix(".json")
    facts = {
        "video": target.name,
        "quarantined_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        **reason,
    }
    with atomic_write(note, "w") as f:
        f.write(json.dumps(facts, indent=2, default=str) + "\n")
    if keep_original:
        link_or_copy(source, target)
    else:
        _move(source, target)
    return QuarantinedVideo(path=target, reason_path=note)


def _move(source: Path, target: Path) -> None:
    """Move `source` to `target`, across filesystems too (copy, then remove)."""
    try:
        os.replace(source, target)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        # Another filesystem: copy completely under a temp name first, then drop the source.
        link_or_copy(source, target)
        source.unlink()
