"""ArchiveManifest and scrub_secrets."""

from __future__ import annotations

import json

import pytest
from pydantic import SecretStr, ValidationError

from prefect_oxen.storage import REDACTED, ArchiveManifest, is_secret_key, scrub_secrets

API_KEY = "oxen_sk_live_9f8e7d6c5b4a"


def test_scrub_drops_secret_keys_and_redacts_secret_values() -> None:
    request = {
        "model": "kling",
        "prompt": "a fox",
        "api_key": API_KEY,
        "headers": {"Authorization": f"Bearer {API_KEY}", "Accept": "application/json"},
        "apiKey": "x",
        "x-api-key": "y",
        "aws_secret_access_key": "z",
        "password": "p",
        "access_token": "t",
        "max_tokens": 100,
        "author": "me",
        "notes": [f"key was {API_KEY}", {"deep": {"token": "t2", "ok": 1}}],
        "pydantic": SecretStr("hidden"),
    }
    scrubbed = scrub_secrets(request, [API_KEY])
    assert scrubbed == {
        "model": "kling",
        "prompt": "a fox",
        "headers": {"Accept": "application/json"},
        "max_tokens": 100,
        "author": "me",
        "notes": [REDACTED, {"deep": {"ok": 1}}],
        "pydantic": REDACTED,
    }
    assert API_KEY not in json.dumps(scrubbed)
    assert request["api_key"] == API_KEY  # the input is not modified


def test_empty_secret_does_not_redact_everything() -> None:
    assert scrub_secrets({"prompt": "a fox"}, ["", API_KEY]) == {"prompt": "a fox"}


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("api_key", True),
        ("API-KEY", True),
        ("apiKey", True),
        ("Authorization", True),
        ("client_secret", True),
        ("refresh_token", True),
        ("max_tokens", False),
        ("prompt", False),
        ("author", False),
        ("seed", False),
    ],
)
def test_is_secret_key(name: str, secret: bool) -> None:
    assert is_secret_key(name) is secret


def test_manifest_round_trips_without_secrets() -> None:
    request = scrub_secrets({"prompt": "fox", "api_key": API_KEY}, [API_KEY])
    manifest = ArchiveManifest(
        key="a/b.mp4", model="kling", request=request, cost_usd=0.35, timings={"total": 3.0}
    )
    data = json.loads(manifest.to_json_bytes())
    assert data["schema_version"] == 1
    assert data["request"] == {"prompt": "fox"}
    assert data["created_at"].endswith("Z") or data["created_at"].endswith("+00:00")
    assert ArchiveManifest.model_validate(data) == manifest
    assert API_KEY.encode() not in manifest.to_json_bytes()


def test_manifest_rejects_unknown_fields_and_negative_cost() -> None:
    with pytest.raises(ValidationError, match="api_key"):
        ArchiveManifest(key="k", model="m", api_key="x")  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="cost_usd"):
        ArchiveManifest(key="k", model="m", cost_usd=-1)
