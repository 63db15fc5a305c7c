"""Dropping a client's TCP connection mid-request, the way a flaky network or proxy would."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.types import Scope

#: Scope key under which the app stores the ASGI server's own `send`, before Starlette wraps it.
#: Under uvicorn it is a bound method of the connection's RequestResponseCycle, whose
#: `.transport` can be aborted.
RAW_SEND_KEY = "oxen_emulator.raw_send"


class ConnectionDropUnsupported(RuntimeError):
    """The ASGI server does not expose its transport, so no clean drop is possible."""


def _transport(scope: Scope) -> Any:
    """The asyncio transport under an ASGI scope, when uvicorn exposes one."""
    raw_send = scope.get(RAW_SEND_KEY)
    cycle = getattr(raw_send, "__self__", None)
    return getattr(cycle, "transport", None)


async def drop_connection(scope: Scope) -> None:
    """Abort the TCP connection of this request without writing any more bytes.

    Raises ConnectionDropUnsupported when not running under uvicorn; the caller then
    raises instead, which also ends the connection without a complete response.
    """
    transport = _transport(scope)
    if transport is None or not hasattr(transport, "abort"):
        raise ConnectionDropUnsupported("no transport to abort")
    transport.abort()
    # abort() schedules connection_lost; yielding once lets uvicorn mark the cycle
    # disconnected so the response it may still try to send is discarded silently.
    await asyncio.sleep(0)
