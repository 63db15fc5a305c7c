"""deployments/: the YAML, the Python twin and the sample batch agree with the flows they name."""

from __future__ import annotations

import importlib.util
import inspect

import yaml

from prefect_oxen.cli.sample import sample_batch_text

from .processes import REPO

DEPLOYMENTS = REPO / "deployments"


def _config() -> dict:
    return yaml.safe_load((DEPLOYMENTS / "prefect.yaml").read_text())


def _module(name: str):
    spec = importlib.util.spec_from_file_location(f"oxen_deployments_{name}", DEPLOYMENTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_entrypoint_and_parameter_exists() -> None:
    flows = _module("flows")
    for deployment in _config()["deployments"]:
        path, name = deployment["entrypoint"].split(":")
        assert (DEPLOYMENTS / path).is_file()
        flow = getattr(flows, name)
        accepted = set(inspect.signature(flow.fn).parameters)
        assert set(deployment["parameters"]) <= accepted, deployment["name"]
        assert deployment["work_pool"]["name"] == "oxen-process"


def test_nightly_batch_is_scheduled_and_budgeted() -> None:
    [nightly] = [d for d in _config()["deployments"] if d["name"] == "nightly-batch"]
    [schedule] = nightly["schedules"]
    assert schedule["cron"] == "30 2 * * *" and schedule["timezone"] == "Europe/London"
    parameters = nightly["parameters"]
    assert parameters["budget"] > 0 and parameters["concurrency"] >= 1
    assert {"items", "archive", "archive_block", "credentials"} <= set(parameters)
    # A reference resolved when the run starts: the key is never copied into the deployment.
    assert parameters["credentials"] == {"$ref": {"block_document_slug": "oxen-credentials/oxen"}}


def test_pull_step_sets_the_working_directory_from_the_build_step() -> None:
    config = _config()
    [pull] = config["pull"]
    [build] = config["build"]
    step_id = build["prefect.deployments.steps.run_shell_script"]["id"]
    assert pull["prefect.deployments.steps.set_working_directory"]["directory"] == f"{{{{ {step_id}.stdout }}}}"


def test_python_deployments_match_the_yaml() -> None:
    deploy = _module("deploy")
    nightly = next(d for d in _config()["deployments"] if d["name"] == "nightly-batch")
    assert deploy.NIGHTLY["schedule"].cron == nightly["schedules"][0]["cron"]
    assert deploy.NIGHTLY["schedule"].timezone == nightly["schedules"][0]["timezone"]
    assert nightly["parameters"]["credentials"] == deploy.CREDENTIALS
    assert nightly["work_pool"]["name"] == deploy.POOL


def test_sample_batch_file_is_the_demo_batch() -> None:
    assert (DEPLOYMENTS / "sample_batch.jsonl").read_text() == sample_batch_text()


def test_sample_batch_has_a_multi_shot_and_one_invalid_item() -> None:
    from prefect_oxen.cli.sample import INVALID_ITEM_ID, SAMPLE_BATCH

    assert any(item.get("multi_prompt") and item["model"] == "kling-video-o3-pro-reference-to-video" for item in SAMPLE_BATCH)
    assert [item["id"] for item in SAMPLE_BATCH].count(INVALID_ITEM_ID) == 1
    assert 6 <= len(SAMPLE_BATCH) <= 10


def test_task_worker_submissions_carry_no_key(monkeypatch) -> None:
    monkeypatch.setenv("OXEN_API_KEY", "oxk_must_stay_on_the_workers")
    credentials = _module("task_workers").submit_credentials("http://127.0.0.1:1")
    assert credentials.api_key is None
    assert credentials.base_url == "http://127.0.0.1:1"


def test_readme_names_the_two_commands() -> None:
    readme = (REPO / "README.md").read_text()
    assert "`make demo` installs and runs the main job" in readme
    assert "`make test` installs and passes the tests" in readme
    assert "## Benchmarks" in readme
