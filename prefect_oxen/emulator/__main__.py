"""`python -m prefect_oxen.emulator --port 8765`."""

import typer

from prefect_oxen.emulator import emulator_command

if __name__ == "__main__":
    typer.run(emulator_command)
