"""`prefect-oxen emulator` serves the emulator in the foreground until interrupted."""

from __future__ import annotations

import signal

import httpx

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
