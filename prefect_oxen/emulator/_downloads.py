"""Serving result bytes: signed file downloads with Range support, and inline base64 JSON."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from starlette.types import Receive, Scope, Send

from prefect_oxen.emulator._connection import ConnectionDropUnsupported, drop_connection

_CHUNK = 1 << 20
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def parse_range(header: str | None, size: int) -> tuple[int, int] | str | None:
    """(start, end inclusive) for a single `bytes=` range, None for no range, "invalid" if
    unsatisfiable."""
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if not match or (not match.group(1) and not match.group(2)):
        return None  # multi-range or malformed: serve the whole file, as RFC 9110 allows
    first, last = match.groups()
    if not first:
        length = int(last)
        if length == 0:
            return "invalid"
        return max(0, size - length), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        return "invalid"
    return start, end


class FileBody:
    """ASGI response for a byte range of a file, with the download faults applied.

    `truncate` sends the full headers and about half the body, then drops the connection;
    `bytes_per_second` trickles the body; `on_bytes` counts what actually went out.
    """

    def __init__(
        self,
        path: Path,
        start: int,
        end: int,
        status: int,
        headers: dict[str, str],
        *,
        head_only: bool,
        truncate: bool,
        bytes_per_second: int | None,
        on_bytes: Callable[[int], None],
        stopping: asyncio.Event,
    ) -> None:
        self.path, self.start, self.end, self.status = path, start, end, status
        self.headers = headers
        self.head_only, self.truncate = head_only, truncate
        self.bytes_per_second, self.on_bytes, self.stopping = bytes_per_second, on_bytes, stopping

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw_headers = [(k.lower().encode(), v.encode()) for k, v in self.headers.items()]
        await send({"type": "http.response.start", "status": self.status, "headers": raw_headers})
        if self.head_only:
            await send({"type": "http.response.body", "body": b""})
            return
        length = self.end - self.start + 1
        limit = length // 2 if self.truncate else length
        chunk = _CHUNK
        if self.bytes_per_second:
            chunk = max(1, self.bytes_per_second // 10)
        sent = 0
        with self.path.open("rb") as handle:
            handle.seek(self.start)
            while sent < limit:
                if self.stopping.is_set() and self.bytes_per_second:
                    break  # do not hold server shutdown hostage to a trickle
                data = handle.read(min(chunk, limit - sent))
                if not data:
                    break
                await send({"type": "http.response.body", "body": data, "more_body": True})
                sent += len(data)
                self.on_bytes(len(data))
                if self.bytes_per_second:
                    await asyncio.sleep(len(data) / self.bytes_per_second)
        if sent < length:
            try:
                await drop_connection(scope)
            except ConnectionDropUnsupported:
                raise RuntimeError("truncated download (connection drop unsupported)") from None
            return
        await send({"type": "http.response.body", "body": b""})


async def b64_json_body(
    head: dict[str, Any], key: str, path: Path, on_bytes: Callable[[int], None]
) -> AsyncIterator[bytes]:
    """`{...head, key: [{"b64_json": "<file as base64>"}]}` streamed chunk by chunk, so a
    200 MB padded video never becomes one giant string."""
    prefix = json.dumps(head)[:-1]
    yield f'{prefix}, "{key}": [{{"b64_json": "'.encode()
    with path.open("rb") as handle:
        while True:
            data = handle.read(3 * 256 * 1024)  # a multiple of 3 keeps chunks padding-free
            if not data:
                break
            on_bytes(len(data))
            yield base64.b64encode(data)
            await asyncio.sleep(0)
    yield b'"}]}'
