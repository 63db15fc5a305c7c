"""CLI tests: typer's CliRunner in this process, flows on the session's Prefect test server."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from prefect_oxen.cli import app

from ..conftest import API_KEY


@pytest.fixture(autouse=True)
def _prefect(prefect_harness) -> None:
    """Commands that run flows use the session's Prefect test server."""


@pytest.fixture
def oxen_env(emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """OXEN_API_KEY / OXEN_BASE_URL pointing at the emulator, and the test's own directory."""
    monkeypatch.setenv("OXEN_API_KEY", API_KEY)
    monkeypatch.setenv("OXEN_BASE_URL", emulator.base_url)
    monkeypatch.chdir(tmp_path)
    return emulator


def flat(text: str) -> str:
    """Output with table borders and line wrapping removed, for substring checks."""
    return re.sub(r"\s+", " ", re.sub(r"[│┃┏┓┗┛┡┩└┘━─╭╮╰╯┳┻╇╈┼┬┴]", " ", text))


@pytest.fixture
def cli() -> Callable[..., Result]:
    """Invoke `prefect-oxen ARGS`; every call checks that no key or traceback was printed."""
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        result = runner.invoke(app, list(args))
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(f"prefect-oxen {' '.join(args)} raised") from result.exception
        for stream in (result.stdout, result.stderr):
            assert API_KEY not in stream
            assert "Traceback" not in stream
        return result

    return invoke


def write_jsonl(path: Path, rows: Iterable[dict[str, Any] | str]) -> Path:
    """Rows as JSONL (strings are written verbatim, for malformed lines)."""
    path.write_text(
        "".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows)
    )
    return path
