"""`prefect-oxen`: generate, batch, estimate, cancel, browse models, run the emulator and the demo.

Prefect's environment (a project-local PREFECT_HOME when the user has none, no telemetry, a
generous server start-up timeout, quiet console) is prepared in `main()` before any command
imports Prefect. Commands import Prefect, the flows and the emulator inside their functions,
so only the commands that need them load them.
"""

from __future__ import annotations

import sys

import typer

from prefect_oxen.cli._batch import batch_command
from prefect_oxen.cli._blocks import blocks_app
from prefect_oxen.cli._cancel import cancel_command
from prefect_oxen.cli._demo import demo_command
from prefect_oxen.cli._emulator import emulator_command
from prefect_oxen.cli._env import prepare_environment
from prefect_oxen.cli._estimate import estimate_command
from prefect_oxen.cli._exit_codes import ExitCode
from prefect_oxen.cli._generate import generate_command
from prefect_oxen.cli._models import models_command

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
# Every argument, --help included, goes to the emulator's own command.
app.command(
    "emulator",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)(emulator_command)
app.command("demo")(demo_command)
app.add_typer(blocks_app, name="blocks")


def main() -> None:
    """Console entry point (`prefect-oxen`): prepare Prefect's environment, then run the app."""
    prepare_environment(verbose=any(arg in ("-v", "--verbose") for arg in sys.argv[1:]))
    app()
