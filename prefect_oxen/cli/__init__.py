"""`prefect-oxen`: generate, batch, estimate, cancel, browse models, run the emulator and the demo.

Prefect's environment (a project-local PREFECT_HOME when the user has none, no telemetry, a
generous server start-up timeout, quiet console) is prepared in `main()` before any command
imports Prefect.
"""

from __future__ import annotations

import sys

import typer

from prefect_oxen.cli._common import ExitCode
from prefect_oxen.cli._env import prepare_environment
from prefect_oxen.cli.batch import batch_command
from prefect_oxen.cli.blocks import blocks_app
from prefect_oxen.cli.cancel import cancel_command
from prefect_oxen.cli.demo import demo_command
from prefect_oxen.cli.estimate import estimate_command
from prefect_oxen.cli.generate import generate_command
from prefect_oxen.cli.models import models_command
from prefect_oxen.emulator.cli import emulator_command

__all__ = ["ExitCode", "app", "main"]

app = typer.Typer(
    name="prefect-oxen",
    help="Oxen.ai video generation with Prefect: one video, batches, costs and a local emulator.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("generate")(generate_command)
app.command("batch")(batch_command)
app.command("estimate")(estimate_command)
app.command("cancel")(cancel_command)
app.command("models")(models_command)
app.command("emulator")(emulator_command)
app.command("demo")(demo_command)
app.add_typer(blocks_app, name="blocks")


def main() -> None:
    """Console entry point (`prefect-oxen`)."""
    prepare_environment(verbose=any(arg in ("-v", "--verbose") for arg in sys.argv[1:]))
    app()
