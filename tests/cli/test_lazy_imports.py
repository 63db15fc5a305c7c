"""The CLI imports the emulator (uvicorn, Starlette) only for the commands that run it, and
Prefect only once `main()` has prepared its environment and a command needs it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import typer

from prefect_oxen.cli import app
from prefect_oxen.emulator._cli import emulator_command

EMULATOR = ("uvicorn", "starlette", "prefect_oxen.emulator")
HEAVY = (*EMULATOR, "prefect")

_PROBE = """
import json, sys
from prefect_oxen.cli import main
sys.argv = ["prefect-oxen", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


def loaded_by(*args: str) -> list[str]:
    """The heavy modules loaded by `prefect-oxen ARGS` in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE.format(heavy=HEAVY), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("args", [["--help"], ["estimate", "--help"], ["batch", "--help"]])
def test_commands_that_need_no_emulator_do_not_import_it(args: list[str]) -> None:
    assert loaded_by(*args) == []


def test_the_emulator_command_imports_it_when_it_runs() -> None:
    assert set(loaded_by("emulator", "--help")) == set(EMULATOR)


def test_the_listing_shows_the_emulator_command_s_own_help() -> None:
    listed = typer.main.get_command(app).commands["emulator"]  # type: ignore[attr-defined]
    assert listed.help == emulator_command.__doc__


def test_the_cli_command_runs_the_emulator_s_own(cli) -> None:
    result = cli("emulator", "--help")
    assert result.exit_code == 0
    assert "--rate-limit" in result.stdout
    assert "Run an Oxen-compatible emulator" in cli("--help").stdout
