"""The CLI's Prefect environment: quiet and self-contained unless the user configured Prefect."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from prefect_oxen.cli._env import prepare_environment

KEYS = (
    "PREFECT_HOME",
    "PREFECT_API_URL",
    "PREFECT_SERVER_ANALYTICS_ENABLED",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS",
    "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL",
    "PREFECT_SERVER_LOGGING_LEVEL",
    "DO_NOT_TRACK",
    "PREFECT_LOGGING_EXTRA_LOGGERS",
)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for key in KEYS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_newcomer_gets_a_project_local_home_and_quiet_settings(clean_env: Path) -> None:
    prepare_environment()
    assert os.environ["PREFECT_HOME"] == str(clean_env / ".prefect")
    assert os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    assert os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] == "120"
    assert os.environ["PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL"] == "CRITICAL"


def test_verbose_keeps_prefect_logs(clean_env: Path) -> None:
    prepare_environment(verbose=True)
    assert os.environ["PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL"] == "INFO"


@pytest.mark.parametrize("setting", ["PREFECT_HOME", "PREFECT_API_URL", "profiles"])
def test_user_configuration_wins(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, setting: str
) -> None:
    if setting == "profiles":
        (clean_env / "home" / ".prefect").mkdir(parents=True)
        (clean_env / "home" / ".prefect" / "profiles.toml").write_text('active = "cloud"\n')
    else:
        monkeypatch.setenv(
            setting,
            "http://prefect.example:4200/api" if setting == "PREFECT_API_URL" else "/srv/prefect",
        )
    monkeypatch.setenv("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "300")
    prepare_environment()
    assert os.environ.get("PREFECT_HOME") in (None, "/srv/prefect")
    assert os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] == "300"
