"""One `AsyncOxenClient` per event loop and credentials, shared by every task on that loop.

A batch runs hundreds of generate tasks on one loop; sharing the client means they share one
connection pool and one event stream, so waiting on N generations costs about N calls, not N
streams plus N polling loops. Clients are created lazily; flows hold them with
`using_shared_clients()`, and the last flow on the loop to leave closes them (two batches running
side by side in one process must not close each other's client mid-flight).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import weakref
from collections.abc import AsyncIterator

from prefect_oxen.blocks import OxenCredentials
from prefect_oxen.client import AsyncOxenClient

__all__ = ["close_shared_clients", "shared_async_client", "using_shared_clients"]

# A cache, not configuration: keyed by the running loop so a client never crosses loops.
_CLIENTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, AsyncOxenClient]] = (
    weakref.WeakKeyDictionary()
)
_USERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, int] = weakref.WeakKeyDictionary()


def _credentials_key(credentials: OxenCredentials) -> str:
    """A digest of every setting of `credentials`, the key included (never stored)."""
    data = credentials.model_dump(mode="json", exclude={"api_key"})
    data["api_key"] = credentials.api_key.get_secret_value() if credentials.api_key else None
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def shared_async_client(credentials: OxenCredentials) -> AsyncOxenClient:
    """The client for `credentials` on the running event loop (created on first use).

    Args:
        credentials: The block whose client is wanted; equal settings share one client.

    Returns:
        The loop's shared client for those credentials.

    Raises:
        RuntimeError: Called outside a running event loop.
    """
    loop = asyncio.get_running_loop()
    per_loop = _CLIENTS.setdefault(loop, {})
    key = _credentials_key(credentials)
    client = per_loop.get(key)
    if client is None:
        client = credentials.get_async_client()
        per_loop[key] = client
    return client


async def close_shared_clients() -> None:
    """Close the shared clients of the running loop (idempotent).

    Raises:
        RuntimeError: Called outside a running event loop.
    """
    loop = asyncio.get_running_loop()
    for client in _CLIENTS.pop(loop, {}).values():
        await client.aclose()


@contextlib.asynccontextmanager
async def using_shared_clients() -> AsyncIterator[None]:
    """Hold the running loop's shared clients while the block runs; the last holder closes them.

    Returns:
        An async context manager holding the clients for its block.
    """
    loop = asyncio.get_running_loop()
    _USERS[loop] = _USERS.get(loop, 0) + 1
    try:
        yield
    finally:
        _USERS[loop] -= 1
        if not _USERS[loop]:
            del _USERS[loop]
            await close_shared_clients()
