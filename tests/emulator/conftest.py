"""Fixtures for the emulator's contract suite: plain httpx over real HTTP, never the client."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any, TypeVar

import httpx
import pytest

from prefect_oxen.emulator import EmulatorConfig, EmulatorServer
from tests.support import wait_for

T = TypeVar("T")
AUTH = {"Authorization": "Bearer test-key"}
DEFAULTS = EmulatorConfig().model_dump(mode="json", exclude={"host", "port", "seed", "state_dir"})


class ServerErrors(logging.Handler):
    """Collects ERROR records from the server's loggers (tracebacks must never appear)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="session")
def server_errors() -> Iterator[ServerErrors]:
    handler = ServerErrors()
    loggers = [logging.getLogger(name) for name in ("uvicorn.error", "uvicorn", "asyncio")]
    for logger in loggers:
        logger.addHandler(handler)
    yield handler
    for logger in loggers:
        logger.removeHandler(handler)


@pytest.fixture(autouse=True)
def no_server_errors(server_errors: ServerErrors) -> Iterator[None]:
    start = len(server_errors.records)
    yield
    new = [r.getMessage() for r in server_errors.records[start:]]
    assert not new, f"server logged errors: {new}"


@pytest.fixture(scope="session")
def shared_server() -> Iterator[EmulatorServer]:
    """One emulator for the session; `reset_emulator` restores its defaults before each test."""
    with EmulatorServer(EmulatorConfig(seed=1234)) as server:
        yield server


@pytest.fixture(scope="session")
def control(shared_server: EmulatorServer) -> Iterator[httpx.Client]:
    """A session-long client for /_emulator/* (building an httpx.Client costs ~0.1 s)."""
    with httpx.Client(base_url=shared_server.base_url, timeout=20) as http:
        yield http


@pytest.fixture
def reset_emulator(shared_server: EmulatorServer, control: httpx.Client) -> EmulatorServer:
    """The shared emulator with default settings, zeroed counters and no generations."""
    control.patch("/_emulator/config", json=DEFAULTS).raise_for_status()
    control.post("/_emulator/reset?generations=true").raise_for_status()
    return shared_server


@pytest.fixture(scope="session")
def _api(shared_server: EmulatorServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=shared_server.base_url, headers=AUTH, timeout=20) as http:
        yield http


@pytest.fixture
def client(reset_emulator: EmulatorServer, _api: httpx.Client) -> httpx.Client:
    """An authenticated client of the freshly reset shared emulator."""
    return _api


@pytest.fixture(scope="session")
def plain() -> Iterator[httpx.Client]:
    """A client without auth or base URL, for signed downloads and odd headers."""
    with httpx.Client(timeout=20) as http:
        yield http


def configure(client: httpx.Client, **changes: Any) -> dict[str, Any]:
    """PATCH /_emulator/config and return the config in force."""
    response = client.patch("/_emulator/config", json=changes)
    assert response.status_code == 200, response.text
    return response.json()


def stats(client: httpx.Client) -> dict[str, Any]:
    return client.get("/_emulator/stats").json()


def enqueue(client: httpx.Client, **body: Any) -> list[str]:
    response = client.post("/api/ai/queue", json=body)
    assert response.status_code == 200, response.text
    return [g["generation_id"] for g in response.json()["generations"]]


def wait_terminal(client: httpx.Client, generation_id: str, timeout: float = 15.0) -> dict:
    """Poll the queue row until it is succeeded, failed or cancelled."""

    def terminal() -> dict | None:
        row = client.get(f"/api/ai/queue/{generation_id}").json()
        return row if row["status"] in ("succeeded", "failed", "cancelled") else None

    return wait_for(terminal, timeout=timeout, what=f"generation {generation_id} to end")


def error_detail(response: httpx.Response) -> str:
    """The human message of either documented error shape."""
    error = response.json()["error"]
    return error.get("detail") or error.get("message") or error["title"]


def parse_sse(lines: list[str]) -> list[tuple[str | None, str]]:
    """(event name, data) for each dispatched SSE message; comments become ("comment", text)."""
    out: list[tuple[str | None, str]] = []
    event: str | None = None
    data: list[str] = []
    for line in lines:
        if line.startswith(":"):
            out.append(("comment", line[1:].strip()))
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif line == "" and (event or data):
            out.append((event, "\n".join(data)))
            event, data = None, []
    return out


def sse_json(data: str) -> dict[str, Any]:
    return json.loads(data)


def probe(data: bytes) -> dict[str, Any]:
    """Decode an mp4 with PyAV: video size, frame count, durations and audio presence."""
    import io

    import av

    with av.open(io.BytesIO(data)) as container:
        video = container.streams.video[0]
        frames = sum(1 for _ in container.decode(video=0))
        info = {
            "width": video.codec_context.width,
            "height": video.codec_context.height,
            "fps": float(video.average_rate),
            "frames": frames,
            "video_seconds": float(video.duration * video.time_base),
            "codec": video.codec_context.name,
            "audio": [s.codec_context.name for s in container.streams.audio],
        }
        if container.streams.audio:
            audio = container.streams.audio[0]
            info["audio_seconds"] = float(audio.duration * audio.time_base)
    return info
