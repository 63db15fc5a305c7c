"""`OxenCredentials` behaves like every Prefect collection's credentials block."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import entry_points
from urllib.parse import urlsplit

import pytest
from prefect.blocks.core import Block
from prefect.settings import PREFECT_API_URL
from prefect.testing.standard_test_suites import BlockStandardTestSuite

from prefect_oxen import OxenCredentials
from prefect_oxen.client import AsyncOxenClient, OxenClient, VideoRequest

from ..conftest import API_KEY


class TestOxenCredentialsStandards(BlockStandardTestSuite):
    @pytest.fixture
    def block(self) -> type[Block]:
        return OxenCredentials

    def test_has_a_valid_image(self, block: type[Block]) -> None:
        # Prefect's version downloads the logo, which CI cannot do; check what can be checked.
        parts = urlsplit(str(block._logo_url))
        assert parts.scheme == "https" and parts.netloc and parts.path


def test_key_is_secret_in_repr_and_saved_document() -> None:
    block = OxenCredentials(api_key=API_KEY, base_url="http://127.0.0.1:1")
    assert API_KEY not in repr(block) and API_KEY not in str(block)
    block.save("secret-check", overwrite=True)
    loaded = OxenCredentials.load("secret-check")
    assert API_KEY not in repr(loaded)
    assert loaded.api_key.get_secret_value() == API_KEY


def test_saved_block_builds_working_clients(emulator) -> None:
    OxenCredentials(
        api_key=API_KEY, base_url=emulator.base_url, target_namespace="media-team"
    ).save("emulator", overwrite=True)
    block = OxenCredentials.load("emulator")
    with block.get_client() as oxen:
        assert isinstance(oxen, OxenClient)
        assert oxen.list_models()
    assert isinstance(block.get_async_client(), AsyncOxenClient)
    request = block.apply_defaults(VideoRequest(model="m", prompt="p"))
    assert request.target_namespace == "media-team"
    assert (
        block.apply_defaults(
            VideoRequest(model="m", prompt="p", target_namespace="other")
        ).target_namespace
        == "other"
    )


def test_environment_fills_unset_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OXEN_API_KEY", API_KEY)
    monkeypatch.setenv("OXEN_BASE_URL", "http://127.0.0.1:8765")
    block = OxenCredentials()
    assert block.api_key.get_secret_value() == API_KEY
    assert block.base_url == "http://127.0.0.1:8765"
    monkeypatch.delenv("OXEN_API_KEY")
    monkeypatch.delenv("OXEN_BASE_URL")
    assert OxenCredentials().base_url == "https://hub.oxen.ai"


def test_collection_entry_point_exposes_the_block() -> None:
    [entry] = [e for e in entry_points(group="prefect.collections") if e.name == "prefect_oxen"]
    assert entry.load().OxenCredentials is OxenCredentials


def test_prefect_block_register_finds_the_block() -> None:
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
    result = subprocess.run(
        [sys.executable, "-m", "prefect", "block", "register", "-m", "prefect_oxen"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "Oxen Credentials" in result.stdout


def test_block_form_groups_are_titled_like_the_block_page() -> None:
    properties = OxenCredentials.model_json_schema()["properties"]
    assert [properties[name]["title"] for name in ("timeouts", "retry", "poll")] == [
        "Timeouts",
        "Retry",
        "Poll",
    ]


def test_a_flow_parameter_of_this_block_accepts_a_saved_block_reference() -> None:
    """Both server checks of a deployment's ``$ref``: when the deployment is saved (plain JSON
    schema, "required" ignored) and when a run is created (a reference must match the reference
    branch only; with every field optional it matched the block's fields too, and enforcement
    had to be turned off)."""
    from prefect._internal.schemas.validators import validate_values_conform_to_schema
    from prefect.utilities.callables import parameter_schema
    from prefect.utilities.schema_tools.validation import validate

    def flow_fn(credentials: OxenCredentials | None = None) -> None: ...

    schema = parameter_schema(flow_fn).model_dump_for_openapi()
    for reference in (
        {"block_document_slug": "oxen-credentials/oxen"},
        {"block_document_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6"},
    ):
        parameters = {"credentials": {"$ref": reference}}
        validate_values_conform_to_schema(
            parameters, schema, ignore_required=True
        )  # deployment saved
        assert (
            validate(parameters, schema, raise_on_error=False, preprocess=True) == []
        )  # run created
    assert validate({"credentials": {"base_url": 3}}, schema, raise_on_error=False, preprocess=True)


def test_description_in_the_ui_reads_as_prose() -> None:
    """The UI shows the docstring's description under the block picker as plain text: no
    markdown backticks, no method names; the Example section is shown apart from it."""
    description = OxenCredentials.get_description()
    assert description and description.startswith("Credentials and connection settings")
    assert "`" not in description and "()" not in description, description
    assert "Example" not in description
    assert 'OxenCredentials.load("BLOCK_NAME")' in OxenCredentials.get_code_example()
