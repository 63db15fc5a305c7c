"""An in-memory stand-in of the Oxen API behind `httpx.MockTransport`, scripted per route.

The emulator covers whole runs; this covers the client's reading of single answers: any status,
header or body shape can be put in front of any call, and every request is recorded with the
moment it arrived.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from prefect_oxen.client import AsyncOxenClient, PollPolicy, RetryPolicy
from tests.support import KLING

from ..conftest import API_KEY

BASE_URL = "https://oxen.test"
MODEL = KLING
RESULT_URL = "https://cdn.oxen.test/results/video.mp4?signature=s3cr3t"
NO_EVENTS_POLL = PollPolicy(initial=0.01, maximum=0.05, use_events=False)

Step = httpx.Response | Callable[[httpx.Request], httpx.Response]


@dataclass
class Seen:
    """One request as the fake API received it."""

    at: float  # time.monotonic() on arrival
    method: str
    path: str
    request: httpx.Request


@dataclass
class FakeOxen:
    """Answers like the API by default; `script` puts chosen answers in front of one route."""

    seen: list[Seen] = field(default_factory=list)
    generations: dict[str, dict[str, Any]] = field(default_factory=dict)
    scripts: dict[tuple[str, str], list[Step]] = field(default_factory=dict)

    def script(self, method: str, path: str, *steps: Step) -> None:
        """Answer the next ``len(steps)`` requests to `method` `path` with `steps`, in order."""
        self.scripts.setdefault((method, path), []).extend(steps)

    def count(self, method: str, path: str) -> int:
        """How many requests `method` `path` received."""
        return sum(1 for s in self.seen if (s.method, s.path) == (method, path))

    def create(self, request: httpx.Request) -> dict[str, Any]:
        """Accept an enqueue: the generation exists (and is billed) from here on."""
        body = json.loads(request.content)
        row = {
            "generation_id": str(uuid.uuid4()),
            "model_name": body["model"],
            "prompt": body.get("prompt"),
            "duration": body.get("duration"),
            "status": "succeeded",
            "result_url": RESULT_URL,
            "enqueued_at": time.time(),
        }
        self.generations[row["generation_id"]] = row
        return row

    def handler(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.seen.append(Seen(time.monotonic(), request.method, path, request))
        steps = self.scripts.get((request.method, path))
        if steps:
            step = steps.pop(0)
            return step(request) if callable(step) else step
        return self.answer(request)

    def answer(self, request: httpx.Request) -> httpx.Response:
        """What the API answers when nothing is scripted."""
        method, path = request.method, request.url.path
        if method == "GET" and path.startswith("/api/ai/models/"):
            model_id = path.rsplit("/", 1)[1]
            return httpx.Response(200, json={"id": model_id, "endpoint": "/videos/generate"})
        if (method, path) == ("GET", "/api/ai/models"):
            return httpx.Response(200, json={"object": "list", "data": [{"id": MODEL}]})
        if (method, path) == ("POST", "/api/ai/queue"):
            row = self.create(request)
            return httpx.Response(
                200,
                json={"generations": [{"generation_id": row["generation_id"], "status": "queued"}]},
            )
        if (method, path) == ("GET", "/api/ai/queue"):
            status = request.url.params.get("status")
            rows = [
                row
                for row in self.generations.values()
                if (
                    row["status"] == status if status else row["status"] in ("queued", "processing")
                )
            ]
            return httpx.Response(200, json={"count": len(rows), "generations": rows})
        if path.startswith("/api/ai/queue/"):
            row = self.generations.get(path.rsplit("/", 1)[1])
            if row is None:
                return not_found()
            if method == "DELETE":
                return httpx.Response(
                    200, json={"status": "success", "generation_id": row["generation_id"]}
                )
            return httpx.Response(200, json=row)
        if (method, path) == ("POST", "/api/ai/videos/generate"):
            return httpx.Response(
                200, json={"model": MODEL, "created": 1, "videos": [{"url": RESULT_URL}]}
            )
        return not_found()


def error(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    """An error answer with a JSON body (or a plain-text one when `body` is a string)."""
    if isinstance(body, str):
        return httpx.Response(status, text=body, headers=headers)
    return httpx.Response(status, json=body, headers=headers)


def not_found() -> httpx.Response:
    return error(
        404,
        {
            "error": {
                "type": "resource_not_found",
                "title": "The requested resource could not be found",
            },
            "status": "error",
            "status_message": "resource_not_found",
        },
    )


def server_error(status: int = 500) -> httpx.Response:
    return error(status, {"error": {"type": "unknown_error", "title": "Internal server error"}})


@asynccontextmanager
async def fake_client(
    fake: FakeOxen, *, retry: RetryPolicy | None = None, poll: PollPolicy = NO_EVENTS_POLL
) -> AsyncIterator[AsyncOxenClient]:
    """An `AsyncOxenClient` whose every request is answered by `fake`."""
    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(fake.handler)) as http,
        AsyncOxenClient(
            api_key=API_KEY,
            base_url=BASE_URL,
            retry=retry or RetryPolicy.immediate(),
            poll=poll,
            http_client=http,
        ) as client,
    ):
        yield client
