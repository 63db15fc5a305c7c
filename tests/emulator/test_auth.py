"""Bearer authentication and the error shapes of unknown routes."""

from __future__ import annotations

import httpx
import pytest

from prefect_oxen.emulator import EmulatorServer
from tests.emulator.conftest import configure
from tests.support import FAST


def _assert_401(response: httpx.Response) -> None:
    assert response.status_code == 401
    body = response.json()
    assert body["error"]["type"] == "unauthenticated"
    assert body["status"] == "error"
    assert body["status_message"] == "unauthenticated"
    assert body["error"]["title"]


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer"}, {"Authorization": "Basic abc"}, {"Authorization": "abc"}],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/ai/models"),
        ("POST", "/api/ai/queue"),
        ("POST", "/api/ai/videos/generate"),
        ("GET", "/api/ai/queue"),
        ("GET", "/api/events"),
        ("GET", "/api/evaluations/models"),
    ],
)
def test_missing_or_malformed_token_is_401(
    reset_emulator: EmulatorServer, plain: httpx.Client, headers: dict, method: str, path: str
) -> None:
    response = plain.request(method, reset_emulator.base_url + path, headers=headers, json={})
    _assert_401(response)


def test_api_keys_restrict_tokens(client: httpx.Client) -> None:
    configure(client, api_keys=["good"])
    bad = client.get("/api/ai/models", headers={"Authorization": "Bearer test-key"})
    _assert_401(bad)
    good = client.get("/api/ai/models", headers={"Authorization": "Bearer good"})
    assert good.status_code == 200


def test_any_token_accepted_by_default(client: httpx.Client) -> None:
    response = client.post(
        "/api/ai/videos/generate",
        json={"model": FAST, "prompt": "x", "duration": 1},
        headers={"Authorization": "Bearer whatever-123"},
    )
    assert response.status_code == 200


def test_emulator_routes_need_no_auth(reset_emulator: EmulatorServer, plain: httpx.Client) -> None:
    assert plain.get(reset_emulator.base_url + "/_emulator/stats").status_code == 200


def test_unknown_route_is_a_json_404(client: httpx.Client) -> None:
    response = client.get("/api/nothing/here")
    assert response.status_code == 404
    assert response.json() == {
        "error": {
            "type": "resource_not_found",
            "title": "The requested resource could not be found",
        },
        "status": "error",
        "status_message": "resource_not_found",
    }


@pytest.mark.parametrize("api_keys", [None, ["**********"]])
def test_a_masked_key_is_refused_even_when_any_token_is_accepted(
    client: httpx.Client, api_keys
) -> None:
    # What a client sends when it rebuilt its credentials from Prefect's stored parameters.
    configure(client, api_keys=api_keys)
    for method, path in (("GET", "/api/ai/models"), ("DELETE", "/api/ai/queue/any-id")):
        _assert_401(client.request(method, path, headers={"Authorization": "Bearer **********"}))
