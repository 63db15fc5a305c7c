"""Issue 21: an emulator stopped with SIGTERM (or Ctrl-C) leaves no ``oxen-emulator-*``
directory in the temp dir, also with generations queued and rendering when it stops."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest

from tests.support import FAST, wait_for

from ..deployments.processes import BIN, background, free_port, prefect_env

LAUNCHERS = {
    "prefect-oxen emulator": [str(BIN / "prefect-oxen"), "emulator"],
    "python -m prefect_oxen.emulator": [str(BIN / "python"), "-m", "prefect_oxen.emulator"],
}


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("launcher", list(LAUNCHERS))
def test_a_stopped_emulator_removes_its_temporary_directory(
    tmp_path: Path, launcher: str, sig: signal.Signals
) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    port = free_port()
    args = [*LAUNCHERS[launcher], "--port", str(port), "--api-key", "emu-key", "--latency", "0.3"]
    env = prefect_env(tmp_path / "home", TMPDIR=str(temp))
    auth = {"Authorization": "Bearer emu-key"}
    with background(args, env=env, log=tmp_path / "emulator.log") as emulator:
        base = f"http://127.0.0.1:{port}"
        wait_for(
            lambda: httpx.get(f"{base}/api/ai/models", headers=auth, timeout=2).raise_for_status(),
            timeout=30,
            what="the emulator",
            interval=0.2,
            tolerate=(httpx.HTTPError,),
        )
        [made] = temp.glob("oxen-emulator-*")  # the directory this test is about
        for n in range(6):  # work in flight when the signal comes: queued, rendering, done
            httpx.post(
                f"{base}/api/ai/queue",
                json={"model": FAST, "prompt": f"a fox {n} {tmp_path.name}", "duration": 2},
                headers=auth,
                timeout=10,
            ).raise_for_status()
        wait_for(
            lambda: any(made.rglob("*.mp4")) or None, timeout=30, what="a render", interval=0.05
        )
        emulator.process.send_signal(sig)
        assert emulator.process.wait(20) == 0, emulator.output()
    assert "Oxen emulator stopped" in emulator.output()
    assert "Traceback" not in emulator.output()
    assert not made.exists()
    assert list(temp.iterdir()) == []
