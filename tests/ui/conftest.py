"""What users see: a real `prefect server start` (both UIs), a finished batch, headless Chromium.

Chromium is Debian's package (/usr/bin/chromium), installed here when missing (CI runs on a fresh
machine as root); Playwright drives it without downloading a browser of its own.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from ..conftest import API_KEY
from ..deployments.processes import (
    BIN,
    REPO,
    Background,
    free_port,
    healthy,
    prefect_env,
    run,
    wait_for,
)

CHROMIUM = Path("/usr/bin/chromium")
OUTPUT = Path(__file__).parent / "output"
SCENARIO = Path(__file__).parent / "scenario.py"
ON_DEMAND_DEPLOYMENT = "oxen-generate-video/generate-video"
NIGHTLY_DEPLOYMENT = "oxen-batch/nightly-batch"
# Flags that let Chromium start in a container, without a GPU or anything phoning home.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    # No GPU: WebGL (the V2 run graph) on the software rasteriser instead of a blank canvas.
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
]


def ensure_chromium() -> Path:
    """The system Chromium, installed with apt-get when missing; fails (never skips) otherwise."""
    if CHROMIUM.exists():
        return CHROMIUM
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's package (apt-get install -y chromium)"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]
    done = subprocess.run(install, env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:  # a fresh machine may have no package lists yet
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, timeout=600)
        done = subprocess.run(install, env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0 or not CHROMIUM.exists():
        output = done.stdout[-2000:] + done.stderr[-2000:]
        pytest.fail(f"could not install chromium with apt-get:\n{output}")
    return CHROMIUM


@dataclass
class UIServer:
    """A `prefect server start` with its UIs, and what the scenario left on it."""

    url: str
    api: httpx.Client
    flow_run_id: str
    home: Path
    flow_run_state: str
    cancelled_flow_run_id: str

    def env(self) -> dict[str, str]:
        return prefect_env(self.home, f"{self.url}/api")


@pytest.fixture(scope="package")
def deployments(ui_server: UIServer) -> dict[str, str]:
    """The deployments made by README's `prefect deploy --all` (prefect.yaml's build step
    references the credentials block by id, which the form's picker shows selected; a slug
    reference would bind too, but the picker would show it empty); "flow/deployment" name -> id.
    (`python deploy.py deploy` makes the same references: tests/deployments checks them.)"""
    pool = [str(BIN / "prefect"), "work-pool", "create", "oxen-process", "--type", "process"]
    run(pool, env=ui_server.env())
    deploy = [str(BIN / "prefect"), "--no-prompt", "deploy", "--all"]
    run(deploy, env=ui_server.env(), cwd=REPO / "deployments")
    return {
        name: ui_server.api.get(f"/deployments/name/{name}").raise_for_status().json()["id"]
        for name in (ON_DEMAND_DEPLOYMENT, NIGHTLY_DEPLOYMENT)
    }


@pytest.fixture(scope="package")
def ui_server(tmp_path_factory: pytest.TempPathFactory, emulator_server) -> Iterator[UIServer]:
    root = tmp_path_factory.mktemp("ui-server")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = prefect_env(root / "home", PREFECT_UI_ENABLED="true", PREFECT_UI_API_URL=f"{url}/api")
    server = Background(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        log=root / "server.log",
    )
    try:
        wait_for(
            lambda: _alive(server) and healthy(f"{url}/api"),
            timeout=150,
            what="prefect server /api/health",
        )
        workdir = root / "work"
        workdir.mkdir()
        scenario_env = prefect_env(
            root / "home",
            f"{url}/api",
            OXEN_API_KEY=API_KEY,
            OXEN_BASE_URL=emulator_server.base_url,
            PREFECT_LOGGING_EXTRA_LOGGERS="prefect_oxen",
            PYTHONPATH=str(REPO),  # the scenario imports tests.support, as the tests do
        )
        done = subprocess.run(
            [sys.executable, str(SCENARIO), str(workdir)],
            env=scenario_env,
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=180,
        )
        output = f"{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
        assert done.returncode == 0, f"scenario failed:\n{output}"
        result = json.loads(done.stdout.strip().splitlines()[-1])
        with httpx.Client(base_url=f"{url}/api", timeout=10) as api:
            yield UIServer(
                url=url,
                home=root / "home",
                api=api,
                flow_run_id=result["flow_run_id"],
                flow_run_state=result["state"],
                cancelled_flow_run_id=result["cancelled_flow_run_id"],
            )
    finally:
        server.stop()


def _alive(server: Background) -> bool:
    if not server.alive():
        raise AssertionError(f"prefect server exited early:\n{server.output()[-3000:]}")
    return True


@pytest.fixture(scope="package")
def browser(tmp_path_factory: pytest.TempPathFactory):
    from playwright.sync_api import sync_playwright

    executable = ensure_chromium()
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        # A persistent context is how Playwright takes a fresh --user-data-dir of our own.
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(executable),
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1440, "height": 1000},
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture(scope="package")
def screenshots() -> Path:
    """Where each screen is saved for people to look at (git-ignored)."""
    OUTPUT.mkdir(exist_ok=True)
    return OUTPUT
