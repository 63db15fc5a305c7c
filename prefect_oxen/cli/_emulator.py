"""`prefect-oxen emulator`, and the check that the emulator's extra is installed.

The command forwards its arguments to the emulator's own command (`python -m
prefect_oxen.emulator`), imported when it runs: the rest of the CLI never loads the emulator.
"""

from __future__ import annotations

import typer
from rich.markup import escape

from prefect_oxen.cli._exit_codes import fail

__all__ = ["emulator_command", "require_emulator"]

_EXTRA = ("starlette", "uvicorn")


def require_emulator() -> None:
    """Import the emulator, or exit 2 saying how to install its extra when it is missing.

    Raises:
        typer.Exit: Starlette or uvicorn is not installed.
    """
    try:
        import prefect_oxen.emulator  # noqa: F401
    except ModuleNotFoundError as exc:
        if exc.name not in _EXTRA:
            raise
        raise fail(
            escape(f"The emulator needs {exc.name}: pip install 'prefect-oxen[emulator]'")
        ) from None


def emulator_command(ctx: typer.Context) -> None:
    """Run an Oxen-compatible emulator (real mp4s, queue, SSE, faults) until Ctrl-C."""
    require_emulator()
    from prefect_oxen.emulator import main

    main(ctx.args, prog_name=ctx.command_path)
