"""The typer options several commands share, declared once so they read and behave the same."""

from __future__ import annotations

import enum
from typing import Annotated, Optional

import typer

from prefect_oxen.client import API_KEY_ENV, BASE_URL_ENV

__all__ = [
    "DEFAULT_ARCHIVE",
    "ArchiveOption",
    "BaseUrlOption",
    "ConcurrencyOption",
    "CredentialsBlockOption",
    "Mode",
    "ModeOption",
    "VerboseOption",
]

DEFAULT_ARCHIVE = "./oxen-archive"

BaseUrlOption = Annotated[
    Optional[str],  # noqa: UP045 (typer needs Optional on 3.10)
    typer.Option(
        "--base-url",
        envvar=BASE_URL_ENV,
        help="Root URL of the Oxen API or a compatible server (default https://hub.oxen.ai).",
        show_default=False,
    ),
]
CredentialsBlockOption = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(
        "--credentials-block",
        help=f"Name of a saved OxenCredentials block; without it the key comes from {API_KEY_ENV}.",
        show_default=False,
    ),
]


def _known_archive(value: str) -> str:
    """The ``--archive`` value, once it is a directory path or a supported URI.

    Checked as the option is read, so every command that takes it (a dry run and ``cancel``
    too) refuses ``gs://...`` or a mistyped ``s3:/...`` before doing anything, rather than
    taking it as a local directory. Whether the destination is writable is checked later,
    by the commands that write (`check_archive`).
    """
    from rich.markup import escape

    from prefect_oxen.cli._exit_codes import fail
    from prefect_oxen.storage import UnsupportedArchive, archive_scheme

    try:
        archive_scheme(value)
    except UnsupportedArchive as exc:
        raise fail(escape(str(exc))) from None
    return value


ArchiveOption = Annotated[
    str,
    typer.Option(
        "--archive",
        help="Local directory, s3://bucket/prefix or oxen://NS/REPO(@BRANCH)(/PREFIX) for videos "
        "and manifests.",
        callback=_known_archive,
    ),
]


class Mode(str, enum.Enum):
    """How a video is requested: the blocking endpoint, the queue, or the flows' choice."""

    auto = "auto"
    sync = "sync"
    queue = "queue"


ModeOption = Annotated[
    Mode,
    typer.Option(
        "--mode",
        help="sync (blocking endpoint), queue (resumable, events) or auto (queue unless b64_json).",
    ),
]
VerboseOption = Annotated[
    bool, typer.Option("--verbose", "-v", help="Show Prefect's own run logs in the terminal.")
]

# batch and demo: None means the flow's own default (one source of truth for it).
ConcurrencyOption = Annotated[
    Optional[int],  # noqa: UP045 (typer needs Optional on 3.10)
    typer.Option(
        min=1,
        help="Generations this run keeps unfinished on the API at once [default: the flow's].",
    ),
]
