"""`prefect-oxen emulator` serves the emulator in the foreground until interrupted."""

from __future__ import annotations

import signal
import subprocess

import httpx
import pytest

from prefect_oxen.cli import ExitCode
from tests.support import FAST, wait_for

from ..deployments.processes import BIN, background, free_port, prefect_env


def test_emulator_command_serves_until_interrupted(tmp_path) -> None:
    port = free_port()
    args = [
        str(BIN / "prefect-oxen"),
        "emulator",
        "--port",
        str(port),
        "--api-key",
        "emu-key",
        "--rate-limit",
        "0",
    ]
    with background(
        args, env=prefect_env(tmp_path / "home"), log=tmp_path / "emulator.log"
    ) as emulator:
        url = f"http://127.0.0.1:{port}/api/ai/models"
        response = wait_for(
            lambda: httpx.get(url, headers={"Authorization": "Bearer emu-key"}, timeout=2),
            timeout=30,
            what="the emulator",
            interval=0.2,
            tolerate=(httpx.HTTPError,),
        )
        assert response.status_code == 200
        assert any(model["id"] == FAST for model in response.json()["data"])
        assert (
            httpx.get(url, headers={"Authorization": "Bearer wrong"}, timeout=2).status_code == 401
        )
        emulator.process.send_signal(signal.SIGINT)
        assert emulator.process.wait(15) == 0
    assert "Oxen emulator stopped" in emulator.output()


def test_emulator_command_checks_the_key_from_the_environment(tmp_path) -> None:
    """With OXEN_API_KEY set and no --api-key, only that key is accepted (a masked one never)."""
    port = free_port()
    args = [str(BIN / "python"), "-m", "prefect_oxen.emulator", "--port", str(port)]
    env = prefect_env(tmp_path / "home", OXEN_API_KEY="env-key")
    with background(args, env=env, log=tmp_path / "emulator.log"):
        url = f"http://127.0.0.1:{port}/api/ai/models"

        def status(token: str) -> int:
            return httpx.get(
                url, headers={"Authorization": f"Bearer {token}"}, timeout=2
            ).status_code

        started = wait_for(
            lambda: status("env-key"),
            timeout=30,
            what="the emulator",
            interval=0.2,
            tolerate=(httpx.HTTPError,),
        )
        assert started == 200
        assert status("another-key") == 401
        assert status("**********") == 401


@pytest.mark.parametrize("command", [["emulator", "--port", "8765"], ["demo"]])
def test_without_the_emulator_extra_the_command_says_how_to_install_it(
    tmp_path, command: list[str]
) -> None:
    """Starlette and uvicorn made unimportable (as if never installed): one line, exit 2."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import sys\nsys.modules['starlette'] = sys.modules['uvicorn'] = None\n"
    )
    env = prefect_env(tmp_path / "home", PYTHONPATH=str(site))
    done = subprocess.run(
        [str(BIN / "prefect-oxen"), *command],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == ExitCode.BAD_INPUT
    assert "pip install 'prefect-oxen[emulator]'" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stdout + done.stderr
    assert not (tmp_path / "demo-output").exists()  # refused before doing anything
