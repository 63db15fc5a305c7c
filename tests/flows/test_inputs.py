"""Batch input files: every good line becomes an item, every bad line a problem with its number."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prefect_oxen.engine import load_batch_items
from prefect_oxen.storage import validate_item_id


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
    assert "may only contain ASCII letters" in problems[7]
    assert problems[8] == (
        "line 8: id 'a' is already used by line 1; give each line its own id (an id names the "
        "item's archived video and its report row)"
    )
    assert [p.key for p in batch.problems] == ["line 4", "line 5", "line 7", "line 8"]


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


def test_a_duplicate_id_is_a_rejection_of_the_later_line_under_its_line_number(
    tmp_path: Path,
) -> None:
    """Issue 21: the later "a" was reported as item-0002, the id line 3 gives, and vanished."""
    path = tmp_path / "batch.jsonl"
    rows = [{"id": "a", "prompt": "one"}, {"id": "a", "prompt": "two"}, {"id": "item-0002"}]
    path.write_text("".join(json.dumps({"model": "m", **row}) + "\n" for row in rows))
    batch = load_batch_items(str(path))
    assert [(i.key, i.line) for i in batch.items] == [("a", 1), ("item-0002", 3)]
    [problem] = batch.problems
    assert (problem.key, problem.line) == ("line 2", 2)
    assert problem.error.startswith("line 2: id 'a' is already used by line 1;")


def test_a_generated_id_is_never_one_the_input_gives() -> None:
    batch = load_batch_items(
        [
            {"model": "m", "prompt": "no id"},
            {"id": "item-0001", "model": "m", "prompt": "given"},
            {"model": "m", "prompt": "no id either"},
            {"id": "item-0001-2", "model": "m", "prompt": "given too"},
        ]
    )
    assert [i.key for i in batch.items] == ["item-0001-3", "item-0001", "item-0003", "item-0001-2"]
    assert batch.problems == []


_IDS = st.one_of(
    st.none(),
    st.sampled_from(["a", "b", "", "item-0001", "item-0002", "item-0002-2", "a/b", "line 2", 3]),
)


@given(
    rows=st.lists(
        st.one_of(st.builds(lambda i: {"id": i, "model": "m"}, _IDS), st.just([])), max_size=8
    )
)
def test_every_line_is_reported_once_under_a_key_no_other_line_has(rows: list) -> None:
    batch = load_batch_items([row if isinstance(row, list) else dict(row) for row in rows])
    keys = [i.key for i in batch.items] + [p.key for p in batch.problems]
    lines = sorted([i.line for i in batch.items] + [p.line for p in batch.problems])
    assert lines == list(range(1, len(rows) + 1))
    assert len(set(keys)) == len(keys)
    for item in batch.items:
        assert validate_item_id(item.key) == item.key
        given_id = rows[item.line - 1].get("id")
        if given_id not in (None, ""):
            assert item.key == str(given_id)
    for problem in batch.problems:
        assert problem.key == f"item {problem.line}"
