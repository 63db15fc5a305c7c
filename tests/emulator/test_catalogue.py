"""Model catalogue: current and older routes, filters, search, detail and the 404 shape."""

from __future__ import annotations

import httpx
from jsonschema import Draft202012Validator

from tests.emulator.conftest import configure
from tests.support import CHAT, FAST, I2V, IMAGE, KLING, O3


def test_list_models_has_the_catalogue_with_schemas_and_pricing(client: httpx.Client) -> None:
    body = client.get("/api/ai/models").json()
    assert body["object"] == "list"
    by_id = {m["id"]: m for m in body["data"]}
    assert {KLING, O3, FAST, I2V, IMAGE, CHAT} <= set(by_id)
    for model in by_id.values():
        assert model["object"] == "model"
        Draft202012Validator.check_schema(model["request_schema"])
        assert {"capabilities", "pricing", "endpoint", "developer", "display_name"} <= set(model)
    assert by_id[KLING]["pricing"] == {
        "method": "per_video_output_second",
        "cost_per_second": 0.07,
        "cost_per_second_with_audio": 0.14,
    }
    assert by_id[O3]["pricing"]["cost_per_second"] == 0.224
    assert by_id[O3]["pricing"]["cost_per_second_with_audio"] == 0.28
    assert by_id[IMAGE]["pricing"] == {"method": "per_image", "cost_per_image": 0.03}
    assert by_id[KLING]["request_schema"]["properties"]["duration"]["enum"] == [5, 10]
    shots = by_id[O3]["request_schema"]["properties"]["multi_prompt"]["items"]
    assert shots["properties"]["prompt"]["maxLength"] == 512
    assert (
        shots["properties"]["duration"]["minimum"],
        shots["properties"]["duration"]["maximum"],
    ) == (1, 15)
    assert "multi_prompt" not in by_id[KLING]["request_schema"]["properties"]
    assert "input_image" in by_id[I2V]["request_schema"]["required"]


def test_list_filters_by_developer_and_action(client: httpx.Client) -> None:
    kling = client.get("/api/ai/models", params={"developer_name": "Kling"}).json()["data"]
    assert {m["id"] for m in kling} == {KLING, O3, I2V}
    t2i = client.get("/api/ai/models", params={"action": "text-to-image"}).json()["data"]
    assert [m["id"] for m in t2i] == [IMAGE]


def test_search_and_detail(client: httpx.Client) -> None:
    found = client.get("/api/ai/models/search", params={"search": "kling"}).json()
    assert found["object"] == "list"
    assert {m["id"] for m in found["data"]} == {KLING, O3, I2V}
    detail = client.get(f"/api/ai/models/{O3}", params={"deployment_status": "live"})
    assert detail.status_code == 200
    assert detail.json()["id"] == O3
    assert "request_schema" in detail.json()


def test_unknown_model_uses_the_message_shape(client: httpx.Client) -> None:
    for path in ("/api/ai/models/nope", "/api/evaluations/models/nope"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.json() == {"error": {"message": "Model not found: nope"}}


def test_older_evaluations_routes(client: httpx.Client) -> None:
    models = client.get("/api/evaluations/models").json()["models"]
    by_name = {m["name"]: m for m in models}
    assert KLING in by_name
    entry = by_name[KLING]
    assert "id" not in entry
    assert entry["can_run_inference"] is True
    assert entry["deprecated"] is False
    assert {"model_type", "summary", "json_request_schema"} <= set(entry)
    one = client.get(f"/api/evaluations/models/{O3}").json()
    assert one["name"] == O3
    assert "multi_prompt" in one["json_request_schema"]["properties"]


def test_serve_current_paths_off_404s_the_new_routes_only(client: httpx.Client) -> None:
    configure(client, serve_current_paths=False)
    for path in ("/api/ai/models", f"/api/ai/models/{KLING}", "/api/ai/models/search"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.json()["status_message"] == "resource_not_found"
    sync = client.post(
        "/api/ai/videos/generate", json={"model": FAST, "prompt": "x", "duration": 1}
    )
    assert sync.status_code == 404
    assert client.get("/api/evaluations/models").status_code == 200
    old = client.post("/api/videos/generate", json={"model": FAST, "prompt": "x", "duration": 1})
    assert old.status_code == 200
    assert old.json()["videos"][0]["url"]
