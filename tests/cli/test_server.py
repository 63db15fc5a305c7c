"""The boundary with Prefect's private temporary-server class that `cli/_server.py` subclasses:
these fail when a Prefect release moves the names or changes the command it repeats."""

from __future__ import annotations

import subprocess
from typing import Any

import prefect
import pytest
from prefect.server.api.server import SubprocessASGIServer
from prefect.settings import PREFECT_API_URL, temporary_settings

from prefect_oxen.cli import _server
from prefect_oxen.cli._server import (
    TESTED_PREFECT,
    _server_class,
    prefect_tested,
    start_ephemeral_server,
)


def test_the_installed_prefect_is_one_the_cli_server_was_checked_against() -> None:
    assert prefect_tested(), (
        f"Prefect {prefect.__version__} is not in TESTED_PREFECT {TESTED_PREFECT}: check "
        "prefect_oxen/cli/_server.py against its SubprocessASGIServer, then add it"
    )


def test_the_private_names_the_cli_server_uses_are_there() -> None:
    assert isinstance(SubprocessASGIServer._instances, dict)
    for method in ("_run_uvicorn_command", "start", "stop"):
        assert callable(getattr(SubprocessASGIServer, method))
    server = object.__new__(SubprocessASGIServer)  # not registered: no port taken
    SubprocessASGIServer.__init__(server, 1234)
    assert (server.port, server.running) == (1234, False)


def test_the_session_leader_runs_prefect_s_own_command(monkeypatch: pytest.MonkeyPatch) -> None:
    launched: list[dict[str, Any]] = []
    monkeypatch.setattr(subprocess, "Popen", lambda **kwargs: launched.append(kwargs))
    for cls in (SubprocessASGIServer, _server_class()):
        server = object.__new__(cls)  # not registered: nothing is started
        server.port = 1234
        server._run_uvicorn_command()
    prefects, ours = launched
    assert ours.pop("start_new_session") is True
    assert callable(ours.pop("preexec_fn"))
    assert ours == prefects


def test_on_an_untested_prefect_the_cli_leaves_the_server_to_prefect_and_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(_server, "TESTED_PREFECT", ())
    started: list[object] = []
    monkeypatch.setattr(SubprocessASGIServer, "start", lambda self, *a, **k: started.append(self))
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        start_ephemeral_server()
    assert started == []
    assert "not tested with Prefect" in " ".join(capsys.readouterr().err.split())
