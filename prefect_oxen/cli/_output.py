"""Where the CLI writes and how it writes values: the two consoles, money, archive locations."""

from __future__ import annotations

import os
from pathlib import Path

from rich.console import Console

__all__ = ["archive_location", "console", "err_console", "money"]


# Consoles are built on use so they write to whatever sys.stdout/sys.stderr are at the time
# (typer's CliRunner swaps them).
def console() -> Console:
    """The console for results (tables, summaries) on the current ``sys.stdout``.

    Returns:
        A Rich console without highlighting; 160 columns wide when stdout is not a terminal.
    """
    return Console(highlight=False, soft_wrap=False, width=_width())


def err_console() -> Console:
    """The console for progress, problems and errors on the current ``sys.stderr``.

    Returns:
        A Rich console without highlighting, wrapping long lines.
    """
    return Console(stderr=True, highlight=False, soft_wrap=True, width=_width())


def _width() -> int | None:
    """None on a terminal (Rich measures it), else a width wide enough for the tables."""
    # Non-terminal output (pipes, CI logs, tests) gets a width wide enough for the tables.
    return None if os.isatty(1) else 160


def money(value: float | None) -> str:
    """A price as the CLI prints it.

    Args:
        value: US dollars, or None for no price.

    Returns:
        ``""`` for None, four decimals below one cent (trailing zeros dropped), else two.
    """
    if value is None:
        return ""
    if value < 0.01:
        return f"${value:,.4f}".rstrip("0").rstrip(".")
    return f"${value:,.2f}"


def archive_location(archive: str) -> str:
    """A human form of the archive target.

    Args:
        archive: The ``--archive`` value: a directory, an ``s3://`` or an ``oxen://`` URI.

    Returns:
        A URI unchanged, or the directory as an absolute path.
    """
    if archive.startswith("s3://") or archive.lower().startswith("oxen://"):
        return archive
    return str(Path(archive).expanduser().resolve())
