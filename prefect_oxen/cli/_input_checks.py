"""Checks of a command's input that need no run: the batch file, the archive, an item id.

Each runs before Prefect starts and before anything is paid, and fails with `BadInput`.
"""

from __future__ import annotations

from pathlib import Path

from prefect_oxen.cli._exit_codes import BadInput

__all__ = ["EXPECTED_BATCH", "check_archive", "check_item_id", "check_source"]

EXPECTED_BATCH = "one JSON request per line, or a CSV with a header row"


def check_source(file: str) -> str:
    """The batch file as the flow should read it.

    Args:
        file: The command's FILE argument: a path, an ``s3://`` URI or an ``oxen://`` file URI.

    Returns:
        An S3 or Oxen URI unchanged, else the file's absolute path.

    Raises:
        BadInput: The path is a directory, missing, unreadable, empty or not a regular file.
    """
    if file.startswith("s3://"):
        return file
    if file.lower().startswith("oxen://"):
        return _check_oxen_uri(file, what="batch file")
    path = Path(file).expanduser()
    if path.is_dir():
        raise BadInput(f"Cannot read {file}: it is a directory (expected a .jsonl or .csv batch).")
    if not path.exists():
        raise BadInput(f"Cannot read {file}: no such file (expected a .jsonl or .csv batch).")
    try:
        with path.open("rb") as handle:
            first = handle.read(1)
    except OSError as exc:
        raise BadInput(f"Cannot read {file}: {exc.strerror or exc}.") from None
    if not first:
        raise BadInput(f"{file} is empty: nothing to generate ({EXPECTED_BATCH}).")
    if not path.is_file():
        # A pipe or device cannot be read again by the flow.
        raise BadInput(f"Cannot read {file}: not a regular file; save the batch to a file first.")
    return str(path.resolve())


def check_archive(archive: str) -> None:
    """Check that the archive can take videos now, before anything is paid.

    Args:
        archive: The ``--archive`` value: a directory, an ``s3://`` URI or an ``oxen://``
            repository URI (its syntax only: the run reaches the repository before paying).

    Raises:
        BadInput: The directory is not writable, or the S3 URI is invalid or its bucket
            unreachable with the credentials at hand.
    """
    from prefect_oxen.storage import ArchiveUnavailable, InvalidS3Uri, check_destination

    if archive.lower().startswith("oxen://"):
        # Reached (and created if missing) by the run before it pays: it needs the credentials.
        _check_oxen_uri(archive, what="archive")
        return
    try:
        check_destination(archive)
    except (ArchiveUnavailable, InvalidS3Uri) as exc:
        raise BadInput(str(exc)) from None


def check_item_id(item_id: str, *, option: str = "--id") -> str:
    """Check an id against the one rule every command and batch line follows.

    Args:
        item_id: The id given.
        option: The option it came from, for the message.

    Returns:
        `item_id` unchanged (ids are refused, never silently renamed).

    Raises:
        BadInput: The id breaks the rule; the message says how.
    """
    from prefect_oxen.storage import InvalidItemId, validate_item_id

    try:
        return validate_item_id(item_id)
    except InvalidItemId as exc:
        raise BadInput(f"{option}: {exc}.") from None


def _check_oxen_uri(text: str, *, what: str) -> str:
    """`text` unchanged when it is a valid ``oxen://NS/REPO[@BRANCH][/PATH]`` URI."""
    from prefect_oxen.client import InvalidRepoUri, OxenRepoUri

    try:
        OxenRepoUri.parse(text)
    except InvalidRepoUri as exc:
        raise BadInput(f"Invalid {what} {text}: {exc}") from None
    return text
