"""A streaming `multipart/form-data` reader: file parts go to disk, hashed as they arrive.

Starlette's own form parser needs the optional python-multipart package, which the emulator does
not depend on; and a video upload must not be held in memory, so file parts are spooled to a
directory chunk by chunk while their sha256 is computed.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

#: Largest plain (non-file) form field kept in memory.
MAX_FIELD_BYTES = 1024 * 1024


class MultipartError(ValueError):
    """The body is not well-formed multipart/form-data."""


@dataclass
class Part:
    """One form part: a field value in memory, or a file spooled to `path` with its sha256."""

    name: str
    filename: str | None = None
    value: bytes = b""
    path: Path | None = None
    size: int = 0
    sha256: str = ""
    _handle: IO[bytes] | None = field(default=None, repr=False)
    _digest: Any = field(default=None, repr=False)

    def write(self, data: bytes) -> None:
        """Append `data` to the part (its file, or its in-memory value)."""
        if not data:
            return
        self.size += len(data)
        if self._handle is not None:
            self._handle.write(data)
            self._digest.update(data)
        elif self.size > MAX_FIELD_BYTES:
            raise MultipartError(f"form field {self.name!r} is larger than {MAX_FIELD_BYTES} bytes")
        else:
            self.value += data

    def finish(self) -> None:
        """Close the spooled file and fix its hash."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
            self.sha256 = self._digest.hexdigest()


def boundary_of(content_type: str) -> bytes:
    """The boundary parameter of a multipart/form-data Content-Type; MultipartError otherwise."""
    kind, _, params = content_type.partition(";")
    if kind.strip().lower() != "multipart/form-data":
        raise MultipartError("expected a multipart/form-data body")
    for param in params.split(";"):
        key, _, value = param.strip().partition("=")
        if key.lower() == "boundary" and value:
            return value.strip('"').encode("latin-1")
    raise MultipartError("multipart/form-data without a boundary")


def _disposition(header_block: bytes) -> tuple[str, str | None]:
    """(field name, filename or None) from a part's headers."""
    for line in header_block.decode("utf-8", "replace").split("\r\n"):
        key, _, value = line.partition(":")
        if key.strip().lower() != "content-disposition":
            continue
        params: dict[str, str] = {}
        for item in value.split(";")[1:]:
            pkey, _, pvalue = item.strip().partition("=")
            params[pkey.lower()] = pvalue.strip().strip('"')
        if "name" not in params:
            break
        return params["name"], params.get("filename")
    raise MultipartError("a part has no Content-Disposition name")


class _Reader:
    """The parser's state between chunks: the unconsumed buffer and the part being written."""

    def __init__(self, boundary: bytes, spool: Path) -> None:
        # The body starts with the boundary without its CRLF; prefixing one makes every
        # delimiter the same byte string.
        self.delimiter = b"\r\n--" + boundary
        self.buffer = b"\r\n"
        self.spool = spool
        self.parts: list[Part] = []
        self.current: Part | None = None
        self.in_headers = False
        self.done = False

    def feed(self, chunk: bytes) -> None:
        """Consume `chunk`, writing whatever part bytes are certain."""
        self.buffer += chunk
        while not self.done and self._step():
            pass

    def _step(self) -> bool:
        """Advance once; False when more input is needed."""
        if self.in_headers:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return False
            self._start_part(self.buffer[:end])
            self.buffer = self.buffer[end + 4 :]
            self.in_headers = False
            return True
        at = self.buffer.find(self.delimiter)
        if at < 0:
            keep = len(self.delimiter) + 4
            if self.current is not None and len(self.buffer) > keep:
                self.current.write(self.buffer[:-keep])
                self.buffer = self.buffer[-keep:]
            return False
        after = at + len(self.delimiter)
        if len(self.buffer) < after + 2:
            return False
        if self.current is not None:
            self.current.write(self.buffer[:at])
            self.current.finish()
            self.current = None
        tail = self.buffer[after : after + 2]
        self.buffer = self.buffer[after + 2 :]
        if tail == b"--":
            self.done = True
        elif tail == b"\r\n":
            self.in_headers = True
        else:
            raise MultipartError("malformed multipart boundary")
        return True

    def _start_part(self, header_block: bytes) -> None:
        """Open the part whose headers are `header_block`."""
        name, filename = _disposition(header_block)
        part = Part(name=name, filename=filename)
        if filename is not None:
            fd, path = tempfile.mkstemp(dir=self.spool, prefix="upload-")
            part.path = Path(path)
            part._handle = os.fdopen(fd, "wb")
            part._digest = hashlib.sha256()
        self.parts.append(part)
        self.current = part

    def close(self) -> None:
        """Close an unfinished part's file (the body ended early or failed)."""
        if self.current is not None:
            self.current.finish()


async def read_multipart(
    chunks: AsyncIterator[bytes], content_type: str, spool: Path
) -> list[Part]:
    """Every part of a multipart body, file parts spooled under `spool` (the caller removes them).

    Args:
        chunks: The request body.
        content_type: The request's Content-Type header.
        spool: Directory for the file parts.

    Returns:
        The parts, in order.

    Raises:
        MultipartError: The body is not well-formed multipart/form-data.
    """
    reader = _Reader(boundary_of(content_type), spool)
    try:
        async for chunk in chunks:
            reader.feed(chunk)
            if reader.done:
                break
    finally:
        reader.close()
    if not reader.done:
        discard(reader.parts)
        raise MultipartError("the multipart body ended before its closing boundary")
    return reader.parts


def discard(parts: list[Part]) -> None:
    """Remove the spooled files of `parts`."""
    for part in parts:
        if part.path is not None:
            part.path.unlink(missing_ok=True)
