"""`prefect-oxen batch`: real batch_flow runs against the emulator, exit codes 0 / 1 / 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import FAST, KLING

from .conftest import flat, write_jsonl


def _archived(root: Path) -> tuple[list[Path], list[Path]]:
    """Archived videos and manifests (not the pipeline's hidden work files)."""

    def visible(pattern: str) -> list[Path]:
        return sorted(
            p
            for p in root.rglob(pattern)
            if not any(part.startswith(".") for part in p.relative_to(root).parts)
        )

    return visible("*.mp4"), visible("*.json")


def test_all_items_archived_exit_0_and_a_rerun_pays_nothing(
    cli, oxen_env, tmp_path: Path, request
) -> None:
    batch = write_jsonl(
        tmp_path / "ok.jsonl",
        [
            {"id": "fox", "model": FAST, "prompt": f"a fox {request.node.name}", "duration": 2},
            {
                "id": "owl",
                "model": FAST,
                "prompt": f"an owl {request.node.name}",
                "duration": 3,
                "aspect_ratio": "9:16",
            },
        ],
    )
    first = cli("batch", str(batch), "--archive", "out")
    assert first.exit_code == 0, first.stdout + first.stderr
    text = flat(first.stdout)
    assert "succeeded 2 (0 already archived)" in text
    assert "failed 0" in text
    assert "cost paid $0.05 this run, estimated $0.05" in text
    assert str((tmp_path / "out").resolve()) in text
    videos, manifests = _archived(tmp_path / "out")
    assert [v.stem for v in videos] == ["fox", "owl"]
    assert {m.stem for m in manifests} == {"fox", "owl"}
    assert len(oxen_env.generations()) == 2

    again = cli("batch", str(batch), "--archive", "out")
    assert again.exit_code == 0
    assert "succeeded 2 (2 already archived)" in flat(again.stdout)
    assert "cost paid $0.00 this run, $0.05 already paid (skipped)" in flat(again.stdout)
    assert len(oxen_env.generations()) == 2  # nothing paid twice


def test_some_lines_rejected_exit_1_with_line_numbers(
    cli, oxen_env, tmp_path: Path, request
) -> None:
    batch = write_jsonl(
        tmp_path / "mixed.jsonl",
        [
            {"id": "good", "model": FAST, "prompt": f"a fox {request.node.name}", "duration": 2},
            '{"id": "broken", "model": ',
            {"id": "seven", "model": KLING, "prompt": "a lighthouse", "duration": 7},
            {"id": "ghost", "model": "no-such-model", "prompt": "a ghost"},
        ],
    )
    result = cli("batch", str(batch), "--archive", "out")
    assert result.exit_code == 1
    errors = flat(result.stderr)
    assert "rejected line 2: not valid JSON" in errors
    assert "rejected line 3 (seven):" in errors and "duration value '7' is invalid" in errors
    assert "rejected line 4 (ghost):" in errors and "Model not found: no-such-model" in errors
    assert "succeeded 1 (0 already archived)" in flat(result.stdout)
    assert "rejected 3" in flat(result.stdout)
    assert [g["request"]["prompt"] for g in oxen_env.generations()] == [
        f"a fox {request.node.name}"
    ]


def test_every_line_rejected_is_bad_input(cli, oxen_env, tmp_path: Path) -> None:
    batch = write_jsonl(
        tmp_path / "bad.jsonl", ["not json at all", {"model": KLING, "prompt": "x", "duration": 3}]
    )
    result = cli("batch", str(batch))
    assert result.exit_code == 2
    assert "line 1" in result.stderr and "line 2" in result.stderr
    assert oxen_env.generations() == []


def test_failed_generations_exit_1(cli, oxen_env, tmp_path: Path, request) -> None:
    oxen_env.configure(credits_usd=0.0)  # enqueue answers "Insufficient credits": not retried
    batch = write_jsonl(
        tmp_path / "broke.jsonl",
        [{"id": "fox", "model": FAST, "prompt": f"a fox {request.node.name}", "duration": 2}],
    )
    result = cli("batch", str(batch), "--archive", "out")
    assert result.exit_code == 1
    assert "failed line 1 (fox):" in flat(result.stderr)
    assert "Insufficient credits" in flat(result.stderr)
    assert _archived(tmp_path / "out")[0] == []


def test_dry_run_validates_and_prices_only(cli, oxen_env, tmp_path: Path) -> None:
    batch = write_jsonl(
        tmp_path / "plan.jsonl",
        [
            {"id": "a", "model": FAST, "prompt": "a fox", "duration": 4},
            {
                "id": "b",
                "model": KLING,
                "prompt": "a lighthouse",
                "duration": 10,
                "generate_audio": True,
            },
        ],
    )
    result = cli("batch", str(batch), "--dry-run")
    assert result.exit_code == 0, result.stderr
    text = flat(result.stdout)
    assert "validated 2" in text
    assert "estimated $1.44" in text  # 4 s x $0.01 + 10 s x $0.14 (audio rate replaces base)
    assert oxen_env.generations() == []
    assert not (tmp_path / "oxen-archive").exists() or not list(
        (tmp_path / "oxen-archive").rglob("*.mp4")
    )


def test_dry_run_with_a_bad_line_is_bad_input(cli, oxen_env, tmp_path: Path) -> None:
    batch = write_jsonl(
        tmp_path / "plan.jsonl", [{"model": FAST, "prompt": "a fox", "duration": 4}, "{oops"]
    )
    result = cli("batch", str(batch), "--dry-run")
    assert result.exit_code == 2
    assert "rejected line 2" in flat(result.stderr)


def test_budget_refusal_submits_nothing(cli, oxen_env, tmp_path: Path) -> None:
    batch = write_jsonl(
        tmp_path / "pricey.jsonl",
        [
            {"id": "a", "model": KLING, "prompt": "a lighthouse", "duration": 10},
            {"id": "b", "model": KLING, "prompt": "a harbour", "duration": 10},
        ],
    )
    result = cli("batch", str(batch), "--budget", "1.00")
    assert result.exit_code == 2
    assert "estimate $1.40 exceeds the budget $1.00; 2 item(s) were not submitted" in flat(
        result.stderr
    )
    assert "not submitted 2" in flat(result.stdout)
    assert oxen_env.generations() == []


def test_budget_partial_runs_what_fits(cli, oxen_env, tmp_path: Path, request) -> None:
    batch = write_jsonl(
        tmp_path / "pricey.jsonl",
        [
            {
                "id": "a",
                "model": KLING,
                "prompt": f"a lighthouse {request.node.name}",
                "duration": 5,
            },
            {"id": "b", "model": KLING, "prompt": f"a harbour {request.node.name}", "duration": 10},
        ],
    )
    result = cli(
        "batch",
        str(batch),
        "--budget",
        "0.50",
        "--on-budget",
        "partial",
        "--concurrency",
        "1",
        "--archive",
        "out",
    )
    assert result.exit_code == 1
    text = flat(result.stdout)
    assert "succeeded 1" in text and "not submitted 1" in text
    assert len(oxen_env.generations()) == 1


def test_csv_batch(cli, oxen_env, tmp_path: Path, request) -> None:
    csv_file = tmp_path / "batch.csv"
    csv_file.write_text(
        "id,model,prompt,duration,generate_audio\n"
        f"fox,{FAST},a fox {request.node.name},2,false\n"
        f"owl,{FAST},an owl {request.node.name},2,true\n"
    )
    result = cli("batch", str(csv_file), "--archive", "out", "--mode", "sync")
    assert result.exit_code == 0, result.stderr
    assert sorted(v.stem for v in _archived(tmp_path / "out")[0]) == ["fox", "owl"]
    sources = {g["source"] for g in oxen_env.generations()}
    assert sources == {"sync"}, sources


@pytest.mark.parametrize("concurrency", ["0", "-1"])
def test_bad_option_values(cli, oxen_env, tmp_path: Path, concurrency: str) -> None:
    batch = write_jsonl(tmp_path / "b.jsonl", [{"model": FAST, "prompt": "a fox"}])
    result = cli("batch", str(batch), "--concurrency", concurrency)
    assert result.exit_code == 2
    assert oxen_env.api_requests() == 0


def test_manifest_has_no_key(cli, oxen_env, tmp_path: Path, request) -> None:
    from ..conftest import API_KEY

    batch = write_jsonl(
        tmp_path / "one.jsonl",
        [{"id": "k", "model": FAST, "prompt": f"a key test {request.node.name}", "duration": 1}],
    )
    assert cli("batch", str(batch), "--archive", "out").exit_code == 0
    [manifest] = _archived(tmp_path / "out")[1]
    assert API_KEY not in manifest.read_text()
    assert json.loads(manifest.read_text())
