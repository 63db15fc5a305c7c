"""R3: malformed requests, ids, key templates and batch lines are refused before anything is paid,
each with a message naming the field or line; the good lines of a batch still run."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prefect_oxen.client import OxenClient, OxenError, VideoRequest, validate_request
from prefect_oxen.engine import check_request
from prefect_oxen.flows import batch_flow
from prefect_oxen.storage import InvalidObjectKey, render_object_key

from ..conftest import API_KEY
from .corpus import FAST, KEY_TEMPLATES, KLING, O3, REQUESTS, ROWS
from .helpers import report_of


def _paid_calls(emulator) -> dict[str, int]:
    """Every request that is not a read of the catalogue (the only thing validation may do)."""
    return {
        route: n
        for route, n in emulator.stats()["requests"].items()
        if not route.startswith("GET /api/ai/models")
    }


@pytest.mark.parametrize(
    ("request_", "words"), [pytest.param(r, w, id=name) for name, r, w in REQUESTS]
)
async def test_a_malformed_request_is_refused_with_its_field_named(
    request_, words, credentials, emulator
) -> None:
    with pytest.raises((OxenError, ValueError)) as caught:
        await check_request(request_, credentials, key="x")
    message = str(caught.value)
    for word in words:
        assert word in message
    assert not (isinstance(caught.value, OxenError) and caught.value.retryable)
    assert _paid_calls(emulator) == {}


async def test_a_batch_of_malformed_items_rejects_each_by_line_and_runs_the_rest(
    credentials, emulator, workdir: Path, unique: str
) -> None:
    # A file, not a list parameter: Prefect refuses flow-run parameters over 512 KB (the huge
    # prompts).
    good = [
        {"id": f"good-{i}", "model": FAST, "prompt": f"R3 good {unique} {i}", "duration": 1}
        for i in range(2)
    ]
    rows = [
        good[0],
        *({"id": name, **request} for name, request, _ in REQUESTS),
        *(row for _, row, _ in ROWS),
        good[1],
    ]
    words = [(), *(w for _, _, w in REQUESTS), *(w for _, _, w in ROWS), ()]
    source = workdir / "corpus.jsonl"
    source.write_text("\n".join(json.dumps(row) for row in rows) + "\n", encoding="utf-8")

    state = await batch_flow(
        str(source),
        credentials,
        archive=str(workdir / "archive"),
        concurrency=4,
        concurrency_limit=None,
        return_state=True,
    )
    report = await report_of(state)

    assert state.is_failed() and "Partially failed" in state.message
    by_line = {item.line: item for item in report.items}
    assert sorted(by_line) == list(range(1, len(rows) + 1))
    assert by_line[1].status == by_line[len(rows)].status == "archived"
    for line in range(2, len(rows)):
        item = by_line[line]
        assert item.status == "rejected", (line, item)
        assert item.error.startswith(f"line {line}: "), item.error[:300]
        for word in words[line - 1]:
            assert word in item.error, (line, item.error[:300])
    # Only the two good items were paid for, and nothing was sent for the rest.
    assert _paid_calls(emulator).get("POST /api/ai/queue") == 2
    assert emulator.stats()["billed_generations"] == 2
    assert all(g["request"]["prompt"].startswith("R3 good") for g in emulator.generations())


async def test_malformed_lines_of_a_jsonl_file_are_reported_by_line_and_the_rest_run(
    credentials, emulator, workdir: Path, unique: str
) -> None:
    lines = [
        json.dumps(
            {"id": "a", "model": FAST, "prompt": f"R3 jsonl {unique} a", "duration": 1}
        ),  # 1
        '{"id": "broken", "model": ',  # 2: cut JSON
        "[1, 2, 3]",  # 3: not an object
        "",  # 4: blank lines are skipped
        json.dumps({"id": "../escape", "model": FAST, "prompt": "x"}),  # 5
        json.dumps(
            {"id": "c", "model": FAST, "prompt": f"R3 jsonl {unique} c", "duration": 1}
        ),  # 6
        json.dumps(
            {
                "id": "shots",
                "model": O3,
                "prompt": "x",
                "multi_prompt": [{"prompt": "y", "duration": 3}],
            }
        ),  # 7
        json.dumps({"id": "kling", "model": KLING, "prompt": "x", "duration": 3}),  # 8
        "{'single': 'quotes'}",  # 9
        json.dumps(
            {"id": "b", "model": FAST, "prompt": f"R3 jsonl {unique} b", "duration": 1}
        ),  # 10
        "\u00ff\u00fe garbage \x00",  # 11
    ]
    source = workdir / "batch.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")

    state = await batch_flow(
        str(source),
        credentials,
        archive=str(workdir / "archive"),
        concurrency=4,
        concurrency_limit=None,
        return_state=True,
    )
    report = await report_of(state)

    by_line = {item.line: item for item in report.items}
    assert {line for line, item in by_line.items() if item.status == "archived"} == {1, 6, 10}
    rejected = {line: item.error for line, item in by_line.items() if item.status == "rejected"}
    assert set(rejected) == {2, 3, 5, 7, 8, 9, 11}
    for line, error in rejected.items():
        assert error.startswith(f"line {line}: "), error
    assert (
        "not valid JSON" in rejected[2]
        and "not valid JSON" in rejected[9]
        and "not valid JSON" in rejected[11]
    )
    assert "expected a JSON object" in rejected[3]
    assert (
        "'../escape'" in rejected[5]
        and "Cannot provide both 'prompt' and 'multi_prompt'" in rejected[7]
    )
    assert "duration value '3' is invalid" in rejected[8]
    assert emulator.stats()["billed_generations"] == 3


async def test_malformed_rows_of_a_csv_file_are_reported_by_row_and_the_rest_run(
    credentials, emulator, workdir: Path, unique: str
) -> None:
    source = workdir / "batch.csv"
    with source.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "model", "prompt", "duration", "generate_audio"])  # line 1
        writer.writerow(["a", FAST, f"R3 csv {unique} a", "1", "false"])  # 2
        writer.writerow(["bad-int", FAST, "x", "five", ""])  # 3
        writer.writerow(["bad-bool", FAST, "x", "1", "maybe"])  # 4
        writer.writerow(["extra", FAST, "x", "1", "false", "surplus"])  # 5
        writer.writerow(["no-prompt", FAST, "", "1", ""])  # 6
        writer.writerow(["../up", FAST, "x", "1", ""])  # 7
        writer.writerow(["b", FAST, f"R3 csv {unique} b, with a comma", "1", "true"])  # 8

    state = await batch_flow(
        str(source),
        credentials,
        archive=str(workdir / "archive"),
        concurrency=4,
        concurrency_limit=None,
        return_state=True,
    )
    report = await report_of(state)

    by_line = {item.line: item for item in report.items}
    assert {line for line, item in by_line.items() if item.status == "archived"} == {2, 8}
    rejected = {line: item.error for line, item in by_line.items() if item.status == "rejected"}
    assert set(rejected) == {3, 4, 5, 6, 7}
    for line, error in rejected.items():
        assert error.startswith((f"row {line}: ", f"line {line}: ")), error
    assert (
        "duration" in rejected[3]
        and "generate_audio" in rejected[4]
        and "more cells" in rejected[5]
    )
    assert (
        "Either 'prompt' or 'multi_prompt' must be provided" in rejected[6]
        and "'../up'" in rejected[7]
    )
    assert emulator.stats()["billed_generations"] == 2


@pytest.mark.parametrize(
    ("template", "words"), [pytest.param(t, w, id=t) for t, w in KEY_TEMPLATES]
)
def test_a_key_template_that_escapes_the_archive_is_refused(template, words) -> None:
    with pytest.raises(InvalidObjectKey) as caught:
        render_object_key(template, prefix="oxen", date="2026-01-01", model=FAST, key="item")
    for word in words:
        assert word in str(caught.value)


async def test_a_batch_with_an_escaping_key_template_is_refused_before_paying(
    credentials, emulator, workdir: Path, unique: str
) -> None:
    batch = [{"id": "tpl", "model": FAST, "prompt": f"R3 template {unique}", "duration": 1}]
    state = await batch_flow(
        batch,
        credentials,
        archive=str(workdir / "archive"),
        key_template="../{key}.mp4",
        concurrency_limit=None,
        return_state=True,
    )
    assert not state.is_completed()
    assert "would escape" in str(state.message) + json.dumps(
        [i.error for i in await _items_or_empty(state)]
    )
    assert _paid_calls(emulator) == {}, (
        "a paid request was sent for a batch whose archive keys are invalid"
    )


async def test_a_duplicate_id_line_is_reported_by_line(
    credentials, emulator, workdir: Path, unique: str
) -> None:
    source = workdir / "dup.jsonl"
    source.write_text(
        json.dumps({"id": "dup", "model": FAST, "prompt": f"R3 dup {unique}", "duration": 1})
        + "\n"
        + json.dumps({"id": "dup", "model": FAST, "prompt": "the same id again", "duration": 1})
        + "\n"
    )
    state = await batch_flow(
        str(source),
        credentials,
        archive=str(workdir / "archive"),
        concurrency_limit=None,
        return_state=True,
    )
    report = await report_of(state)
    assert [(item.line, item.status) for item in report.items] == [(1, "archived"), (2, "rejected")]
    assert report.items[1].error.startswith("line 2: id 'dup' is already used by line 1")


async def _items_or_empty(state):
    try:
        return (await report_of(state)).items
    except Exception:  # the flow raised instead of reporting
        return []


# --- property-based: anything malformed is refused before a request, and says where -------------

_MODELS = (FAST, KLING, O3)
_FIELDS = (
    "prompt",
    "multi_prompt",
    "duration",
    "aspect_ratio",
    "seed",
    "generate_audio",
    "response_format",
    "input_image",
    "input_video",
    "target_namespace",
    "negative_prompt",
)
_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=40),
    st.sampled_from(
        ["16:9", "9:16", "1:1", "21:9", "0:0", "wide", "url", "b64_json", "https://x.test/a.png"]
    ),
    st.lists(st.text(max_size=8), max_size=3),
    st.lists(
        st.fixed_dictionaries(
            {"prompt": st.text(max_size=10)}, optional={"duration": st.integers(-2, 20)}
        ),
        max_size=4,
    ),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)
_requests = st.fixed_dictionaries(
    {"model": st.sampled_from(_MODELS)},
    optional={name: _values for name in _FIELDS},
).flatmap(
    lambda base: st.dictionaries(
        st.from_regex(r"[a-z_]{1,12}", fullmatch=True), _values, max_size=2
    ).map(lambda extra: {**extra, **base})
)


@pytest.fixture(scope="module")
def model_details(emulator_server):
    with OxenClient(api_key=API_KEY, base_url=emulator_server.base_url) as oxen:
        return {model: oxen.get_model(model) for model in _MODELS}


def _check(raw: dict, models) -> VideoRequest:
    request = VideoRequest.model_validate(raw)
    return validate_request(request, models[request.model])


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=_requests)
def test_any_request_is_either_valid_or_refused_naming_a_field(
    raw, model_details, emulator_server
) -> None:
    before = emulator_server.stats()["requests"]
    try:
        request = _check(raw, model_details)
    except ValueError as exc:
        named = [name for name in raw if name in str(exc)]
        assert named or "prompt" in str(exc), (raw, str(exc))
        assert "nothing was sent" in str(exc)
    else:
        # Accepted: it really is a request the API takes.
        assert (request.prompt is None) != (not request.multi_prompt)
        info = model_details[request.model]
        allowed = info.schema_properties.get("duration", {})
        if request.duration is not None and "enum" in allowed:
            assert request.duration in allowed["enum"]
        if request.prompt is not None:
            assert (
                0
                < len(request.prompt)
                <= info.schema_properties["prompt"].get("maxLength", math.inf)
            )
        json.dumps(request.to_payload(), allow_nan=False)  # it can be sent as JSON
    assert emulator_server.stats()["requests"] == before  # validation itself sent nothing


def test_a_type_error_is_worded_once() -> None:
    with pytest.raises(ValueError) as caught:
        VideoRequest.model_validate({"model": FAST, "prompt": 42})
    assert str(caught.value).count("Invalid video request") == 1
