"""Streaming extraction of a base64 video from an Oxen JSON response, in constant memory.

A `response_format="b64_json"` body looks like
``{"model": ..., "created": ..., "videos": [{"b64_json": "<base64 mp4>"}]}`` and can be hundreds of
megabytes. This module scans the JSON incrementally and decodes the base64 text as it arrives, so
peak memory is O(chunk) whatever the video size.

The streaming JSON libraries (ijson, json-stream) stream *between* values but materialise every
string whole, so the video would be held in memory (plus its decoded copy). Only the structure needed to find that
string is parsed here; other top-level fields (model, created, error ...) are small, captured
with a size cap and decoded by `json.loads`. Base64 is decoded with `binascii.a2b_base64` on
4-character-aligned slices; JSON escapes inside the base64 text (``\\/``, ``\\n``, ``\\uXXXX``)
are honoured.
"""

from __future__ import annotations

import binascii
import hashlib
import json
import re
from collections.abc import AsyncIterable, Callable, Generator, Iterable
from typing import Any, BinaryIO

from pydantic import BaseModel, ConfigDict, Field

from prefect_oxen.media._errors import Base64StreamError

_NOT_WS = re.compile(rb"[^ \t\n\r]")
_SCALAR_END = re.compile(rb"[,\]} \t\n\r]")
_SCALAR = re.compile(rb"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|true|false|null")
_HEX4 = re.compile(rb"[0-9a-fA-F]{4}")
_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B64_ALPHABET_AND_PAD = _B64_ALPHABET + b"="
_B64_IGNORED = frozenset(b" \t\n\r")  # only reachable through JSON escapes (\n, \u0020 ...)
_SIMPLE_ESCAPES = {
    ord('"'): b'"',
    ord("\\"): b"\\",
    ord("/"): b"/",
    ord("b"): b"\b",
    ord("f"): b"\f",
    ord("n"): b"\n",
    ord("r"): b"\r",
    ord("t"): b"\t",
}
_LBRACE, _RBRACE, _LBRACKET, _RBRACKET = b"{}[]"
_QUOTE, _COLON, _COMMA = b'":,'
_MAX_DEPTH = 64
_MAX_SCALAR = 64

_SKIP, _RAW, _B64 = range(3)
_Parse = Generator[None, None, Any]


class Base64Metadata(BaseModel):
    """What the response said besides the video: small top-level fields and the video entries."""

    model_config = ConfigDict(frozen=True)

    fields: dict[str, Any] = Field(description="Top-level fields other than the videos array.")
    omitted_fields: tuple[str, ...] = Field(description="Fields too large to keep (names only).")
    url: str | None = Field(description="A video URL found instead of (or besides) base64.")
    has_b64: bool = Field(description="Whether a b64_json video was found.")
    video_count: int = Field(description="Number of entries in the videos array.")

    @property
    def model(self) -> str | None:
        """The ``model`` field of the response, if present."""
        value = self.fields.get("model")
        return value if isinstance(value, str) else None

    @property
    def created(self) -> int | None:
        """The ``created`` Unix timestamp of the response, if present."""
        value = self.fields.get("created")
        return value if isinstance(value, int) and not isinstance(value, bool) else None


class Base64Extraction(BaseModel):
    """Result of streaming one response body into a sink."""

    model_config = ConfigDict(frozen=True)

    bytes_written: int = Field(description="Decoded video bytes written to the sink.")
    sha256: str = Field(description="Hex sha256 of the decoded video bytes.")
    metadata: Base64Metadata


class Base64VideoExtractor:
    """Incremental decoder: `feed` body chunks, get decoded video bytes back; then `close`.

    It counts and hashes the bytes it hands back, so `extraction` describes the whole video.

    Decodes the first ``b64_json`` entry of the `array_key` array (``"videos"``; ``"images"``
    for the image API). Top-level fields up to `max_field_bytes` of JSON each are kept in
    `metadata`.

    Args:
        array_key: The top-level array holding the media (``"videos"`` or ``"images"``).
        max_field_bytes: The largest top-level field kept in `metadata`, in bytes of JSON.
    """

    def __init__(self, *, array_key: str = "videos", max_field_bytes: int = 64 * 1024) -> None:
        self._array_key = array_key
        self._max_field_bytes = max_field_bytes
        self._buf = b""
        self._pos = 0
        self._offset = 0  # absolute body offset of self._buf[0], for error messages
        self._eof = False
        self._closed = False
        self._done = False
        self._depth = 0
        self._out = bytearray()
        self._digest = hashlib.sha256()
        self._decoded = 0
        self._raw = bytearray()
        self._raw_overflow = False
        self._capture: bytearray | None = None
        self._capture_overflow = False
        self._b64 = _Base64Decoder()
        self._fields: dict[str, Any] = {}
        self._omitted: list[str] = []
        self._url: str | None = None
        self._has_b64 = False
        self._video_count = 0
        self._parser = self._document()
        next(self._parser)  # run up to the first read

    @property
    def metadata(self) -> Base64Metadata:
        """What has been seen so far besides the video (complete once `close` returned)."""
        return Base64Metadata(
            fields=dict(self._fields),
            omitted_fields=tuple(self._omitted),
            url=self._url,
            has_b64=self._has_b64,
            video_count=self._video_count,
        )

    @property
    def extraction(self) -> Base64Extraction:
        """The bytes decoded so far, their sha256 and `metadata` (complete once `close` returned)."""
        return Base64Extraction(
            bytes_written=self._decoded, sha256=self._digest.hexdigest(), metadata=self.metadata
        )

    def feed(self, chunk: bytes) -> bytes:
        """Consume the next piece of the body; return the video bytes decoded from it.

        Args:
            chunk: The next bytes of the response body, split anywhere.

        Returns:
            The video bytes decoded from it (possibly none).

        Raises:
            ValueError: Called after `close`.
            Base64StreamError: The body is not the expected JSON, or the base64 is invalid.
        """
        if self._closed:
            raise ValueError("feed() called after close()")
        if not chunk:
            return b""
        self._offset += self._pos
        self._buf = self._buf[self._pos :] + bytes(chunk)
        self._pos = 0
        self._run()
        out = bytes(self._out)
        self._out.clear()
        self._digest.update(out)
        self._decoded += len(out)
        return out

    def close(self) -> None:
        """Check the body ended cleanly: complete JSON, terminated string, correct padding.

        Raises:
            Base64StreamError: The body ended early or the base64 ended inside a group.
        """
        if self._closed:
            return
        self._closed = True
        if not self._done:
            self._eof = True
            self._run()  # the parser raises where it was waiting for more input
        try:
            self._b64.finish()
        except ValueError as exc:
            raise self._error(f"the base64 video is invalid: {exc}") from None

    # -- driving the parser ------------------------------------------------------------------

    def _run(self) -> None:
        """Advance the parser over the bytes buffered so far (or check what follows the end)."""
        if self._done:
            self._check_trailing()
            return
        try:
            next(self._parser)
        except StopIteration:
            self._done = True
            self._check_trailing()

    def _check_trailing(self) -> None:
        """Refuse anything but whitespace after the end of the JSON document."""
        m = _NOT_WS.search(self._buf, self._pos)
        if m:
            self._pos = m.start()
            raise self._error("unexpected data after the end of the JSON document")
        self._pos = len(self._buf)

    def _error(self, message: str) -> Base64StreamError:
        """A `Base64StreamError` for `message` at the current offset in the body."""
        return Base64StreamError(message, offset=self._offset + self._pos)

    def _wait(self, where: str) -> _Parse:
        """Pause the parser until more bytes arrive; at end of input, the body was truncated."""
        if self._eof:
            raise self._error(f"the response body ended inside {where} (truncated download?)")
        yield

    def _take_until(self, end: int) -> None:
        """Consume the buffer up to `end`, copying it into the capture while one is open."""
        if self._capture is not None and not self._capture_overflow:
            if len(self._capture) + end - self._pos > self._max_field_bytes:
                self._capture_overflow = True
            else:
                self._capture += self._buf[self._pos : end]
        self._pos = end

    # -- JSON grammar (only as much as needed) -----------------------------------------------

    def _document(self) -> _Parse:
        """Parse the whole body: one JSON object."""
        first = yield from self._next_token("the response body")
        if first != _LBRACE:
            raise self._error("the response body is not a JSON object")
        yield from self._object(self._top_member, "the top-level object")

    def _top_member(self, key: str, first: int) -> _Parse:
        """Parse one top-level member: the video array, or a field kept as metadata."""
        if key == self._array_key and first == _LBRACKET:
            yield from self._entries(_RBRACKET, self._video_item, f'the "{key}" array')
            return
        self._capture, self._capture_overflow = bytearray([first]), False
        yield from self._skip_value(first, f'the top-level field "{key}"')
        captured, overflow, self._capture = self._capture, self._capture_overflow, None
        if overflow:
            self._omitted.append(key)
            return
        try:
            self._fields[key] = json.loads(captured)
        except ValueError as exc:
            raise self._error(f'the top-level field "{key}" is not valid JSON: {exc}') from None

    def _video_item(self, index: int, first: int) -> _Parse:
        """Parse one item of the video array, streaming its base64 field out."""
        self._video_count += 1
        where = f"{self._array_key}[{index}]"
        if first != _LBRACE:
            yield from self._skip_value(first, where)
            return

        def member(key: str, value_first: int) -> _Parse:
            if key == "b64_json" and value_first == _QUOTE and not self._has_b64:
                self._has_b64 = True
                yield from self._string(_B64, f"the base64 video string {where}.b64_json")
            elif key == "url" and value_first == _QUOTE and self._url is None:
                self._url = yield from self._small_string(f"{where}.url")
            else:
                yield from self._skip_value(value_first, f"{where}.{key}")

        yield from self._object(member, where)

    def _object(self, on_member: Callable[[str, int], _Parse], where: str) -> _Parse:
        """Parse a JSON object, handing each member to `on_member`."""

        def member(_index: int, first: int) -> _Parse:
            if first != _QUOTE:
                raise self._error(f"expected a quoted key in {where}")
            key = yield from self._small_string(f"a key in {where}")
            if (yield from self._next_token(where)) != _COLON:
                raise self._error(f"expected ':' after key {key!r} in {where}")
            yield from on_member(key, (yield from self._next_token(where)))

        yield from self._entries(_RBRACE, member, where)

    def _entries(self, close: int, on_entry: Callable[[int, int], _Parse], where: str) -> _Parse:
        """Parse the comma-separated entries of an object or array up to `close` (its opening
        brace or bracket was read), handing each entry's index and first byte to `on_entry`."""
        self._enter(where)
        b = yield from self._next_token(where)
        index = 0
        if b != close:
            while True:
                yield from on_entry(index, b)
                b = yield from self._next_token(where)
                if b == close:
                    break
                if b != _COMMA:
                    raise self._error(f"expected ',' or '{chr(close)}' in {where}")
                b = yield from self._next_token(where)
                index += 1
        self._depth -= 1

    def _enter(self, where: str) -> None:
        """Go one level deeper, refusing documents nested beyond the limit."""
        self._depth += 1
        if self._depth > _MAX_DEPTH:
            raise self._error(f"JSON nested deeper than {_MAX_DEPTH} levels in {where}")

    def _skip_value(self, first: int, where: str) -> _Parse:
        """Parse and discard any JSON value (captured when a capture is open)."""
        if first == _LBRACE:
            yield from self._object(lambda _k, b: self._skip_value(b, where), where)
        elif first == _LBRACKET:
            yield from self._entries(_RBRACKET, lambda _i, b: self._skip_value(b, where), where)
        elif first == _QUOTE:
            yield from self._string(_SKIP, f"a string in {where}")
        else:
            yield from self._scalar(first, where)

    def _next_token(self, where: str) -> _Parse:
        """The next non-whitespace byte, waiting for more input when needed."""
        while True:
            m = _NOT_WS.search(self._buf, self._pos)
            if m:
                i = m.start()
                self._take_until(i + 1)
                return self._buf[i]
            self._take_until(len(self._buf))
            yield from self._wait(where)

    def _scalar(self, first: int, where: str) -> _Parse:
        """Parse a number, true, false or null, and return its value."""
        token = bytearray([first])
        while True:
            m = _SCALAR_END.search(self._buf, self._pos)
            end = m.start() if m else len(self._buf)
            token += self._buf[self._pos : end]
            self._take_until(end)
            if len(token) > _MAX_SCALAR or (m is not None and not _SCALAR.fullmatch(token)):
                raise self._error(f"invalid JSON value {bytes(token[:20])!r} in {where}")
            if m is not None:
                return
            yield from self._wait(where)

    def _small_string(self, where: str) -> _Parse:
        """Parse a string bounded by the field-size limit, and return it decoded."""
        self._raw, self._raw_overflow = bytearray(b'"'), False
        yield from self._string(_RAW, where)
        if self._raw_overflow:
            raise self._error(f"{where} is longer than {self._max_field_bytes} bytes")
        try:
            return json.loads(self._raw + b'"')
        except ValueError as exc:
            raise self._error(f"{where} is not a valid JSON string: {exc}") from None

    def _string(self, mode: int, where: str) -> _Parse:
        """Consume a string whose opening quote was read; decode, collect or skip its content."""
        while True:
            buf = self._buf
            special = _find_string_special(buf, self._pos)
            end = len(buf) if special == -1 else special
            if end > self._pos:
                self._string_content(mode, buf[self._pos : end])
                self._take_until(end)
            if special == -1:
                yield from self._wait(where)
                continue
            if buf[end] == _QUOTE:
                self._take_until(end + 1)
                return
            size = 6 if end + 1 < len(buf) and buf[end + 1] == ord("u") else 2
            if len(buf) - end < size:
                yield from self._wait(where)
                continue
            escape = buf[end : end + size]
            if mode == _B64:
                char = self._unescape(escape, where)
                if char[0] not in _B64_IGNORED or len(char) != 1:
                    self._string_content(mode, char)
            elif mode == _RAW:
                self._unescape(escape, where)
                self._string_content(mode, escape)
            self._take_until(end + size)

    def _string_content(self, mode: int, text: bytes) -> None:
        """Route the raw text of a string: to the base64 decoder, the capture, or nowhere."""
        if mode == _B64:
            try:
                self._out += self._b64.feed(text)
            except ValueError as exc:
                raise self._error(f"the base64 video is invalid: {exc}") from None
        elif mode == _RAW and not self._raw_overflow:
            if len(self._raw) + len(text) > self._max_field_bytes:
                self._raw_overflow = True
            else:
                self._raw += text

    def _unescape(self, escape: bytes, where: str) -> bytes:
        """The bytes a JSON escape sequence (``\
        ``, ``\\u00e9``...) stands for.
        """
        if escape[1] == ord("u"):
            if not _HEX4.fullmatch(escape, 2):
                raise self._error(f"invalid \\u escape {escape!r} in {where}")
            return chr(int(escape[2:], 16)).encode("utf-8", "surrogatepass")
        try:
            return _SIMPLE_ESCAPES[escape[1]]
        except KeyError:
            raise self._error(f"invalid escape {escape!r} in {where}") from None


def _find_string_special(buf: bytes, start: int) -> int:
    """Index of the next '"' or backslash at or after `start`, or -1."""
    # Two memchr-backed finds, not a regex character class: this runs over every byte of the video.
    quote = buf.find(b'"', start)
    backslash = buf.find(b"\\", start, len(buf) if quote == -1 else quote)
    return quote if backslash == -1 else backslash


class _Base64Decoder:
    """Decode base64 text fed in arbitrary pieces, decoding only whole 4-character quads."""

    def __init__(self) -> None:
        self._pending = b""  # < 4 characters, or the incomplete final (padded) quad
        self._padded = False  # a '=' was seen: only '=' may follow, up to the quad's end
        self._complete = False  # the padded final quad is complete: nothing may follow

    def feed(self, text: bytes) -> bytes:
        """Decode the next piece of base64 text.

        Args:
            text: Base64 characters (any length, split anywhere).

        Returns:
            The bytes of every complete 4-character group so far.

        Raises:
            ValueError: A character outside the alphabet, or data after the final padding.
        """
        invalid = text.translate(None, _B64_ALPHABET_AND_PAD)
        if invalid:
            raise ValueError(f"character {invalid[:1]!r} is not base64")
        if self._complete:
            raise ValueError("data after the final '=' padding")
        data = self._pending + text
        out = b""
        if not self._padded:
            pad = data.find(b"=")
            if pad == -1:
                whole = len(data) & ~3
                self._pending = data[whole:]
                return binascii.a2b_base64(data[:whole])
            self._padded = True
            quad_start = pad & ~3
            out = binascii.a2b_base64(data[:quad_start])
            data = data[quad_start:]
        # `data` is now the final quad, starting at a quad boundary and containing '='.
        first_pad = data.index(b"=")
        if data[first_pad:].strip(b"="):
            raise ValueError("data after the final '=' padding")
        if first_pad < 2 or len(data) > 4:
            raise ValueError("misplaced '=' padding (it may only end the text: 'xx==' or 'xxx=')")
        if len(data) == 4:
            out += binascii.a2b_base64(data)
            self._pending, self._complete = b"", True
        else:
            self._pending = data
        return out

    def finish(self) -> None:
        """Check the text ended on a whole 4-character group.

        Raises:
            ValueError: The text ended inside a group (truncated, or missing padding).
        """
        if self._pending:
            raise ValueError(
                f"the text ends with {len(self._pending)} character(s) of an incomplete "
                "4-character group (truncated, or missing '=' padding)"
            )


def extract_b64_video(chunks: Iterable[bytes], sink: BinaryIO) -> Base64Extraction:
    """Stream a response body into `sink` as decoded video bytes; hash them on the way.

    Args:
        chunks: The response body, in pieces.
        sink: A binary file the video bytes are written to.

    Returns:
        Bytes written, their sha256 and the response's other fields.

    Raises:
        Base64StreamError: The body is not the expected JSON, or the base64 is invalid.
    """
    extractor = Base64VideoExtractor()
    for chunk in chunks:
        if data := extractor.feed(chunk):
            sink.write(data)
    extractor.close()
    return extractor.extraction


async def aextract_b64_video(chunks: AsyncIterable[bytes], sink: BinaryIO) -> Base64Extraction:
    """Async `extract_b64_video` (e.g. over `httpx.Response.aiter_bytes()`); `sink.write` is
    called synchronously, with at most one chunk's worth of bytes at a time."""
    extractor = Base64VideoExtractor()
    async for chunk in chunks:
        if data := extractor.feed(chunk):
            sink.write(data)
    extractor.close()
    return extractor.extraction
