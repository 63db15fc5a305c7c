"""Batch input files: every good line becomes an item, every bad line a problem with its number."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prefect_oxen.engine import load_batch_items


def test_jsonl_lines_become_items_and_bad_lines_problems(tmp_path: Path) -> None:
    path = tmp_path / "batch.jsonl"
    path.write_text(
        "\n".join(
            [
                json.dumps({"id": "a", "model": "m", "prompt": "one"}),
                "",
                "# a comment",
                "{not json",
                json.dumps(["not", "an", "object"]),
                json.dumps({"model": "m", "prompt": "no id"}),
                json.dumps({"id": "../../etc/passwd", "model": "m", "prompt": "x"}),
                json.dumps({"id": "a", "model": "m", "prompt": "duplicate"}),
            ]
        )
    )
    batch = load_batch_items(str(path))
    assert [(i.key, i.line) for i in batch.items] == [("a", 1), ("item-0006", 6)]
    problems = {p.line: p.error for p in batch.problems}
    assert set(problems) == {4, 5, 7, 8}
    assert problems[4].startswith("line 4: not valid JSON")
    assert "expected a JSON object" in problems[5]
    assert "may only contain letters" in problems[7]
    assert "duplicate id 'a'" in problems[8]


def test_csv_cells_are_typed(tmp_path: Path) -> None:
    path = tmp_path / "batch.csv"
    path.write_text(
        "id,model,prompt,duration,generate_audio,multi_prompt,negative_prompt\n"
        "a,m,one,5,true,,blur\n"
        'b,m,,,,"[{""prompt"": ""x"", ""duration"": 3}]",\n'
        "c,m,two,five,,,\n"
        "d,m,three,5,maybe,,\n"
        "e,m,four,5,false,,,extra\n"
    )
    batch = load_batch_items(str(path))
    assert batch.items[0].request == {
        "model": "m",
        "prompt": "one",
        "duration": 5,
        "generate_audio": True,
        "negative_prompt": "blur",
    }
    assert batch.items[1].request == {
        "model": "m",
        "multi_prompt": [{"prompt": "x", "duration": 3}],
    }
    errors = {p.line: p.error for p in batch.problems}
    assert errors[4] == "row 4: duration must be a whole number, got 'five'"
    assert "generate_audio must be true or false" in errors[5]
    assert "more cells than the header" in errors[6]


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_batch_items(str(tmp_path / "nope.jsonl"))


def test_lists_of_requests_are_accepted() -> None:
    batch = load_batch_items(
        [{"id": "x", "model": "m", "prompt": "p"}, {"model": "m", "prompt": "q"}]
    )
    assert [i.key for i in batch.items] == ["x", "item-0002"]


def test_batch_ids_follow_the_one_item_id_rule() -> None:
    """The rule `generate --id` uses: a trailing newline or a path is refused, not renamed."""
    from prefect_oxen.storage import InvalidItemId, validate_item_id

    ids = ["fox\n", "../../etc/x", "ok-1"]
    batch = load_batch_items([{"id": item_id, "model": "m", "prompt": "p"} for item_id in ids])
    assert [item.key for item in batch.items] == ["ok-1"]
    for problem, item_id in zip(batch.problems, ids[:2], strict=True):
        with pytest.raises(InvalidItemId) as caught:
            validate_item_id(item_id)
        assert problem.error == f"item {problem.line}: {caught.value}"
