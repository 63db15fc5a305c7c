"""`prefect-oxen batch FILE --archive oxen://...` against the emulator's repository API."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import FAST
from tests.support.oxen_repos import RepoView, sha256_hex

from ..conftest import API_KEY
from .conftest import flat, write_jsonl

N = 4


@pytest.fixture
def repo(oxen_env, unique: str) -> Iterator[RepoView]:
    """A repository name no other test uses (repositories outlive the per-test reset)."""
    name = "clips-" + hashlib.sha256(unique.encode()).hexdigest()[:12]
    view = RepoView(oxen_env.base_url, API_KEY, "me", name)
    yield view
    view.close()


def _batch(tmp_path: Path, tag: str) -> Path:
    return write_jsonl(
        tmp_path / "prompts.jsonl",
        [
            {"id": f"clip{i}", "model": FAST, "prompt": f"clip {i} {tag}", "duration": 2, "seed": i}
            for i in range(N)
        ],
    )


def test_batch_into_a_repository_commits_once_and_a_rerun_commits_nothing(
    cli, oxen_env, repo: RepoView, tmp_path: Path, unique: str
) -> None:
    batch = _batch(tmp_path, unique)
    archive = f"oxen://me/{repo.name}"
    first = cli("batch", str(batch), "--archive", archive)
    assert first.exit_code == 0, first.stdout + first.stderr
    assert f"succeeded {N} (0 already archived)" in flat(first.stdout)

    files = repo.files()
    videos = sorted(p for p in files if p.endswith(".mp4"))
    manifests = sorted(p for p in files if p.endswith(".json"))
    assert [Path(v).stem for v in videos] == [f"clip{i}" for i in range(N)]
    assert [Path(m).stem for m in manifests] == [f"clip{i}" for i in range(N)]
    rows = repo.table("dataset.jsonl")
    assert sorted(r["path"] for r in rows) == videos
    for row in rows:
        data = repo.read(row["path"])
        assert row["sha256"] == sha256_hex(data) == files[row["path"]]
        manifest = json.loads(repo.read(row["path"][: -len(".mp4")] + ".json"))
        assert manifest["sha256"] == row["sha256"]
        assert row["model"] == FAST and row["duration"] == 2 and row["generation_id"]
        assert row["prompt"].startswith("clip ") and row["flow_run_id"]
    assert API_KEY not in json.dumps(rows)
    commits = repo.commits()
    ours = [c for c in commits if c["message"].startswith("prefect-oxen")]
    assert len(ours) == 1, [c["message"] for c in commits]
    assert f"{N} video(s) from prompts.jsonl" in ours[0]["message"]
    assert f"dataset.jsonl: {N} row(s)" in ours[0]["message"]
    assert API_KEY not in ours[0]["message"]
    assert oxen_env.stats()["billed_generations"] == N

    again = cli("batch", str(batch), "--archive", archive)
    assert again.exit_code == 0, again.stdout + again.stderr
    assert f"succeeded {N} ({N} already archived)" in flat(again.stdout)
    assert len(repo.commits()) == len(commits)  # no new commit
    assert oxen_env.stats()["billed_generations"] == N  # nothing paid twice
    assert len(repo.table("dataset.jsonl")) == N


def test_an_invalid_oxen_archive_is_bad_input(cli, oxen_env, tmp_path: Path) -> None:
    result = cli("batch", str(_batch(tmp_path, "x")), "--archive", "oxen://only-a-namespace")
    assert result.exit_code == 2
    assert "NAMESPACE/REPO" in result.stderr
    assert oxen_env.stats()["billed_generations"] == 0


def test_batch_reads_its_prompts_from_a_repository(
    cli, oxen_env, repo: RepoView, tmp_path: Path, unique: str
) -> None:
    lines = [
        json.dumps({"id": "fox", "model": FAST, "prompt": f"a fox {unique}", "duration": 1}),
        json.dumps({"id": "bad", "model": FAST, "prompt": "x", "duration": "long"}),
    ]
    repo.create_with({"prompts.jsonl": ("\n".join(lines) + "\n").encode()})
    result = cli(
        "batch", f"oxen://me/{repo.name}/prompts.jsonl", "--archive", f"oxen://me/{repo.name}/out"
    )
    assert result.exit_code == 1, result.stdout + result.stderr
    assert "rejected line 2 (bad):" in flat(result.stderr)
    assert [row["path"].rsplit("/", 1)[1] for row in repo.table("out/dataset.jsonl")] == ["fox.mp4"]
    # The run ended failed (a line was rejected) and still committed what it archived.
    [commit] = [c for c in repo.commits() if c["message"].startswith("prefect-oxen")]
    assert "1 video(s) from prompts.jsonl" in commit["message"]
    assert oxen_env.stats()["billed_generations"] == 1


def test_a_missing_repository_prompt_file_is_bad_input(
    cli, oxen_env, repo: RepoView, tmp_path: Path
) -> None:
    repo.create_with({"other.txt": b"x"})
    result = cli("batch", f"oxen://me/{repo.name}/nope.jsonl", "--archive", str(tmp_path / "a"))
    assert result.exit_code == 2
    assert "does not exist" in flat(result.stderr)
    assert oxen_env.stats()["billed_generations"] == 0


def test_the_demo_commits_to_a_repository_and_prints_the_commit_and_the_table(
    cli, tmp_path: Path
) -> None:
    result = cli(
        "demo",
        "--output",
        str(tmp_path / "demo"),
        "--latency",
        "0",
        "--rate-limit",
        "0",
        "--archive",
        "oxen://demo/videos",
    )
    assert result.exit_code == 0, result.stdout + result.stderr
    text = flat(result.stdout)
    assert "Commit " in text and "prefect-oxen: 7 video(s) from sample_batch.jsonl" in text
    assert "dataset.jsonl: 7 row(s)" in text
    assert "Demo succeeded" in text
