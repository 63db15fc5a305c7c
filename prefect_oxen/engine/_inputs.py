"""Reading batch input: a list of requests, or a JSONL / CSV file on disk or in S3.

A bad line never sinks the batch: it becomes an `InputProblem` with its line number and the rest
of the file runs.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import csv
import hashlib
import io
import json
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from prefect_oxen.storage import InvalidItemId, validate_item_id

__all__ = ["BatchInput", "BatchItem", "InputProblem", "load_batch_items", "readable_key"]

_CSV_INTS = {"duration", "seed", "num_inference_steps"}
_CSV_BOOLS = {"generate_audio"}
_CSV_JSON = {"multi_prompt", "input_image", "elements"}


_SLUG_WORDS = 6


def readable_key(request: dict[str, Any]) -> str:
    """An id for a request that has none: the prompt's first words and a short hash.

    The hash is of the whole request, so two requests with one prompt still differ.

    Args:
        request: The request as JSON.

    Returns:
        E.g. ``red-fox-in-snow-3f2a9c`` (``video-3f2a9c`` without a prompt).
    """
    prompt = request.get("prompt")
    if not prompt and isinstance(request.get("multi_prompt"), list) and request["multi_prompt"]:
        first = request["multi_prompt"][0]
        prompt = first.get("prompt") if isinstance(first, dict) else None
    words = re.findall(r"[a-z0-9]+", str(prompt or "").lower())[:_SLUG_WORDS]
    digest = hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()
    return "-".join([*words, digest[:6]]) if words else f"video-{digest[:6]}"


class BatchItem(BaseModel):
    """One request of a batch, with the id it is reported and archived under."""

    key: str
    line: int | None = Field(default=None, description="Line (JSONL) or row (CSV) number, 1-based.")
    request: dict[str, Any]


class InputProblem(BaseModel):
    """A line that could not become a request."""

    key: str = Field(
        description="The line's label (``line 7``; ``item 7`` in a list): it has a space, so it "
        "is never an item's id and a report keyed by it cannot mix the line up with an item."
    )
    line: int | None
    error: str


class BatchInput(BaseModel):
    """What a batch input held: the items that became requests, and the lines that did not."""

    items: list[BatchItem] = Field(default_factory=list)
    problems: list[InputProblem] = Field(default_factory=list)
    source: str = "parameters"


def load_batch_items(source: str | list[dict[str, Any]] | list[BatchItem]) -> BatchInput:
    """Items from a list of request dicts, or from a ``.jsonl`` / ``.csv`` file: a path, an
    ``s3://`` URI or an ``oxen://NS/REPO[@BRANCH]/PATH`` repository file.

    Args:
        source: The requests, or where to read them (one request per line or row).

    Returns:
        The items, and a problem (with its line number) for every line that is not a request.

    Raises:
        FileNotFoundError: The file does not exist (locally or in the repository).
    """
    if isinstance(source, list):
        return _from_rows([(i + 1, row) for i, row in enumerate(source)], "parameters")
    text = _read_text(source)
    if str(source).lower().endswith(".csv"):
        return _from_rows(_csv_rows(text), str(source))
    rows: list[tuple[int, Any]] = []
    problems: list[InputProblem] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            rows.append((number, json.loads(line)))
        except json.JSONDecodeError as exc:
            problems.append(
                InputProblem(
                    key=f"line {number}",  # a label, never an id: it cannot collide with one
                    line=number,
                    error=f"line {number}: not valid JSON ({exc.msg} at column {exc.colno})",
                )
            )
    batch = _from_rows(rows, str(source))
    batch.problems = sorted(problems + batch.problems, key=lambda p: p.line or 0)
    return batch


def _read_text(source: str) -> str:
    """The text of a local file, an S3 object or an Oxen repository file."""
    if source.lower().startswith("oxen://"):
        return _read_repository_file(source)
    if source.startswith("s3://"):
        import boto3

        from prefect_oxen.storage import parse_s3_uri

        bucket, key = parse_s3_uri(source)
        body = boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        return body.decode("utf-8-sig")
    path = Path(source).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"Batch input {source} does not exist (expected a .jsonl or .csv file)."
        )
    return path.read_text(encoding="utf-8-sig")


def _read_repository_file(source: str) -> str:
    """The text of ``oxen://NS/REPO[@BRANCH]/PATH`` at the branch head, read with the running
    flow's credentials (else OXEN_API_KEY / OXEN_BASE_URL)."""
    from prefect_oxen.blocks import OxenCredentials
    from prefect_oxen.client import OxenRepoUri, RepositoryPathNotFound
    from prefect_oxen.engine._stop import run_credentials

    uri = OxenRepoUri.parse(source)
    if not uri.path:
        raise FileNotFoundError(f"Batch input {source} names no file (expected .../FILE.jsonl).")
    credentials = run_credentials() or OxenCredentials()

    async def read() -> bytes:
        client = credentials.get_async_client()
        try:
            return await client.repository(uri.namespace, uri.repo).read_bytes(uri.branch, uri.path)
        finally:
            await client.aclose()

    # Its own loop on a worker thread: this is called from sync code, inside a flow's loop too.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        try:
            data = pool.submit(asyncio.run, read()).result()
        except RepositoryPathNotFound:
            raise FileNotFoundError(
                f"Batch input {source} does not exist (expected a .jsonl or .csv file)."
            ) from None
    return data.decode("utf-8-sig")


def _csv_rows(text: str) -> list[tuple[int, Any]]:
    """The rows of a CSV file with their row numbers; a bad row is an exception in its place."""
    reader = csv.DictReader(io.StringIO(text))
    rows: list[tuple[int, Any]] = []
    for row in reader:
        number = reader.line_num
        if None in row:
            rows.append(
                (number, ValueError(f"row {number}: more cells than the header has columns"))
            )
            continue
        converted: dict[str, Any] = {}
        try:
            for name, cell in row.items():
                name = (name or "").strip()
                cell = (cell or "").strip()
                if not name or cell == "":
                    continue
                converted[name] = _csv_value(name, cell)
        except ValueError as exc:
            rows.append((number, ValueError(f"row {number}: {exc}")))
            continue
        rows.append((number, converted))
    return rows


def _csv_value(name: str, cell: str) -> Any:
    """A CSV cell as the field it fills expects (int, bool, JSON or text)."""
    if name in _CSV_INTS:
        try:
            return int(cell)
        except ValueError:
            raise ValueError(f"{name} must be a whole number, got {cell!r}") from None
    if name in _CSV_BOOLS:
        lowered = cell.lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
        raise ValueError(f"{name} must be true or false, got {cell!r}")
    if name in _CSV_JSON and cell[:1] in "[{":
        try:
            return json.loads(cell)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{name} is not valid JSON ({exc.msg})") from None
    return cell


def _from_rows(rows: list[tuple[int, Any]], source: str) -> BatchInput:
    """Items and problems from numbered rows; ids checked and unique.

    A problem is reported under its line's label (``line 7``, ``item 7`` for a list), which has a
    space and so can never be an id; an item without an id gets a generated one that no line of
    the input gives (see `_GeneratedIds`).
    """
    batch = BatchInput(source=source)
    label = "item" if source == "parameters" else "line"
    rows = [(n, {"id": r.key, **r.request} if isinstance(r, BatchItem) else r) for n, r in rows]
    generated = _GeneratedIds(rows)
    first_line: dict[str, int] = {}
    for number, row in rows:
        where = f"{label} {number}"
        if isinstance(row, Exception) or not isinstance(row, dict):
            error = (
                str(row)
                if isinstance(row, Exception)
                else (f"{where}: expected a JSON object, got {type(row).__name__}")
            )
            batch.problems.append(InputProblem(key=where, line=number, error=error))
            continue
        row = dict(row)
        raw_id = row.pop("id", None)
        problem = _id_problem(raw_id, first_line, label)
        if problem is not None:
            batch.problems.append(InputProblem(key=where, line=number, error=f"{where}: {problem}"))
            continue
        if raw_id in (None, ""):
            key = generated.for_line(number)
        else:
            key = str(raw_id)
            first_line[key] = number
        batch.items.append(BatchItem(key=key, line=number, request=row))
    return batch


def _id_problem(raw_id: Any, first_line: dict[str, int], label: str) -> str | None:
    """Why a line's `id` cannot be used (breaks the id rule, or an earlier line has it)."""
    if raw_id in (None, ""):
        return None
    try:
        validate_item_id(str(raw_id))  # the rule `generate --id` follows too
    except InvalidItemId as exc:
        return str(exc)
    if str(raw_id) in first_line:
        return (
            f"id {str(raw_id)!r} is already used by {label} {first_line[str(raw_id)]}; give each "
            f"{label} its own id (an id names the item's archived video and its report row)"
        )
    return None


class _GeneratedIds:
    """Ids for the items of an input that give none: ``item-0007`` for line 7.

    Never one any line of the input gives (valid or not): when line 7's ``item-0007`` is taken,
    it becomes ``item-0007-2`` (then ``-3``...). Ids of different lines differ by their number,
    so generated ids are unique too, and the same file always gets the same ids.
    """

    def __init__(self, rows: list[tuple[int, Any]]) -> None:
        self._given = {
            str(row["id"])
            for _, row in rows
            if isinstance(row, dict) and row.get("id") not in (None, "")
        }

    def for_line(self, number: int) -> str:
        """The generated id of line (or item) `number`."""
        base = candidate = f"item-{number:04d}"
        suffix = 1
        while candidate in self._given:
            suffix += 1
            candidate = f"{base}-{suffix}"
        return candidate
