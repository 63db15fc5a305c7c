"""How a command ends: the exit codes, the `BadInput` error, and one-line failure messages.

Expected failures (bad input, a rejected key, a failed generation) end a command with a message
on stderr and an exit code, never a traceback.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from prefect_oxen.cli._output import err_console
from prefect_oxen.client import (
    AuthenticationError,
    ModelNotFound,
    OxenError,
    RequestValidationError,
)

__all__ = ["BadInput", "ExitCode", "fail", "handle_errors"]

F = TypeVar("F", bound=Callable[..., Any])


class ExitCode(enum.IntEnum):
    """The CLI's exit codes (130 / 143 for SIGINT / SIGTERM come from `StopRequested`)."""

    OK = 0
    ITEMS_FAILED = 1
    BAD_INPUT = 2


class BadInput(Exception):
    """The command cannot run as given (file, model, request, key); reported without traceback."""


def fail(message: str, code: ExitCode = ExitCode.BAD_INPUT) -> typer.Exit:
    """Print `message` on stderr and return the `typer.Exit` to raise.

    Args:
        message: One line saying what went wrong (Rich markup allowed).
        code: The exit code the command ends with.

    Returns:
        The exception to raise (``raise fail(...)``), so the caller's control flow stays visible.
    """
    err_console().print(f"[bold red]Error:[/] {message}")
    return typer.Exit(int(code))


def handle_errors(func: F) -> F:
    """Turn expected failures into a one-line message and an exit code, never a traceback.

    Args:
        func: A typer command.

    Returns:
        The command, wrapped: `BadInput`, a rejected key, an unknown model, an invalid request
        or a missing file exit 2; any other error exits 1 with its type and message.
    """

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
            raise fail(
                f"{type(exc).__name__}: {exc} (see the run's logs, or use -v)",
                ExitCode.ITEMS_FAILED,
            ) from None

    return wrapper  # type: ignore[return-value]
