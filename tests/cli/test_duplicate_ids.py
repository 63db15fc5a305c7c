"""Issue 21: a batch whose lines repeat an id, or give the id another line would be generated.

`{"id": "a"}`, `{"id": "a"}`, `{"id": "item-0002"}` used to lose the rejection, print line 3's row
twice and report 4 succeeded and $0.04 paid where the API billed 3 ($0.03).
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.support import FAST

from .conftest import flat, write_jsonl


def _rows(table: str) -> list[list[str]]:
    """The body rows of the printed items table, as their cells."""
    rows = []
    for line in table.splitlines():
        if line.startswith("│"):
            rows.append([cell.strip() for cell in line.strip("│").split("│")])
    return rows


def test_a_repeated_id_is_one_rejected_line_and_every_line_is_counted_once(
    cli, oxen_env, tmp_path: Path, request
) -> None:
    unique = request.node.name
    batch = write_jsonl(
        tmp_path / "dupes.jsonl",
        [
            {"id": "a", "model": FAST, "prompt": f"a fox {unique}", "duration": 2},
            {"id": "a", "model": FAST, "prompt": f"an owl {unique}", "duration": 2},
            {"id": "item-0002", "model": FAST, "prompt": f"a cat {unique}", "duration": 2},
        ],
    )
    result = cli("batch", str(batch), "--archive", "out")

    assert result.exit_code == 1, result.stdout + result.stderr  # some line was rejected
    rows = _rows(result.stdout)
    assert [(row[0], row[1], row[3]) for row in rows if row[1]] == [
        ("a", "1", "archived"),
        ("", "2", "rejected"),
        ("item-0002", "3", "archived"),
    ]
    errors = flat(result.stderr)
    assert "rejected line 2: id 'a' is already used by line 1;" in errors
    assert errors.count("rejected line") == 1
    assert "3/3 0 failed · 1 rejected" in errors  # the bar: a rejected line is not a failure

    billed = oxen_env.stats()
    assert billed["billed_generations"] == 2
    assert sorted(g["request"]["prompt"] for g in oxen_env.generations()) == [
        f"a cat {unique}",
        f"a fox {unique}",
    ]
    totals = flat(result.stdout)
    assert "items 3 " in totals
    assert "succeeded 2 (0 already archived)" in totals
    assert "failed 0" in totals and "rejected 1" in totals
    paid = re.search(r"cost paid \$(\d+\.\d\d) this run", totals)
    assert paid is not None and float(paid.group(1)) == round(billed["billed_cost_usd"], 2)
    videos = sorted(p.stem for p in (tmp_path / "out").rglob("*.mp4") if ".oxen" not in str(p))
    assert videos == ["a", "item-0002"]
