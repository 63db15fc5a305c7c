"""Exit code 2 with a one-line message on stderr: nothing usable was given, nothing was paid."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import FAST, KLING, flat, write_jsonl


def test_batch_of_a_missing_file(cli, oxen_env) -> None:
    result = cli("batch", "nowhere.jsonl")
    assert result.exit_code == 2
    assert "Cannot read nowhere.jsonl: no such file" in result.stderr
    assert result.stdout == ""
    assert oxen_env.api_requests() == 0


def test_estimate_of_a_directory(cli, oxen_env, tmp_path: Path) -> None:
    result = cli("estimate", str(tmp_path))
    assert result.exit_code == 2
    assert "no such file" in result.stderr


@pytest.mark.parametrize("command", [
    ["batch", "batch.jsonl"],
    ["estimate", "batch.jsonl"],
    ["models"],
    ["generate", "--model", FAST, "--prompt", "a fox"],
])
def test_missing_api_key(cli, oxen_env, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, command: list[str]) -> None:
    write_jsonl(tmp_path / "batch.jsonl", [{"model": FAST, "prompt": "a fox", "duration": 2}])
    monkeypatch.delenv("OXEN_API_KEY")
    result = cli(*command)
    assert result.exit_code == 2
    assert "No Oxen API key: set OXEN_API_KEY, or pass --credentials-block NAME" in flat(result.stderr)
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
