"""Quiet, self-contained Prefect settings for the CLI, applied before Prefect is imported.

A newcomer running `prefect-oxen` should not get a database in their home directory, telemetry
errors when offline, a start-up timeout on a slow machine or a page of INFO logs over the progress
bar. Anything the user configured explicitly wins.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

__all__ = [
    "default_prefect_home",
    "prefect_console_on_stderr",
    "prepare_environment",
    "quiet_handlers",
    "user_configured_prefect",
]

# Prefect's default (20 s) is too short for a fresh temporary server on a slow machine.
_STARTUP_TIMEOUT = "120"


def user_configured_prefect() -> bool:
    """True when the user chose where Prefect lives (env vars or a profiles file in ~/.prefect).

    Returns:
        True when ``PREFECT_HOME`` or ``PREFECT_API_URL`` is set, or ``~/.prefect/profiles.toml``
        exists.
    """
    if os.environ.get("PREFECT_HOME") or os.environ.get("PREFECT_API_URL"):
        return True
    return (Path.home() / ".prefect" / "profiles.toml").is_file()


def default_prefect_home() -> Path:
    """Project-local Prefect home used when the user has none: ``./.prefect``.

    Returns:
        ``./.prefect`` under the working directory.
    """
    return Path.cwd() / ".prefect"


def prepare_environment(*, verbose: bool = False) -> None:
    """Set Prefect's environment for this process (and its subprocesses) unless already set.

    Args:
        verbose: Keep Prefect's console logs at INFO (``--verbose``) instead of CRITICAL.
    """
    if not user_configured_prefect():
        os.environ["PREFECT_HOME"] = str(default_prefect_home())
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", _STARTUP_TIMEOUT)
    os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "prefect_oxen")
    # Run logs still reach the API (and the UI); only the terminal copy is quieted, because the
    # CLI prints its own progress and summary. --verbose restores Prefect's console logs.
    os.environ.setdefault(
        "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "INFO" if verbose else "CRITICAL"
    )
    os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "WARNING" if verbose else "CRITICAL")
    _hide_shutdown_noise()


class _ShutdownNoiseFilter(logging.Filter):
    """Drops the `CancelledError` traceback Prefect 3.9.1's event services may log at exit."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep `record` unless it is the shutdown `CancelledError` noise.

        Args:
            record: The log record.

        Returns:
            False for the noise, True for everything else.
        """
        exc = record.exc_info[1] if record.exc_info else None
        text = record.getMessage()
        if "task_run_recorder" in text or "task_run_recorder" in record.name:
            return exc is None and "CancelledError" not in text
        return not (exc is not None and type(exc).__name__ == "CancelledError")


def _hide_shutdown_noise() -> None:
    """Attach the noise filter to the loggers Prefect's shutdown noise comes from."""
    names = ("prefect", "prefect.server", "prefect.server.services", "asyncio")
    _filter_noise(logging.getLogger(name) for name in names)


def quiet_handlers() -> None:
    """Attach the shutdown-noise filter to every configured handler (after Prefect is imported).

    A logger's filters do not see records logged by its children; its handlers' filters do.
    """
    _filter_noise(_all_handlers())


def _filter_noise(targets: Iterable[logging.Filterer]) -> None:
    """Attach one `_ShutdownNoiseFilter` to each of `targets` that has none yet."""
    noise = _ShutdownNoiseFilter()
    for target in targets:
        if not any(isinstance(f, _ShutdownNoiseFilter) for f in target.filters):
            target.addFilter(noise)


def _all_handlers() -> list[logging.Handler]:
    """Every handler attached to any logger, once each."""
    loggers = [
        logging.getLogger(),
        *[logging.getLogger(n) for n in list(logging.root.manager.loggerDict)],
    ]
    handlers: dict[int, logging.Handler] = {}
    for logger in loggers:
        for handler in getattr(logger, "handlers", []):
            handlers[id(handler)] = handler
    return list(handlers.values())


def _prefect_console_handlers() -> list[logging.StreamHandler[TextIO]]:
    """Prefect's console handlers, whichever loggers they are attached to."""
    return [
        handler
        for handler in _all_handlers()
        if type(handler).__name__ == "PrefectConsoleHandler"
        and isinstance(handler, logging.StreamHandler)
    ]


def _point_at(handler: logging.StreamHandler[TextIO], stream: TextIO) -> None:
    """Make `handler` (and its Rich console, when it has one) write to `stream`."""
    handler.setStream(stream)
    console = getattr(handler, "console", None)
    if console is not None:
        console.file = stream


@contextmanager
def prefect_console_on_stderr(*, verbose: bool = False) -> Iterator[None]:
    """While a command runs, Prefect's console handler writes to the current ``sys.stderr``.

    At the CLI's level: CRITICAL unless --verbose or PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL.
    Prefect binds the handler to the stream of the moment it configured logging, and takes its
    level from the environment of that moment: when Prefect was imported before the CLI ran (an
    in-process call, a notebook, tests) neither is the CLI's.

    Args:
        verbose: Show Prefect's INFO logs (``--verbose``).

    Yields:
        Nothing; the handlers are restored (stream and level) when the block ends.
    """
    level = (
        "INFO" if verbose else os.environ.get("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
    )
    previous = {id(h): h.level for h in _prefect_console_handlers()}
    for handler in _prefect_console_handlers():
        _point_at(handler, sys.stderr)
        handler.setLevel(level)
    try:
        yield
    finally:
        for handler in _prefect_console_handlers():
            _point_at(handler, sys.__stderr__ or sys.stderr)
            handler.setLevel(previous.get(id(handler), logging.NOTSET))
