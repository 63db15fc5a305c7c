"""The API key and signed URL tokens never show up in reprs, errors or log lines."""

from __future__ import annotations

import logging
import traceback
from pathlib import Path

import pytest

from prefect_oxen.client import (
    AsyncOxenClient,
    OutcomeUnknown,
    OxenError,
    RetryPolicy,
    VideoRequest,
    redact_text,
    redact_url,
)
from tests.support import FAST

from ..conftest import API_KEY, FAST_POLL


def test_redact_url_drops_the_query_and_userinfo() -> None:
    url = "https://user:pw@hub.oxen.ai/api/repos/a/files/v.mp4?expires=1&signature=abc123"
    assert redact_url(url) == "https://hub.oxen.ai/api/repos/a/files/v.mp4?[REDACTED]"
    assert redact_url("https://hub.oxen.ai/api/ai/queue") == "https://hub.oxen.ai/api/ai/queue"


def test_redact_text_finds_urls_tokens_and_given_secrets() -> None:
    text = f"GET https://h/x.mp4?signature=abc Authorization: Bearer {API_KEY} key={API_KEY}"
    redacted = redact_text(text, (API_KEY,))
    assert API_KEY not in redacted and "signature=abc" not in redacted


async def test_nothing_captured_during_a_whole_session_contains_a_secret(
    emulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    signatures: list[str] = []
    async with AsyncOxenClient(
        api_key=API_KEY, base_url=emulator.base_url, retry=RetryPolicy.immediate(), poll=FAST_POLL
    ) as oxen:
        texts += [repr(oxen), str(oxen)]
        [generation] = await oxen.enqueue(VideoRequest(model=FAST, prompt="a fox", duration=1))
        done = await oxen.wait_for_generation(generation.generation_id, timeout=30)
        signatures.append(done.result_url.split("?", 1)[1])
        texts += [repr(done), str(done)]
        await oxen.download(done.result_url, tmp_path / "fox.mp4", generation_id=done.generation_id)
        response = await oxen.generate_video(VideoRequest(model=FAST, prompt="a fox", duration=1))
        signatures.append(response.videos[0].url.split("?", 1)[1])
        texts += [repr(response), str(response)]
        emulator.configure(
            faults={"connection_reset": 1.0, "routes": ["POST /api/ai/videos/generate"], "limit": 1}
        )
        errors: list[OxenError] = []
        try:
            await oxen.generate_video(VideoRequest(model=FAST, prompt="a fox", duration=1))
        except OutcomeUnknown as exc:
            errors.append(exc)
        emulator.configure(faults={"connection_reset": 0.0})
        async with AsyncOxenClient(
            api_key=API_KEY + "x", base_url=emulator.base_url, retry=RetryPolicy.immediate()
        ) as wrong:
            try:
                await wrong.list_models()
            except OxenError as exc:
                errors.append(exc)
    assert len(errors) == 2
    for exc in errors:
        texts += [str(exc), repr(exc), "".join(traceback.format_exception(exc)), repr(vars(exc))]
    texts += [record.getMessage() for record in caplog.records]
    texts.append(caplog.text)
    blob = "\n".join(texts)
    assert any("HTTP Request" in r.getMessage() for r in caplog.records), "httpx logs were captured"
    assert API_KEY not in blob
    for signature in signatures:
        assert signature not in blob
