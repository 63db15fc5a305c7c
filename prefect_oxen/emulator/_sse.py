"""The `GET /api/events` Server-Sent Events stream."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

from starlette.types import Receive, Scope, Send

from prefect_oxen.emulator._events import EventBroker

COMPLETED = "media_generation_completed"
NOISE = "deployment_status"


def format_event(event: str, data: dict[str, Any]) -> bytes:
    """One SSE message with an `event:` line and a JSON `data:` line."""
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


class EventStream:
    """ASGI response relaying completion events to one subscriber.

    The subscription is taken when the handler builds this object, before the response
    headers go out, so a client that has seen the headers cannot miss a later event. A
    concurrent receive() loop notices the client leaving and ends the stream task.
    """

    def __init__(
        self,
        broker: EventBroker,
        render: Callable[[str], dict[str, Any] | None],
        keepalive_interval: Callable[[], float],
        noise: Callable[[], bool],
    ) -> None:
        self.broker = broker
        self.queue = broker.subscribe()
        self.render = render
        self.keepalive_interval = keepalive_interval
        self.noise = noise

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            pump = asyncio.create_task(self._pump(send))
            listener = asyncio.create_task(self._wait_for_disconnect(receive))
            done, pending = await asyncio.wait({pump, listener}, return_when="FIRST_COMPLETED")
            for task in pending:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, OSError):
                    await task
            for task in done:
                with contextlib.suppress(OSError):
                    task.result()
        finally:
            self.broker.unsubscribe(self.queue)

    @staticmethod
    async def _wait_for_disconnect(receive: Receive) -> None:
        """Return once the client has disconnected."""
        while (await receive())["type"] != "http.disconnect":
            pass

    async def _pump(self, send: Send) -> None:
        """Send the stream's headers, then events and keep-alives until stopped."""
        headers = [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-cache"),
            (b"x-accel-buffering", b"no"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        completed = 0
        opening = b": connected\n\n"
        if self.noise():
            opening += format_event(NOISE, {"deployment": "emulator", "status": "live"})
        await send({"type": "http.response.body", "body": opening, "more_body": True})
        while True:
            try:
                item = await asyncio.wait_for(self.queue.get(), self.keepalive_interval())
            except asyncio.TimeoutError:
                await send(
                    {"type": "http.response.body", "body": b": keep-alive\n\n", "more_body": True}
                )
                continue
            if item is None:
                break
            data = self.render(item)
            if data is None:
                continue
            body = format_event(COMPLETED, data)
            completed += 1
            if self.noise() and completed % 2 == 0:
                # Unrelated traffic between completions: clients must filter on `event:`.
                body = format_event(NOISE, {"deployment": "emulator", "status": "live"}) + body
            await send({"type": "http.response.body", "body": body, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
