"""The client's one send path, unit-tested at the transport: `httpx.MockTransport` behind
``http_client=``.

- every status, in both documented error-body shapes, becomes the same exception for a paid and an
  unpaid call (except where a paid POST's outcome is unknown), retried only where that is safe;
- transport failures (never sent, sent and lost) on paid and unpaid calls;
- every kind of request (API call, download, streamed generate, event stream) waits out the
  shared pause, and a 429 on any of them pauses the others;
- a download cut mid-body is resumed with Range, through stamina like every other retry.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import stamina.instrumentation

from prefect_oxen.client import (
    APIError,
    AuthenticationError,
    GenerationNotFound,
    InsufficientCredits,
    NotFound,
    OutcomeUnknown,
    PermissionDenied,
    PollPolicy,
    RateLimited,
    RequestValidationError,
    RetryPolicy,
    ServerError,
    TransportError,
    VideoRequest,
)
from prefect_oxen.client._download import _Unfinished

from ..conftest import API_KEY
from .fake_api import MODEL, RESULT_URL, FakeOxen, error, fake_client

SYNC = "/api/ai/videos/generate"
LEGACY_SYNC = "/api/videos/generate"
GENERATION = "/api/ai/queue/gen-1"
EVENTS = "/api/events"
RESULT_PATH = httpx.URL(RESULT_URL).path
TWO_TRIES = RetryPolicy.immediate(attempts=2)
MESSAGE = "the API's own words"

# The two documented error bodies (oxen-api.md section 0).
SHAPES = {
    "typed": lambda kind: {
        "error": {"type": kind, "title": "Title", "detail": MESSAGE},
        "status": "error",
        "status_message": kind,
    },
    "message": lambda kind: {"error": {"message": MESSAGE}},
}
KINDS = {401: "unauthenticated", 404: "resource_not_found", 500: "unknown_error"}

# status -> (exception on an unpaid read, on a paid POST, whether the read is retried)
STATUSES: dict[int, tuple[type[Exception], type[Exception], bool]] = {
    400: (RequestValidationError, RequestValidationError, False),
    401: (AuthenticationError, AuthenticationError, False),
    402: (InsufficientCredits, InsufficientCredits, False),
    403: (PermissionDenied, PermissionDenied, False),
    404: (GenerationNotFound, NotFound, False),
    405: (APIError, APIError, False),
    409: (APIError, APIError, False),
    410: (APIError, APIError, False),
    422: (RequestValidationError, RequestValidationError, False),
    429: (RateLimited, RateLimited, True),
    500: (ServerError, OutcomeUnknown, True),
    502: (ServerError, OutcomeUnknown, True),
    503: (ServerError, ServerError, True),
    504: (ServerError, OutcomeUnknown, True),
}


def _request() -> VideoRequest:
    return VideoRequest(model=MODEL, prompt="a fox at dawn", duration=5)


def _body(status: int, shape: str) -> dict:
    return SHAPES[shape](KINDS.get(status, "invalid_params" if status < 500 else "unknown_error"))


# --- every status, both body shapes, paid and unpaid --------------------------------------------


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("status", list(STATUSES))
async def test_an_unpaid_read_maps_every_status(status: int, shape: str) -> None:
    expected, _, retried = STATUSES[status]
    fake = FakeOxen()
    fake.script("GET", GENERATION, *[error(status, _body(status, shape))] * 2)
    async with fake_client(fake, retry=TWO_TRIES) as oxen:
        with pytest.raises(expected) as caught:
            await oxen.get_generation("gen-1")
    raised = caught.value
    assert isinstance(raised, APIError) and raised.status_code == status
    assert raised.detail == MESSAGE and MESSAGE in str(raised)
    assert raised.retryable is retried
    assert fake.count("GET", GENERATION) == (2 if retried else 1)
    if shape == "typed":
        assert raised.error_type == _body(status, shape)["error"]["type"]


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("status", list(STATUSES))
async def test_a_paid_post_maps_every_status_and_never_repeats_an_unknown_outcome(
    status: int, shape: str
) -> None:
    _, expected, _ = STATUSES[status]
    # Only a 429 or a 503 says the generation was not taken on: those alone are sent again.
    resent = status in (429, 503)
    fake = FakeOxen()
    fake.script("POST", SYNC, *[error(status, _body(status, shape))] * 2)
    # A route-level 404 moves on to the legacy form of the route: it answers the same.
    fake.script("POST", LEGACY_SYNC, error(status, _body(status, shape)))
    async with fake_client(fake, retry=TWO_TRIES) as oxen:
        with pytest.raises(expected) as caught:
            await oxen.generate_video(_request(), validate=False)
    raised = caught.value
    assert raised.status_code == status and MESSAGE in str(raised)
    assert fake.count("POST", SYNC) == (2 if resent else 1)
    if expected is OutcomeUnknown:
        assert not raised.retryable and "may still have been accepted" in str(raised)


# --- transport failures ---------------------------------------------------------------------------


def _raises(exc_type: type[httpx.HTTPError]):
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc_type("the network broke", request=request)

    return handler


NOT_SENT = [httpx.ConnectError, httpx.ConnectTimeout]
SENT_AND_LOST = [httpx.ReadTimeout, httpx.ReadError, httpx.RemoteProtocolError]


@pytest.mark.parametrize("exc_type", NOT_SENT + SENT_AND_LOST)
async def test_an_unpaid_read_that_breaks_is_retried_then_a_transport_error(exc_type) -> None:
    fake = FakeOxen()
    fake.script("GET", GENERATION, _raises(exc_type), _raises(exc_type))
    async with fake_client(fake, retry=TWO_TRIES) as oxen:
        with pytest.raises(TransportError) as caught:
            await oxen.get_generation("gen-1")
    assert type(caught.value) is TransportError and caught.value.retryable
    assert caught.value.sent is (exc_type not in NOT_SENT)
    assert exc_type.__name__ in str(caught.value) and API_KEY not in str(caught.value)
    assert fake.count("GET", GENERATION) == 2


@pytest.mark.parametrize("exc_type", NOT_SENT)
async def test_a_paid_post_that_never_left_is_sent_again(exc_type) -> None:
    fake = FakeOxen()
    fake.script("POST", SYNC, _raises(exc_type))
    async with fake_client(fake, retry=TWO_TRIES) as oxen:
        response = await oxen.generate_video(_request(), validate=False)
    assert response.videos and fake.count("POST", SYNC) == 2


@pytest.mark.parametrize("exc_type", SENT_AND_LOST)
async def test_a_paid_post_whose_answer_was_lost_is_outcome_unknown(exc_type) -> None:
    fake = FakeOxen()
    fake.script("POST", SYNC, _raises(exc_type))
    async with fake_client(fake, retry=TWO_TRIES) as oxen:
        with pytest.raises(OutcomeUnknown) as caught:
            await oxen.generate_video(_request(), validate=False)
    assert not caught.value.retryable and caught.value.method == "POST"
    assert fake.count("POST", SYNC) == 1


@pytest.mark.parametrize("exc_type", SENT_AND_LOST)
async def test_a_streamed_generate_whose_answer_was_lost_is_outcome_unknown(
    exc_type, tmp_path: Path
) -> None:
    fake = FakeOxen()
    fake.script("POST", SYNC, _raises(exc_type))
    async with fake_client(fake, retry=TWO_TRIES) as oxen:
        with pytest.raises(OutcomeUnknown):
            await oxen.generate_video_to_file(_request(), tmp_path / "fox.mp4", validate=False)
    assert fake.count("POST", SYNC) == 1 and not (tmp_path / "fox.mp4").exists()


# --- the shared throttle on every kind of request -------------------------------------------------

VIDEO = bytes(range(256)) * 4096 * 3  # 3 MiB: three of the client's 1 MiB chunks
PAUSE = 0.5
WITH_EVENTS = PollPolicy(initial=0.01, maximum=0.05, safety_interval=1.0, use_events=True)


async def _streamed(data: bytes) -> AsyncIterator[bytes]:
    # A body that arrives like a real one (a bytes body would be read up front by httpx, and
    # the client streams raw bytes).
    yield data


def _video(request: httpx.Request) -> httpx.Response:
    """The result file, honouring a Range request."""
    wanted = request.headers.get("range")
    if not wanted:
        headers = {"content-length": str(len(VIDEO))}
        return httpx.Response(200, content=_streamed(VIDEO), headers=headers)
    start = int(wanted.removeprefix("bytes=").rstrip("-"))
    return httpx.Response(
        206,
        content=_streamed(VIDEO[start:]),
        headers={
            "content-range": f"bytes {start}-{len(VIDEO) - 1}/{len(VIDEO)}",
            "content-length": str(len(VIDEO) - start),
        },
    )


async def _open_stream() -> AsyncIterator[bytes]:
    yield b": keep-alive\n\n"
    await asyncio.Event().wait()


def _event_stream(request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        200, headers={"content-type": "text/event-stream"}, content=_open_stream()
    )


async def _download(oxen, tmp_path: Path) -> None:
    await oxen.download(RESULT_URL, tmp_path / "video.mp4")


async def _generate_to_file(oxen, tmp_path: Path) -> None:
    await oxen.generate_video_to_file(_request(), tmp_path / "video.mp4", validate=False)


async def _subscribe(oxen, tmp_path: Path) -> None:
    assert await oxen.tracker.subscribe(timeout=30)


async def _read(oxen, tmp_path: Path) -> None:
    await oxen.list_models()


PATHS = {
    "download": (_download, ("GET", RESULT_PATH)),
    "streamed generate": (_generate_to_file, ("POST", SYNC)),
    "event stream": (_subscribe, ("GET", EVENTS)),
    "api call": (_read, ("GET", "/api/ai/models")),
}


@pytest.mark.parametrize("path", list(PATHS))
async def test_every_kind_of_request_waits_out_the_shared_pause(path: str, tmp_path: Path) -> None:
    run, (method, route) = PATHS[path]
    fake = FakeOxen()
    fake.script("GET", RESULT_PATH, _video)
    fake.script("GET", EVENTS, _event_stream)
    async with fake_client(fake, poll=WITH_EVENTS) as oxen:
        paused_at = time.monotonic()
        oxen.throttle.pause(PAUSE)
        await asyncio.wait_for(run(oxen, tmp_path), 30)
    [first, *_] = [s for s in fake.seen if (s.method, s.path) == (method, route)]
    assert first.at - paused_at >= PAUSE


async def test_a_rate_limited_call_holds_back_a_download_started_after_it(tmp_path: Path) -> None:
    fake = FakeOxen()
    fake.script(
        "GET", "/api/ai/models", error(429, {"error": {"message": "slow"}}, {"Retry-After": "1"})
    )
    fake.script("GET", RESULT_PATH, _video)
    policy = RetryPolicy(attempts=3, wait_initial=0, wait_max=0, wait_jitter=0, max_retry_after=5)
    async with fake_client(fake, retry=policy) as oxen:
        call = asyncio.create_task(oxen.list_models())
        while oxen.throttle.remaining == 0:  # the 429 has been read
            await asyncio.sleep(0.005)
        result = await asyncio.wait_for(oxen.download(RESULT_URL, tmp_path / "video.mp4"), 30)
        await call
    [limited] = [s for s in fake.seen if s.path == "/api/ai/models"][:1]
    [download] = [s for s in fake.seen if s.path == RESULT_PATH]
    assert download.at - limited.at >= 1.0
    assert result.sha256 == hashlib.sha256(VIDEO).hexdigest()


async def test_a_rate_limited_download_pauses_the_other_calls(tmp_path: Path) -> None:
    fake = FakeOxen()
    fake.script(
        "GET", RESULT_PATH, error(429, {"error": {"message": "slow"}}, {"Retry-After": "1"}), _video
    )
    policy = RetryPolicy(attempts=3, wait_initial=0, wait_max=0, wait_jitter=0, max_retry_after=5)
    async with fake_client(fake, retry=policy) as oxen:
        download = asyncio.create_task(oxen.download(RESULT_URL, tmp_path / "video.mp4"))
        while oxen.throttle.remaining == 0:
            await asyncio.sleep(0.005)
        await oxen.list_models()
        result = await asyncio.wait_for(download, 30)
    [limited, resumed] = [s for s in fake.seen if s.path == RESULT_PATH]
    [read] = [s for s in fake.seen if s.path == "/api/ai/models"]
    assert read.at - limited.at >= 1.0 and resumed.at - limited.at >= 1.0
    assert result.attempts == 2


# --- a download cut mid-body ---------------------------------------------------------------------

# Whole chunks, so what arrived before the cut reaches the disk (httpx hands out full chunks).
CUT_AT = 2 * 1024 * 1024


def _cut_short(request: httpx.Request) -> httpx.Response:
    """The whole file announced, a third of it sent, then the connection breaks."""

    async def body() -> AsyncIterator[bytes]:
        yield VIDEO[:CUT_AT]
        raise httpx.ReadError("connection reset by peer", request=request)

    return httpx.Response(200, content=body(), headers={"content-length": str(len(VIDEO))})


@pytest.fixture
def retries_scheduled():
    """Every retry stamina schedules, as its instrumentation reports them."""
    seen: list[stamina.instrumentation.RetryDetails] = []
    previous = stamina.instrumentation.get_on_retry_hooks()
    stamina.instrumentation.set_on_retry_hooks([seen.append])
    yield seen
    stamina.instrumentation.set_on_retry_hooks(previous)


async def test_a_download_cut_mid_body_is_resumed_through_stamina(
    tmp_path: Path, retries_scheduled
) -> None:
    fake = FakeOxen()
    fake.script("GET", RESULT_PATH, _cut_short, _video)
    policy = RetryPolicy(attempts=3, wait_initial=0.05, wait_max=0.05, wait_jitter=0)
    async with fake_client(fake, retry=policy) as oxen:
        result = await oxen.download(RESULT_URL, tmp_path / "video.mp4")
    first, second = [s.request for s in fake.seen if s.path == RESULT_PATH]
    assert "range" not in first.headers and second.headers["range"] == f"bytes={CUT_AT}-"
    assert result.attempts == 2 and result.size_bytes == len(VIDEO)
    assert result.sha256 == hashlib.sha256(VIDEO).hexdigest()
    assert (tmp_path / "video.mp4").read_bytes() == VIDEO
    # The pause before the resume was stamina's backoff for a broken connection.
    [retry] = retries_scheduled
    assert isinstance(retry.caused_by, _Unfinished) and retry.wait_for == pytest.approx(0.05)
    # The key goes to the API's host only, never to the CDN serving the file.
    assert "authorization" not in first.headers
