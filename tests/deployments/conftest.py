"""A real `prefect server start` (own PREFECT_HOME, free port) shared by this package's e2e tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .processes import BIN, Background, free_port, healthy, prefect_env, wait_for


@dataclass
class PrefectServer:
    api_url: str
    home: Path
    process: Background

    def env(self, **extra: str) -> dict[str, str]:
        return prefect_env(self.home, self.api_url, **extra)


@pytest.fixture(scope="package")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    root = tmp_path_factory.mktemp("prefect-server")
    home = root / "home"
    port = free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    # The scheduler normally wakes every 60 s; a short loop lets a test see scheduled runs soon.
    env = prefect_env(home, PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS="2")
    server = Background(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        log=root / "server.log",
    )
    try:
        wait_for(
            lambda: (not server.alive() and _died(server)) or healthy(api_url),
            timeout=150,
            what="prefect server /api/health",
        )
        yield PrefectServer(api_url=api_url, home=home, process=server)
    finally:
        server.stop()


def _died(server: Background) -> bool:
    raise AssertionError(f"prefect server exited early:\n{server.output()[-3000:]}")
