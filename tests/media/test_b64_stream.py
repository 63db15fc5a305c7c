"""Streaming base64 extraction, checked against json.loads + base64.b64decode."""

from __future__ import annotations

import base64
import hashlib
import io
import itertools
import json
from collections.abc import AsyncIterator, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prefect_oxen.media import (
    Base64StreamError,
    Base64VideoExtractor,
    aextract_b64_video,
    extract_b64_video,
)


def reference(body: bytes) -> bytes:
    """What the naive approach decodes (the oracle)."""
    return base64.b64decode(json.loads(body)["videos"][0]["b64_json"])


def chunked(data: bytes, cuts: list[int]) -> Iterator[bytes]:
    """Split `data` at the given (unsorted, possibly repeated) positions."""
    edges = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    for start, end in itertools.pairwise(edges):
        yield data[start:end]


def escape_some(text: str, positions: list[int], kinds: list[int], slash: bool) -> str:
    """JSON-encode base64 text with escapes: \\/ for '/', \\n, \\r\\n, \\uXXXX, \\u0020."""
    tokens = ["\\/" if slash and ch == "/" else ch for ch in text]
    for position, kind in zip(positions, kinds, strict=False):
        i = position % (len(tokens) + 1)
        if kind == 0:
            tokens.insert(i, "\\n")
        elif kind == 1:
            tokens.insert(i, "\\r\\n")
        elif kind == 2 and i < len(tokens) and len(tokens[i]) == 1:
            tokens[i] = f"\\u{ord(tokens[i]):04X}"
        elif kind == 3:
            tokens.insert(i, "\\u0020")
    return "".join(tokens)


@st.composite
def response_bodies(draw: st.DrawFn) -> tuple[bytes, bytes]:
    video = draw(st.binary(max_size=600))
    positions = draw(st.lists(st.integers(0, 10_000), max_size=8))
    kinds = draw(st.lists(st.integers(0, 3), min_size=len(positions), max_size=len(positions)))
    b64 = escape_some(base64.b64encode(video).decode(), positions, kinds, draw(st.booleans()))
    item_fields = [f'"b64_json": "{b64}"']
    if draw(st.booleans()):
        item_fields.append('"revised_prompt": "a \\"quoted\\" prompt"')
    item_fields = draw(st.permutations(item_fields))
    top = [
        '"model": "kling-video-v2-6-pro-text-to-video"',
        '"created": 1775090508',
        '"videos": [{' + ", ".join(item_fields) + "}]",
        '"usage": {"seconds": 5, "nested": [1, 2.5e3, true, null, "x\\u00e9"]}',
    ]
    top = draw(st.permutations(top))
    ws = draw(st.sampled_from(["", " ", "\n  ", "\t"]))
    body = ("{" + ws + ("," + ws).join(top) + ws + "}").encode()
    return body, video


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(case=response_bodies(), cuts=st.lists(st.integers(0, 10_000), max_size=40))
def test_matches_json_loads_and_b64decode(case: tuple[bytes, bytes], cuts: list[int]) -> None:
    body, video = case
    assert reference(body) == video  # the generator builds valid JSON
    sink = io.BytesIO()
    result = extract_b64_video(chunked(body, cuts), sink)
    assert sink.getvalue() == video
    assert result.bytes_written == len(video)
    assert result.sha256 == hashlib.sha256(video).hexdigest()
    expected = json.loads(body)
    assert result.metadata.fields == {k: v for k, v in expected.items() if k != "videos"}
    assert result.metadata.model == "kling-video-v2-6-pro-text-to-video"
    assert result.metadata.created == 1775090508
    assert result.metadata.has_b64 and result.metadata.video_count == 1


@settings(max_examples=200)
@given(
    video=st.binary(min_size=1, max_size=300),
    cut=st.integers(1, 10_000),
    cuts=st.lists(st.integers(0, 10_000), max_size=20),
)
def test_any_truncation_raises(video: bytes, cut: int, cuts: list[int]) -> None:
    body = json.dumps({"model": "m", "videos": [{"b64_json": base64.b64encode(video).decode()}]})
    data = body.encode()
    truncated = data[: cut % len(data)]
    with pytest.raises(Base64StreamError):
        extract_b64_video(chunked(truncated, cuts), io.BytesIO())


def test_feed_returns_bytes_incrementally_and_bounded_by_chunk() -> None:
    video = bytes(range(256)) * 400
    body = json.dumps({"videos": [{"b64_json": base64.b64encode(video).decode()}]}).encode()
    extractor = Base64VideoExtractor()
    pieces = [extractor.feed(body[i : i + 4096]) for i in range(0, len(body), 4096)]
    extractor.close()
    assert b"".join(pieces) == video
    assert sum(1 for p in pieces if p) > 20  # output arrives while input streams in
    assert max(len(p) for p in pieces) <= 4096 * 3 // 4 + 3
    extraction = extractor.extraction  # the extractor counts and hashes what it handed back
    assert extraction.bytes_written == len(video)
    assert extraction.sha256 == hashlib.sha256(video).hexdigest()


def test_url_instead_of_b64_is_reported() -> None:
    body = b'{"model": "m", "videos": [{"url": "https:\\/\\/hub.oxen.ai\\/v.mp4?sig=1"}]}'
    result = extract_b64_video([body], io.BytesIO())
    assert result.bytes_written == 0
    assert result.metadata.has_b64 is False
    assert result.metadata.url == "https://hub.oxen.ai/v.mp4?sig=1"


def test_empty_videos_and_error_bodies_are_metadata() -> None:
    result = extract_b64_video([b'{"videos": []}'], io.BytesIO())
    assert result.metadata.video_count == 0 and not result.metadata.has_b64
    error = b'{"error": {"type": "invalid_params", "detail": "bad"}, "status": "error"}'
    result = extract_b64_video([error], io.BytesIO())
    assert result.metadata.fields["error"]["detail"] == "bad"


def test_only_the_first_video_is_decoded() -> None:
    one, two = base64.b64encode(b"first").decode(), base64.b64encode(b"second").decode()
    body = json.dumps({"videos": [{"b64_json": one}, {"b64_json": two}]}).encode()
    sink = io.BytesIO()
    result = extract_b64_video([body], sink)
    assert sink.getvalue() == b"first" and result.metadata.video_count == 2


def test_oversized_metadata_field_is_omitted_not_kept() -> None:
    body = json.dumps({"model": "m", "huge": "x" * 100_000, "videos": []}).encode()
    extractor = Base64VideoExtractor(max_field_bytes=1024)
    extractor.feed(body)
    extractor.close()
    assert extractor.metadata.omitted_fields == ("huge",)
    assert extractor.metadata.fields == {"model": "m"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"videos": [{"b64_json": "QUJD', "ended inside the base64 video"),
        (b'{"videos": [{"b64_json": "QUI"}]}', "incomplete 4-character group"),
        (b'{"videos": [{"b64_json": "QQ=="}]}  trailing', "after the end"),
        (b'{"videos": [{"b64_json": "Q!=="}]}', "not base64"),
        (b'{"videos": [{"b64_json": "QQ==QUJD"}]}', "after the final '=' padding"),
        (b'{"videos": [{"b64_json": "Q==="}]}', "misplaced '=' padding"),
        (b'{"videos": [{"b64_json": "QU\\"JD"}]}', "not base64"),
        (b'{"videos": [{"b64_json": "QUJD\\x"}]}', "invalid escape"),
        (b'{"videos": [{"b64_json": "QUJD\\u00zz"}]}', "invalid \\\\u escape"),
        (b'{"videos": [{"b64_json": "QUJD"}],}', "expected a quoted key"),
        (b'{"model": tru, "videos": []}', "invalid JSON value"),
        (b"<html>502 Bad Gateway</html>", "not a JSON object"),
        (b"[" * 5, "not a JSON object"),
        (b'{"a":' + b"[" * 100 + b"]" * 100 + b"}", "nested deeper"),
        (b"", "ended inside the response body"),
    ],
)
def test_malformed_bodies_raise_with_position(body: bytes, message: str) -> None:
    with pytest.raises(Base64StreamError, match=message) as info:
        extract_b64_video([body[:7], body[7:]], io.BytesIO())
    assert "at byte" in str(info.value) and isinstance(info.value, ValueError)


def test_feed_after_close_is_an_error() -> None:
    extractor = Base64VideoExtractor()
    extractor.feed(b'{"videos": []}')
    extractor.close()
    with pytest.raises(ValueError, match="after close"):
        extractor.feed(b" ")


async def test_async_helper_matches_sync() -> None:
    video = bytes(range(256)) * 50
    body = json.dumps({"created": 1, "videos": [{"b64_json": base64.b64encode(video).decode()}]})

    async def chunks() -> AsyncIterator[bytes]:
        data = body.encode()
        for i in range(0, len(data), 333):
            yield data[i : i + 333]

    sink = io.BytesIO()
    result = await aextract_b64_video(chunks(), sink)
    assert sink.getvalue() == video
    assert result.sha256 == hashlib.sha256(video).hexdigest()
    assert result.metadata.created == 1
