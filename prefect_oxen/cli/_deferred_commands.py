"""Commands whose code is imported only when they run, so every other command starts fast.

`prefect-oxen emulator` needs the emulator (uvicorn, Starlette, PyAV): importing it costs more
than the rest of the CLI together, and `prefect-oxen --help` or `prefect-oxen estimate` need
none of it. The group lists a deferred command by its name and one-line help; the real command
is built the first time a context is made for it (running it, its ``--help``, completion).

Click documents this pattern ("lazily loading subcommands") and ships no class for it; the
subclass below is the whole of it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

__all__ = ["EMULATOR_HELP", "CommandGroup", "DeferredCommand", "load_emulator_command"]


class DeferredCommand(TyperCommand):
    """A command known by name and help; `load` builds the real one when it is first used.

    Args:
        name: The command's name on the command line.
        help: Its one-line help, shown in the group's listing without loading it.
        load: Builds the real command (imports its module).
    """

    def __init__(self, name: str, *, help: str, load: Callable[[], TyperCommand]) -> None:
        super().__init__(name, help=help)
        self._load = load

    @functools.cached_property
    def command(self) -> TyperCommand:
        """The real command, built on first access.

        Returns:
            The command `load` returned.
        """
        return self._load()

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: Any = None,  # typer's (vendored) click.Context, which typer does not export
        **extra: Any,
    ) -> Any:
        """The real command's context: click then invokes ``context.command``, the real one.

        Args:
            info_name: The name the command was invoked as.
            args: The command's own arguments.
            parent: The group's context.
            **extra: Context settings, as `click.Command.make_context` takes them.

        Returns:
            A context whose ``command`` is the real command.
        """
        return self.command.make_context(info_name, args, parent=parent, **extra)


# The listing's text for `emulator`; a test pins it to the command's own docstring.
EMULATOR_HELP = "Run an Oxen-compatible emulator (real mp4s, queue, SSE, faults) until Ctrl-C."


class CommandGroup(TyperGroup):
    """The CLI's typer group: the registered commands, with `emulator` deferred (before `demo`).

    Args:
        *args: As `typer.core.TyperGroup`.
        **kwargs: As `typer.core.TyperGroup`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        registered = dict(self.commands)
        self.commands.clear()
        for name, command in registered.items():
            if name == "demo":  # where `emulator` always stood in the help
                self.commands["emulator"] = DeferredCommand(
                    "emulator", help=EMULATOR_HELP, load=load_emulator_command
                )
            self.commands[name] = command


def load_emulator_command() -> TyperCommand:
    """Import the emulator and build `prefect-oxen emulator` from its typer function.

    Returns:
        The command typer builds for `prefect_oxen.emulator.cli.emulator_command`.
    """
    from prefect_oxen.emulator import emulator_command

    single = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    single.command("emulator")(emulator_command)
    command = typer.main.get_command(single)
    assert isinstance(command, TyperCommand)  # one command, no callback: typer builds no group
    return command
