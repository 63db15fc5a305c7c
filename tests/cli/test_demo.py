"""`prefect-oxen demo`: in-process on the test server, and as a newcomer runs it (fresh home)."""

from __future__ import annotations

import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest

from prefect_oxen.cli._sample import INVALID_ITEM_ID, SAMPLE_BATCH

from ..deployments.processes import BIN, prefect_env
from .conftest import flat


def _visible(root: Path, pattern: str) -> list[Path]:
    return [
        p
        for p in root.rglob(pattern)
        if not any(part.startswith(".") for part in p.relative_to(root).parts)
    ]


def test_demo_archives_everything_but_the_invalid_item(cli, tmp_path: Path) -> None:
    result = cli("demo", "--output", str(tmp_path / "demo"))
    assert result.exit_code == 0, result.stdout + result.stderr
    text = flat(result.stdout)
    valid = len(SAMPLE_BATCH) - 1
    assert "Demo succeeded" in text and f"all {valid} valid items archived" in text
    assert f"the deliberately invalid item (line 7, {INVALID_ITEM_ID}) was rejected" in text
    assert "chef-two-shots" in text and "prefect artifact ls" in text
    archive = tmp_path / "demo" / "archive"
    assert len(_visible(archive, "*.mp4")) == valid
    assert len(_visible(archive, "*.json")) == valid
    # A second run starts clean rather than resuming against the previous emulator.
    again = cli("demo", "--output", str(tmp_path / "demo"))
    assert again.exit_code == 0
    assert len(_visible(archive, "*.mp4")) == valid


def test_demo_refuses_a_directory_it_did_not_create(cli, tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "precious.txt").write_text("keep me")
    result = cli("demo", "--output", str(tmp_path / "mine"))
    assert result.exit_code == 2
    assert "was not created by the demo" in flat(result.stderr)
    assert (tmp_path / "mine" / "precious.txt").exists()


@pytest.mark.slow
def test_newcomer_demo_from_a_fresh_prefect_home(tmp_path: Path) -> None:
    """What `make demo` runs, with no Prefect configuration at all: exit 0, no traceback.

    (Its time, with a fresh clone's install, is measured by hand: `time make demo`.)"""
    env = prefect_env(tmp_path / "unused")
    for key in (
        "PREFECT_HOME",
        "PREFECT_SERVER_ANALYTICS_ENABLED",
        "DO_NOT_TRACK",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS",
    ):
        env.pop(key)
    env["HOME"] = str(tmp_path / "home")  # no ~/.prefect/profiles.toml
    done = subprocess.run(
        [str(BIN / "prefect-oxen"), "demo"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert "Demo succeeded" in done.stdout
    assert (tmp_path / ".prefect").is_dir()  # project-local PREFECT_HOME, not ~/.prefect
    assert not (tmp_path / "home" / ".prefect").exists()
    assert len(_visible(tmp_path / "demo-output" / "archive", "*.mp4")) == len(SAMPLE_BATCH) - 1


def test_the_demo_emulator_accepts_only_the_demo_key(
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Like the API, the embedded emulator refuses any other key, and a masked one, so a lost key
    fails the demo instead of passing unnoticed."""
    import httpx

    import prefect_oxen.emulator as emulator_package
    from prefect_oxen.cli._demo import _DEMO_KEY

    real = emulator_package.running_emulator
    answers: dict[str, int] = {}

    @contextmanager
    def checked(*args, **settings):
        with real(*args, **settings) as server:
            for token in (_DEMO_KEY, "someone-elses-key", "**********"):
                headers = {"Authorization": f"Bearer {token}"}
                answers[token] = httpx.get(
                    f"{server.base_url}/api/ai/models", headers=headers, timeout=10
                ).status_code
            raise RuntimeError("checked the embedded emulator; stopping the demo here")
        yield  # pragma: no cover (never reached)

    monkeypatch.setattr(emulator_package, "running_emulator", checked)
    result = cli("demo", "--output", str(tmp_path / "demo"))
    assert result.exit_code == 1
    assert answers == {_DEMO_KEY: 200, "someone-elses-key": 401, "**********": 401}
