"""Exit code 2 with a one-line message on stderr: nothing usable was given, nothing was paid."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support import FAST, KLING

from .conftest import flat, write_jsonl


def test_batch_of_a_missing_file(cli, oxen_env) -> None:
    result = cli("batch", "nowhere.jsonl")
    assert result.exit_code == 2
    assert "Cannot read nowhere.jsonl: no such file" in result.stderr
    assert result.stdout == ""
    assert oxen_env.api_requests() == 0


def test_estimate_of_a_directory(cli, oxen_env, tmp_path: Path) -> None:
    result = cli("estimate", str(tmp_path))
    assert result.exit_code == 2
    assert "it is a directory" in result.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["batch", "batch.jsonl"],
        ["estimate", "batch.jsonl"],
        ["models"],
        ["generate", "--model", FAST, "--prompt", "a fox"],
    ],
)
def test_missing_api_key(
    cli, oxen_env, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, command: list[str]
) -> None:
    write_jsonl(tmp_path / "batch.jsonl", [{"model": FAST, "prompt": "a fox", "duration": 2}])
    monkeypatch.delenv("OXEN_API_KEY")
    result = cli(*command)
    assert result.exit_code == 2
    assert "No Oxen API key: set OXEN_API_KEY, or pass --credentials-block NAME" in flat(
        result.stderr
    )
    assert oxen_env.api_requests() == 0


def test_wrong_api_key_is_bad_input(cli, oxen_env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OXEN_API_KEY", "oxk_not_the_right_one")
    result = cli("models")
    assert result.exit_code == 2
    assert "oxk_not_the_right_one" not in result.stderr + result.stdout
    assert "401" in result.stderr or "key" in result.stderr.lower()


def test_generate_unknown_model(cli, oxen_env) -> None:
    result = cli("generate", "--model", "kling-video-v9", "--prompt", "a fox")
    assert result.exit_code == 2
    assert "Model not found: kling-video-v9" in flat(result.stderr)
    assert oxen_env.generations() == []


def test_generate_invalid_duration_is_refused_before_paying(cli, oxen_env) -> None:
    result = cli("generate", "--model", KLING, "--prompt", "a fox", "--duration", "7")
    assert result.exit_code == 2
    assert "duration value '7' is invalid" in flat(result.stderr)
    assert oxen_env.generations() == []


def test_generate_needs_exactly_one_of_prompt_and_shots(cli, oxen_env) -> None:
    both = cli("generate", "--model", FAST, "--prompt", "a fox", "--shot", "a cat:2")
    neither = cli("generate", "--model", FAST)
    assert both.exit_code == neither.exit_code == 2
    assert "either --prompt or --shot, not both" in both.stderr
    assert "Give --prompt" in neither.stderr
    assert oxen_env.api_requests() == 0


def test_unknown_credentials_block(cli, oxen_env) -> None:
    result = cli("models", "--credentials-block", "no-such-block")
    assert result.exit_code == 2
    assert "No OxenCredentials block named 'no-such-block'" in flat(result.stderr)
    assert "prefect-oxen blocks create --name no-such-block" in flat(result.stderr)


def test_unknown_model_in_models(cli, oxen_env) -> None:
    result = cli("models", "nope-model")
    assert result.exit_code == 2
    assert "Model not found: nope-model" in flat(result.stderr)


@pytest.fixture
def no_prefect_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if a command gets as far as running a flow (starting Prefect, 30 s or more)."""

    def started(*_: Any, **__: Any) -> Any:
        raise AssertionError("the command started a Prefect run for input it could reject offline")

    monkeypatch.setattr("prefect_oxen.cli._generate.run_flow", started)
    monkeypatch.setattr("prefect_oxen.cli._batch.run_batch", started)


@pytest.fixture
def no_aws_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """boto3 finds no credentials anywhere (and asks no metadata server)."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


def test_generate_and_batch_refuse_the_same_id_before_paying(
    cli, oxen_env, no_prefect_run, tmp_path: Path
) -> None:
    rule = (
        "id '../../etc/x' may only contain ASCII letters (A-Z, a-z), digits (0-9), '.', '_' and '-'"
    )
    generate = cli("generate", "--model", FAST, "--prompt", "a fox", "--id", "../../etc/x")
    write_jsonl(tmp_path / "one.jsonl", [{"id": "../../etc/x", "model": FAST, "prompt": "a fox"}])
    batch = cli("batch", "one.jsonl")
    assert generate.exit_code == batch.exit_code == 2
    assert f"--id: {rule}" in flat(generate.stderr)
    assert f"rejected line 1: {rule}" in flat(batch.stderr)
    assert oxen_env.api_requests() == 0


@pytest.mark.parametrize(
    ("lines", "reasons"),
    [
        ([{"model": FAST}], ["Either 'prompt' or 'multi_prompt' must be provided"]),
        (
            [
                '{"model": ',
                {"id": "a/b", "model": FAST, "prompt": "x"},
                {"model": FAST, "prompt": "x", "duration": "5"},
            ],
            [
                "line 1: not valid JSON",
                "line 2: id 'a/b'",
                "line 3 (item-0003): Invalid video request: duration",
            ],
        ),
    ],
    ids=["one-line", "every-kind"],
)
def test_a_batch_with_no_usable_line_is_refused_before_prefect_starts(
    cli, oxen_env, no_prefect_run, tmp_path: Path, lines: list[Any], reasons: list[str]
) -> None:
    write_jsonl(tmp_path / "bad.jsonl", lines)
    result = cli("batch", "bad.jsonl")
    assert result.exit_code == 2
    errors = flat(result.stderr)
    for reason in reasons:
        assert reason in errors
    assert f"No usable request in bad.jsonl: {len(lines)} line(s) rejected" in errors
    assert oxen_env.api_requests() == 0


@pytest.mark.parametrize(
    ("content", "words"),
    [("", "empty.jsonl is empty"), ("\n# only a comment\n\n", "empty.jsonl has no requests")],
    ids=["zero-bytes", "only-comments"],
)
def test_an_empty_batch_file_is_called_empty(
    cli, oxen_env, no_prefect_run, tmp_path: Path, content: str, words: str
) -> None:
    (tmp_path / "empty.jsonl").write_text(content)
    result = cli("batch", "empty.jsonl")
    assert result.exit_code == 2
    assert words in flat(result.stderr)


def test_batch_of_dev_null_is_empty_not_missing(cli, oxen_env, no_prefect_run) -> None:
    result = cli("batch", "/dev/null")
    assert result.exit_code == 2
    assert "/dev/null is empty" in flat(result.stderr)
    assert "no such file" not in result.stderr


@pytest.mark.parametrize("command", ["generate", "batch"])
@pytest.mark.parametrize(
    ("archive", "words"),
    [
        ("plain-file/archive", "Cannot write to archive "),
        ("s3://team-videos/oxen", "No AWS credentials for s3://team-videos/oxen"),
    ],
    ids=["unwritable-directory", "s3-without-credentials"],
)
def test_an_archive_that_cannot_take_videos_is_bad_input_before_paying(
    cli,
    oxen_env,
    no_prefect_run,
    no_aws_credentials,
    tmp_path: Path,
    command: str,
    archive: str,
    words: str,
) -> None:
    (tmp_path / "plain-file").write_text("a file where the archive directory would go")
    write_jsonl(tmp_path / "one.jsonl", [{"model": FAST, "prompt": "a fox", "duration": 1}])
    args = (
        ["batch", "one.jsonl"]
        if command == "batch"
        else ["generate", "--model", FAST, "--prompt", "a fox"]
    )
    result = cli(*args, "--archive", archive)
    assert result.exit_code == 2
    assert words in flat(result.stderr)
    assert oxen_env.generations() == []


@pytest.mark.parametrize(
    "args",
    [
        ["batch", "one.jsonl"],
        ["batch", "one.jsonl", "--dry-run"],
        ["generate", "--model", FAST, "--prompt", "a fox"],
        ["cancel"],
    ],
    ids=["batch", "dry-run", "generate", "cancel"],
)
@pytest.mark.parametrize(
    ("archive", "hint"),
    [
        ("hf://me/synthetic-clips", "hf:// is not an archive this package writes to."),
        ("gs://bucket/x", "gs:// is not an archive this package writes to."),
        ("s3:/bucket/x", "did you mean s3://bucket/x?"),
        ("file:///srv/videos", "give the directory's path, /srv/videos."),
    ],
    ids=["hf", "gs", "s3-one-slash", "file"],
)
def test_an_archive_uri_of_an_unknown_scheme_is_bad_input_before_anything_runs(
    cli, oxen_env, no_prefect_run, tmp_path: Path, args: list[str], archive: str, hint: str
) -> None:
    """Issue 21: `--archive oxen://me/clips` exited 0 and wrote under a folder `oxen:/me/...`."""
    write_jsonl(tmp_path / "one.jsonl", [{"model": FAST, "prompt": "a fox", "duration": 1}])
    result = cli(*args, "--archive", archive)
    assert result.exit_code == 2
    assert flat(result.stderr).strip() == (
        f"Error: Unsupported archive {archive}: {hint} An archive is a local directory path or "
        "a URI starting with s3:// or oxen://."
    )
    assert oxen_env.api_requests() == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.jsonl"]
