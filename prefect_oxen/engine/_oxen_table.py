"""The dataset table of an Oxen archive: one JSONL row per archived video, merged by path.

The table is what a fine-tuning job reads: a repository-relative video `path` and its caption
(`prompt`), plus what made the video and what it cost. Rows are keyed by `path`, so merging the
committed table with a run's new rows can never hold a video twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from prefect_oxen.storage import ArchiveManifest

__all__ = ["TABLE_COLUMNS", "dataset_row", "merge_rows", "parse_table", "render_table"]

#: The table's columns, in the order each row is written.
TABLE_COLUMNS: tuple[str, ...] = (
    "path",
    "prompt",
    "model",
    "duration",
    "aspect_ratio",
    "generate_audio",
    "seed",
    "cost_usd",
    "sha256",
    "generation_id",
    "flow_run_id",
)

#: How the shots of a multi-shot prompt are joined into one caption.
SHOT_SEPARATOR = " | "


def _shots(request: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The request's shots (empty for a single-prompt request)."""
    shots = request.get("multi_prompt")
    return [s for s in shots if isinstance(s, Mapping)] if isinstance(shots, list) else []


def _caption(request: Mapping[str, Any]) -> str:
    """The request's prompt, or its shots' prompts joined with `SHOT_SEPARATOR`."""
    if isinstance(request.get("prompt"), str):
        return str(request["prompt"])
    return SHOT_SEPARATOR.join(str(s.get("prompt", "")) for s in _shots(request))


def _duration(request: Mapping[str, Any], verification: Mapping[str, Any] | None) -> Any:
    """The requested seconds (the shots' sum), else what the probe measured."""
    if request.get("duration") is not None:
        return request["duration"]
    shots = [s.get("duration") for s in _shots(request)]
    if shots and all(isinstance(d, (int, float)) for d in shots):
        return sum(shots)
    measured = (verification or {}).get("duration_seconds")
    return measured if isinstance(measured, (int, float)) else None


def dataset_row(
    path: str, manifest: ArchiveManifest, *, sha256: str, flow_run_id: str | None
) -> dict[str, Any]:
    """The table row of one archived video (no secrets: the manifest's request is scrubbed).

    Args:
        path: The video's repository-relative path.
        manifest: Its manifest.
        sha256: The video's hex sha256.
        flow_run_id: The flow run that archived it.

    Returns:
        The row, with every column of `TABLE_COLUMNS` in order.
    """
    request = manifest.request
    values = {
        "path": path,
        "prompt": _caption(request),
        "model": manifest.model,
        "duration": _duration(request, manifest.verification),
        "aspect_ratio": request.get("aspect_ratio"),
        "generate_audio": bool(request.get("generate_audio", False)),
        "seed": request.get("seed"),
        "cost_usd": manifest.cost_usd,
        "sha256": sha256,
        "generation_id": manifest.generation_id,
        "flow_run_id": flow_run_id,
    }
    return {column: values[column] for column in TABLE_COLUMNS}


def parse_table(data: bytes) -> dict[str, dict[str, Any]]:
    """The rows of a stored table, keyed by path (a later row for a path wins).

    Args:
        data: The JSONL file's bytes.

    Returns:
        Path to row; lines that are not JSON objects with a string `path` are kept under a
        ``#<their text>`` key so a merge never drops (or doubles) them.
    """
    rows: dict[str, dict[str, Any]] = {}
    for line in data.decode("utf-8-sig").splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            row = {"raw": line}
        if isinstance(row, dict) and isinstance(row.get("path"), str):
            rows[row["path"]] = row
        else:
            # Keyed by its text, not its place: merging two reads of the table keeps it once.
            rows[f"#{line.strip()}"] = row if isinstance(row, dict) else {"raw": line}
    return rows


def merge_rows(
    committed: Mapping[str, dict[str, Any]], new: Iterable[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """The committed rows with `new` rows added or replacing the row of their path.

    Args:
        committed: The table at the branch head, keyed by path.
        new: This run's rows.

    Returns:
        Path to row: one row per path.
    """
    merged = dict(committed)
    for row in new:
        merged[row["path"]] = row
    return merged


def render_table(rows: Mapping[str, dict[str, Any]]) -> bytes:
    """The table as JSONL bytes, rows sorted by path (a stable file diffs well).

    Args:
        rows: Path to row.

    Returns:
        One JSON object per line.
    """
    # A line kept as found (no path: see `parse_table`) is written back as it was.
    lines = [
        key[1:] if key.startswith("#") else json.dumps(rows[key], ensure_ascii=False)
        for key in sorted(rows)
    ]
    return ("\n".join(lines) + "\n").encode("utf-8") if lines else b""
