"""deployments/: the YAML, the Python twin and the sample batch agree with the flows they name."""

from __future__ import annotations

import importlib.util
import inspect
from pathlib import Path

import yaml

from prefect_oxen.cli._sample import sample_batch_text

from .processes import REPO

DEPLOYMENTS = REPO / "deployments"


def _config() -> dict:
    return yaml.safe_load((DEPLOYMENTS / "prefect.yaml").read_text())


def _module(name: str):
    spec = importlib.util.spec_from_file_location(
        f"oxen_deployments_{name}", DEPLOYMENTS / f"{name}.py"
    )
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
    assert _templated(parameters, BLOCK_ID)["credentials"] == {
        "$ref": {"block_document_id": BLOCK_ID}
    }


BLOCK_ID = "00000000-0000-4000-8000-000000000001"


def _templated(parameters: dict, block_id: str) -> dict:
    """The parameters `prefect deploy` saves: the build steps' outputs put in place (it resolves
    blocks and variables before the build steps run, so these placeholders survive until then)."""
    from prefect.utilities.templating import apply_values

    reference = {"$ref": {"block_document_id": block_id}}
    return apply_values(parameters, {"oxen-block": {"reference": reference}})


def test_credentials_are_the_saved_block_by_id_from_a_build_step() -> None:
    """The run form's picker shows a block referenced by id; a slug reference binds but shows
    "Select a block...", and a block placeholder or an id in prefect.yaml itself is replaced by
    the block's fields (key included) when `prefect deploy` reads the file."""
    config = _config()
    steps = {next(iter(step)): next(iter(step.values())) for step in config["build"]}
    assert steps["deploy.credentials_step"] == {"id": "oxen-block", "name": "oxen"}
    for deployment in config["deployments"]:
        assert deployment["parameters"]["credentials"] == "{{ oxen-block.reference }}"
    step = _module("deploy").credentials_step
    assert set(inspect.signature(step).parameters) == {"name"}


def test_deploy_all_has_nothing_to_ask() -> None:
    """`prefect deploy` asks "Would you like to configure schedules for this deployment?" in a
    terminal for a deployment with no `schedules` key (tests/deployments/test_readme_deployments
    runs it in a pseudo-terminal)."""
    for deployment in _config()["deployments"]:
        assert "schedules" in deployment, deployment["name"]
    [on_demand] = [d for d in _config()["deployments"] if d["name"] == "generate-video"]
    assert on_demand["schedules"] == []


def test_the_nightly_description_says_why_a_rerun_skips_and_why_it_pauses() -> None:
    deploy = _module("deploy")
    [nightly] = [d for d in _config()["deployments"] if d["name"] == "nightly-batch"]
    description = nightly["description"]
    assert description == deploy.NIGHTLY["description"]
    assert "a second run of an unchanged file pays for nothing" in description
    [automation] = yaml.safe_load((DEPLOYMENTS / "automations.yaml").read_text())["automations"]
    assert f"`{automation['name']}` automation" in description


def test_pull_step_sets_the_working_directory_from_the_build_step() -> None:
    config = _config()
    [pull] = config["pull"]
    build = config["build"][0]
    step_id = build["prefect.deployments.steps.run_shell_script"]["id"]
    assert (
        pull["prefect.deployments.steps.set_working_directory"]["directory"]
        == f"{{{{ {step_id}.stdout }}}}"
    )


def test_python_deployments_match_the_yaml() -> None:
    deploy = _module("deploy")
    nightly = next(d for d in _config()["deployments"] if d["name"] == "nightly-batch")
    assert deploy.NIGHTLY["schedule"].cron == nightly["schedules"][0]["cron"]
    assert deploy.NIGHTLY["schedule"].timezone == nightly["schedules"][0]["timezone"]
    assert _templated(nightly["parameters"], BLOCK_ID)["credentials"] == {
        "$ref": {"block_document_id": BLOCK_ID}
    }
    assert nightly["work_pool"]["name"] == deploy.POOL
    assert Path(deploy.NIGHTLY["parameters"]["items"]).name == nightly["parameters"]["items"]
    [on_demand] = [d for d in _config()["deployments"] if d["name"] == "generate-video"]
    assert deploy.ON_DEMAND["parameters"]["request"] == on_demand["parameters"]["request"]


def test_sample_batch_file_is_the_demo_batch() -> None:
    assert (DEPLOYMENTS / "sample_batch.jsonl").read_text() == sample_batch_text()


def test_sample_batch_has_a_multi_shot_and_one_invalid_item() -> None:
    from prefect_oxen.cli._sample import INVALID_ITEM_ID, SAMPLE_BATCH

    assert any(
        item.get("multi_prompt") and item["model"] == "kling-video-o3-pro-reference-to-video"
        for item in SAMPLE_BATCH
    )
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


def _flow_of(deployment: dict):
    return getattr(_module("flows"), deployment["entrypoint"].split(":")[1])


def _run_form_parameters(flow, deployment: dict) -> dict:
    """What a run submitted from the deployment's form with its defaults sends: the schema's
    defaults overlaid by the deployment's parameters (the server merges them the same way)."""
    from prefect.utilities.callables import parameter_schema

    schema = parameter_schema(flow.fn).model_dump_for_openapi()
    defaults = {
        name: spec["default"] for name, spec in schema["properties"].items() if "default" in spec
    }
    return {**defaults, **_templated(deployment["parameters"], BLOCK_ID)}


def test_every_deployment_enforces_its_schema_and_its_default_run_binds() -> None:
    from prefect._internal.schemas.validators import validate_values_conform_to_schema
    from prefect.utilities.callables import parameter_schema
    from prefect.utilities.schema_tools.validation import validate

    for deployment in _config()["deployments"]:
        assert deployment["enforce_parameter_schema"] is True, deployment["name"]
        flow = _flow_of(deployment)
        schema = parameter_schema(flow.fn).model_dump_for_openapi()
        parameters = _run_form_parameters(flow, deployment)
        # The server's checks when the deployment is saved, then when a run is created (it
        # refused the credentials reference and a missing `request` before).
        validate_values_conform_to_schema(
            _templated(deployment["parameters"], BLOCK_ID), schema, ignore_required=True
        )
        assert validate(parameters, schema, raise_on_error=False, preprocess=True) == [], (
            deployment["name"]
        )
        inspect.signature(flow.fn).bind(**parameters)  # no missing required argument


def test_a_run_without_request_is_refused_by_the_schema_not_crashed() -> None:
    from prefect.utilities.callables import parameter_schema
    from prefect.utilities.schema_tools.validation import validate

    from prefect_oxen.flows import generate_video_flow

    schema = parameter_schema(generate_video_flow.fn).model_dump_for_openapi()
    assert validate(
        {"credentials": {"$ref": {"block_document_slug": "oxen-credentials/oxen"}}},
        schema,
        raise_on_error=False,
        preprocess=True,
    )


def test_every_flow_parameter_has_a_description_and_a_fitting_widget() -> None:
    from prefect.utilities.callables import parameter_schema

    from prefect_oxen.flows import batch_flow, generate_video_flow, multi_shot_flow

    for flow in (batch_flow, generate_video_flow, multi_shot_flow):
        schema = parameter_schema(flow.fn).model_dump_for_openapi()
        properties = schema["properties"]
        assert set(properties) == set(inspect.signature(flow.fn).parameters)
        undescribed = [name for name, spec in properties.items() if not spec.get("description")]
        assert not undescribed, (flow.name, undescribed)
        # A text box that keeps a deployment's s3:// value, not an untyped JSON box.
        assert properties["archive"]["type"] == "string", flow.name
        # The block picker: the credentials parameter is the block (or empty).
        assert {"$ref": "#/definitions/OxenCredentials"} in properties["credentials"]["anyOf"]
        assert schema["definitions"]["OxenCredentials"]["block_type_slug"] == "oxen-credentials"


def test_nightly_input_is_clean_and_the_demo_keeps_its_invalid_line(emulator, api_key: str) -> None:
    from prefect_oxen.cli._sample import INVALID_ITEM_ID
    from prefect_oxen.client import OxenClient, VideoRequest
    from prefect_oxen.engine import load_batch_items

    [nightly] = [d for d in _config()["deployments"] if d["name"] == "nightly-batch"]
    assert nightly["parameters"]["items"] == "nightly_batch.jsonl"
    batch = load_batch_items(str(DEPLOYMENTS / nightly["parameters"]["items"]))
    assert not batch.problems and len(batch.items) >= 6
    # Real catalogue models only (docs.oxen.ai): the emulator's own test models do not exist on
    # the hub, so a nightly run against the real API would reject those lines.
    models = {item.request["model"] for item in batch.items}
    assert models <= {
        "kling-video-v2-6-pro-text-to-video",
        "kling-video-o3-pro-reference-to-video",
    }, models
    with OxenClient(api_key=api_key, base_url=emulator.base_url) as client:
        for item in batch.items:
            client.validate_request(VideoRequest.model_validate(item.request))  # raises if invalid
    demo = load_batch_items(str(DEPLOYMENTS / "sample_batch.jsonl"))
    assert INVALID_ITEM_ID in {item.key for item in demo.items}
    assert INVALID_ITEM_ID not in {item.key for item in batch.items}


def test_python_deployments_reference_the_block_by_id_for_the_picker(
    prefect_harness, api_key: str
) -> None:
    from prefect.utilities.callables import parameter_schema
    from prefect.utilities.schema_tools.validation import validate

    from prefect_oxen import OxenCredentials

    block_id = OxenCredentials(api_key=api_key).save("oxen", overwrite=True)
    deploy = _module("deploy")
    reference = deploy.credentials_by_id()
    assert reference == {"$ref": {"block_document_id": str(block_id)}}
    assert api_key not in repr(reference)
    schema = parameter_schema(deploy.generate_video_flow.fn).model_dump_for_openapi()
    parameters = {**deploy.ON_DEMAND["parameters"], "credentials": reference}
    assert validate(parameters, schema, raise_on_error=False, preprocess=True) == []
