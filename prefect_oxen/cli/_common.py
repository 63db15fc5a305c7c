"""What every command shares: exit codes, options, credentials, error reporting and the summary."""

from __future__ import annotations

import enum
import functools
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from prefect_oxen.client import (
    AuthenticationError,
    ModelNotFound,
    OxenClient,
    OxenError,
    RequestValidationError,
)
from prefect_oxen.client import API_KEY_ENV, BASE_URL_ENV

if TYPE_CHECKING:
    from prefect_oxen.blocks import OxenCredentials
    from prefect_oxen.flows import BatchReport

__all__ = [
    "DEFAULT_ARCHIVE",
    "ArchiveOption",
    "BadInput",
    "BaseUrlOption",
    "ConcurrencyOption",
    "CredentialsBlockOption",
    "ExitCode",
    "Mode",
    "ModeOption",
    "VerboseOption",
    "api_client",
    "archive_location",
    "check_archive",
    "check_item_id",
    "cli_credentials",
    "console",
    "err_console",
    "fail",
    "handle_errors",
    "load_credentials_block",
    "money",
    "print_batch_summary",
    "require_api_key",
]

DEFAULT_ARCHIVE = "./oxen-archive"

F = TypeVar("F", bound=Callable[..., Any])


class ExitCode(enum.IntEnum):
    """The CLI's exit codes."""

    OK = 0
    ITEMS_FAILED = 1
    BAD_INPUT = 2


class BadInput(Exception):
    """The command cannot run as given (file, model, request, key); reported without traceback."""


# Consoles are built on use so they write to whatever sys.stdout/sys.stderr are at the time
# (typer's CliRunner swaps them).
def console() -> Console:
    return Console(highlight=False, soft_wrap=False, width=_width())


def err_console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True, width=_width())


def _width() -> int | None:
    # Non-terminal output (pipes, CI logs, tests) gets a width wide enough for the tables.
    return None if os.isatty(1) else 160


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
ArchiveOption = Annotated[
    str,
    typer.Option("--archive", help="Local directory or s3://bucket/prefix for videos and manifests."),
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


def fail(message: str, code: ExitCode = ExitCode.BAD_INPUT) -> typer.Exit:
    """Print `message` on stderr and return the `typer.Exit` to raise."""
    err_console().print(f"[bold red]Error:[/] {message}")
    return typer.Exit(int(code))


def handle_errors(func: F) -> F:
    """Turn expected failures into a one-line message and an exit code, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except BadInput as exc:
            raise fail(str(exc)) from None
        except (AuthenticationError, ModelNotFound, RequestValidationError) as exc:
            raise fail(str(exc)) from None
        except FileNotFoundError as exc:
            raise fail(str(exc)) from None
        except OxenError as exc:
            raise fail(f"{type(exc).__name__}: {exc}", ExitCode.ITEMS_FAILED) from None
        except (typer.Exit, typer.Abort):
            raise
        except Exception as exc:
            # Anything else ended the run (storage, network, a bug); the run's logs in Prefect
            # keep the traceback, the terminal gets the reason.
            raise fail(f"{type(exc).__name__}: {exc} (see the run's logs, or use -v)", ExitCode.ITEMS_FAILED) from None

    return wrapper  # type: ignore[return-value]


def require_api_key() -> str:
    """The key from the environment, or `BadInput` saying how to provide one."""
    key = (os.environ.get(API_KEY_ENV) or "").strip()
    if not key:
        raise BadInput(
            f"No Oxen API key: set {API_KEY_ENV}, or pass --credentials-block NAME "
            "(create one with `prefect-oxen blocks create`)."
        )
    return key


def load_credentials_block(name: str) -> OxenCredentials:
    """A saved `OxenCredentials` block, or `BadInput` naming the way to create it."""
    from prefect_oxen.blocks import OxenCredentials

    try:
        return OxenCredentials.load(name)
    except ValueError:
        raise BadInput(
            f"No OxenCredentials block named {name!r}. Create it with "
            f"`prefect-oxen blocks create --name {name}` (reads {API_KEY_ENV})."
        ) from None


def cli_credentials(base_url: str | None, credentials_block: str | None) -> OxenCredentials:
    """The credentials a flow run gets: the saved block or the environment, `--base-url` on top."""
    from prefect_oxen.blocks import OxenCredentials

    if credentials_block:
        credentials = load_credentials_block(credentials_block)
        if not credentials.api_key:
            require_api_key()  # the block may rely on the environment; say so if it is empty
    else:
        credentials = OxenCredentials(api_key=require_api_key())
    if base_url:
        credentials = credentials.model_copy(update={"base_url": base_url})
    return credentials


@contextmanager
def api_client(base_url: str | None, credentials_block: str | None) -> Iterator[OxenClient]:
    """A blocking client; without a block name, Prefect is not even imported."""
    if credentials_block:
        client = cli_credentials(base_url, credentials_block).get_client()
    else:
        client = OxenClient(api_key=require_api_key(), base_url=base_url)
    with client:
        yield client


def check_archive(archive: str) -> None:
    """`BadInput` unless the archive can take videos now: checked before anything is paid."""
    from prefect_oxen.storage import ArchiveUnavailable, InvalidS3Uri, check_destination

    try:
        check_destination(archive)
    except (ArchiveUnavailable, InvalidS3Uri) as exc:
        raise BadInput(str(exc)) from None


def check_item_id(item_id: str, *, option: str = "--id") -> str:
    """`item_id` if it follows the one id rule every command and batch line follows, else
    `BadInput` (ids are refused, never silently renamed)."""
    from prefect_oxen.storage import InvalidItemId, validate_item_id

    try:
        return validate_item_id(item_id)
    except InvalidItemId as exc:
        raise BadInput(f"{option}: {exc}.") from None


def money(value: float | None) -> str:
    return "" if value is None else f"${value:,.4f}".rstrip("0").rstrip(".") if value < 0.01 else f"${value:,.2f}"


def archive_location(archive: str) -> str:
    """A human form of the archive target: an absolute directory or the S3 URI."""
    if archive.startswith("s3://"):
        return archive
    return str(Path(archive).expanduser().resolve())


_STATUS_STYLE = {
    "archived": "green",
    "skipped": "green",
    "validated": "cyan",
    "failed": "red",
    "rejected": "yellow",
    "not_submitted": "yellow",
}


def print_batch_summary(report: BatchReport, *, archive: str, title: str = "Batch") -> None:
    """Per-item table, then totals: items, succeeded, failed, cost and where the files are."""
    out = console()
    table = Table(title=title, title_justify="left", show_lines=False)
    for column in ("id", "line", "model", "status", "cost", "archive / reason"):
        table.add_column(column, overflow="fold")
    for item in report.items:
        style = _STATUS_STYLE.get(item.status, "")
        cost = item.cost_usd if item.cost_usd is not None else item.estimated_cost_usd
        where = item.error or _relative(item.archive_uri) or ""
        table.add_row(
            item.key, str(item.line or ""), item.model or "", f"[{style}]{item.status}[/]",
            money(cost), where,
        )
    out.print(table)
    succeeded = report.count("archived") + report.count("skipped")
    failed = report.count("failed")
    rejected = report.count("rejected")
    not_submitted = report.count("not_submitted")
    totals = Table.grid(padding=(0, 2))
    totals.add_column(style="bold")
    totals.add_column()
    totals.add_row("items", str(len(report.items)))
    if report.dry_run:
        totals.add_row("validated", str(report.count("validated")))
    else:
        totals.add_row("succeeded", f"{succeeded} ({report.count('skipped')} already archived)")
        totals.add_row("failed", str(failed))
    totals.add_row("rejected", str(rejected))
    if not_submitted:
        totals.add_row("not submitted", str(not_submitted))
    totals.add_row("cost", report.costs())  # this run's spend apart from what earlier runs paid
    if report.budget_usd is not None:
        totals.add_row("budget", money(report.budget_usd))
    if not report.dry_run:
        totals.add_row("videos + manifests", archive_location(archive))
    out.print(totals)


def _relative(uri: str | None) -> str | None:
    if not uri:
        return None
    if uri.startswith("file://"):
        path = Path(uri.removeprefix("file://"))
        try:
            return str(path.relative_to(Path.cwd()))
        except ValueError:
            return str(path)
    return uri
