"""What users see in both Prefect UIs after a batch: the run page, the report table, the contact
sheet, and a deployment's run form.

Each screen is saved under tests/ui/output/ (git-ignored); the README's copies are in
docs/screenshots/ (refreshed by `make screenshots`, i.e. PREFECT_OXEN_UPDATE_SCREENSHOTS=1).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from prefect_oxen import OxenCredentials

from ..conftest import API_KEY
from .conftest import ON_DEMAND_DEPLOYMENT, UIServer
from .scenario import CREDENTIALS_BLOCK

# The first test may install Chromium with apt-get on a fresh machine: more than the 300 s default.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
# The V1 (legacy) UI is served at the root, the default V2 UI under /v2.
UIS = {"v2": "/v2", "v1": ""}
LOAD_TIMEOUT_MS = 30_000
# The scenario's batch: three valid items (one multi-shot) and one invalid line.
ARCHIVED_KEYS = ("fox-in-snow", "black-sand-beach", "chef-two-shots")


def _open(browser, server: UIServer, ui: str, path: str):
    page = browser.new_page()
    page.set_default_timeout(LOAD_TIMEOUT_MS)
    page.goto(f"{server.url}{UIS[ui]}{path}", wait_until="domcontentloaded")
    return page


def _save(page, screenshots: Path, name: str, *, readme_name: str | None = None) -> None:
    """Save the screen for people to look at; with PREFECT_OXEN_UPDATE_SCREENSHOTS=1 also the
    README's copy (so a test run does not dirty the tree)."""
    # Whatever a screen holds may end up in a screenshot: the API key never may.
    assert API_KEY not in page.content()
    page.screenshot(path=str(screenshots / f"{name}.png"), full_page=True)
    if readme_name and os.environ.get("PREFECT_OXEN_UPDATE_SCREENSHOTS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(screenshots / f"{name}.png", DOCS / f"{readme_name}.png")


def _artifacts(server: UIServer) -> list[dict[str, Any]]:
    body = {"artifacts": {"flow_run_id": {"any_": [server.flow_run_id]}}}
    return server.api.post("/artifacts/filter", json=body).raise_for_status().json()


def _the_artifact(server: UIServer, kind: str, wanted) -> dict[str, Any]:
    artifacts = _artifacts(server)
    found = [artifact for artifact in artifacts if wanted(artifact)]
    if not found:
        flow_run = server.api.get(f"/flow_runs/{server.flow_run_id}").raise_for_status().json()
        state = flow_run["state"]
        raise AssertionError(
            f"no {kind} artifact among {[(a['key'], a['type']) for a in artifacts]}; the batch "
            f"ended {state['type']}: {(state.get('message') or '')[:500]}"
        )
    return found[0]


def _report_table(server: UIServer) -> dict[str, Any]:
    return _the_artifact(server, "report table", lambda a: a["type"] == "table")


def _contact_sheet(server: UIServer) -> dict[str, Any]:
    return _the_artifact(
        server,
        "contact sheet",
        lambda a: a["type"] == "markdown" and "data:image" in str(a["data"]),
    )


def _wait_until_still(page, selector: str, *, timeout: float = 15.0) -> None:
    """Wait until what `selector` shows stops changing (the run graph animates into place)."""
    target = page.locator(selector).first
    target.wait_for()
    deadline = time.monotonic() + timeout
    previous = b""
    while time.monotonic() < deadline:
        current = target.screenshot(animations="disabled")
        if current == previous:
            return
        previous = current
        page.wait_for_timeout(250)  # the next frame to compare with, not a wait for the app
    raise AssertionError(f"{selector} still changing after {timeout:.0f} s")


def _visible_text(page) -> str:
    return page.evaluate("() => document.body.innerText")


@pytest.mark.parametrize("ui", ["v2", "v1"])
def test_flow_run_page_shows_the_finished_batch(
    browser, ui_server: UIServer, screenshots, ui
) -> None:
    flow_run = ui_server.api.get(f"/flow_runs/{ui_server.flow_run_id}").raise_for_status().json()
    page = _open(browser, ui_server, ui, f"/runs/flow-run/{ui_server.flow_run_id}")
    page.get_by_text(flow_run["name"]).first.wait_for()
    page.wait_for_load_state("networkidle")
    _wait_until_still(page, "canvas")
    _save(page, screenshots, f"{ui}-flow-run", readme_name="flow-run" if ui == "v2" else None)
    assert flow_run["name"] in _visible_text(page)
    page.close()


def test_a_cancelled_batch_shows_what_it_cancelled(
    browser, ui_server: UIServer, screenshots
) -> None:
    """Issue 21.1: the cancelled run's page carries its report, with every item cancelled."""
    run_id = ui_server.cancelled_flow_run_id
    flow_run = ui_server.api.get(f"/flow_runs/{run_id}").raise_for_status().json()
    artifacts = (
        ui_server.api.post(
            "/artifacts/filter", json={"artifacts": {"flow_run_id": {"any_": [run_id]}}}
        )
        .raise_for_status()
        .json()
    )
    [report] = [a for a in artifacts if a["key"] == "oxen-batch-report"]
    assert {row["status"] for row in report["data"]} == {"cancelled"}
    assert flow_run["state_type"] == "CANCELLED"
    page = _open(browser, ui_server, "v2", f"/runs/flow-run/{run_id}?tab=Artifacts")
    page.get_by_text(flow_run["name"]).first.wait_for()
    page.wait_for_load_state("networkidle")
    page.get_by_text("3 cancelled").first.wait_for()
    _save(page, screenshots, "v2-cancelled-run", readme_name="cancelled-run")
    assert "3 cancelled" in _visible_text(page)
    page.close()


@pytest.mark.parametrize("ui", ["v2", "v1"])
def test_report_table_renders_its_rows(browser, ui_server: UIServer, screenshots, ui) -> None:
    table = _report_table(ui_server)
    page = _open(browser, ui_server, ui, f"/artifacts/artifact/{table['id']}")
    rows = page.locator("table tbody tr")
    rows.first.wait_for()
    page.wait_for_load_state("networkidle")
    _save(
        page, screenshots, f"{ui}-report-table", readme_name="report-table" if ui == "v2" else None
    )
    text = "\n".join(rows.all_inner_texts())
    assert rows.count() >= len(ARCHIVED_KEYS) + 1, text  # every item, the rejected one too
    for key in ARCHIVED_KEYS:
        assert key in text
    page.close()


@pytest.mark.parametrize("ui", ["v2", "v1"])
def test_contact_sheet_shows_images_not_markdown(
    browser, ui_server: UIServer, screenshots, ui
) -> None:
    sheet = _contact_sheet(ui_server)
    page = _open(browser, ui_server, ui, f"/artifacts/artifact/{sheet['id']}")
    # The sheet is loaded once the artifact's key or any of its images shows.
    page.locator("img[src^='data:image'], :text('![')").first.wait_for()
    page.wait_for_function(
        "() => [...document.querySelectorAll(\"img[src^='data:image']\")].every(i => i.complete)"
    )
    _save(
        page,
        screenshots,
        f"{ui}-contact-sheet",
        readme_name="contact-sheet" if ui == "v2" else None,
    )
    widths = page.evaluate(
        "() => [...document.querySelectorAll(\"img[src^='data:image']\")].map(i => i.naturalWidth)"
    )
    text = _visible_text(page)
    raw = text.find("![")
    assert raw == -1, f"raw markdown on the page: {text[raw : raw + 120]}..."
    assert len(widths) >= len(ARCHIVED_KEYS), f"{len(widths)} poster images rendered"
    assert all(width > 0 for width in widths), widths
    # A link that cannot be followed from a browser (file://, stripped by V2) is worse than none.
    dead = page.evaluate(
        "() => [...document.querySelectorAll('a')].map(a => a.getAttribute('href') || '')"
        ".filter(h => h.startsWith('file:'))"
    )
    assert dead == []
    page.close()


@pytest.mark.parametrize("ui", ["v2", "v1"])
def test_run_form_describes_every_parameter(
    browser, ui_server: UIServer, deployments: dict[str, str], screenshots, ui
) -> None:
    deployment_id = deployments[ON_DEMAND_DEPLOYMENT]
    deployment = ui_server.api.get(f"/deployments/{deployment_id}").raise_for_status().json()
    properties = deployment["parameter_openapi_schema"]["properties"]
    page = _open(browser, ui_server, ui, f"/deployments/deployment/{deployment_id}/run")
    page.get_by_text("request", exact=False).first.wait_for()
    page.wait_for_load_state("networkidle")
    _save(page, screenshots, f"{ui}-run-form", readme_name="run-form" if ui == "v2" else None)
    undescribed = sorted(name for name, spec in properties.items() if not spec.get("description"))
    assert undescribed == [], f"parameters without a description: {undescribed}"
    text = " ".join(_visible_text(page).split())
    missing = {
        name: spec["description"]
        for name, spec in properties.items()
        if " ".join(spec["description"].split())[:40] not in text
    }
    assert missing == {}, "descriptions not shown in the run form"
    page.close()


@pytest.mark.parametrize("ui", ["v2", "v1"])
def test_run_form_opens_with_the_deployments_values(
    browser, ui_server: UIServer, deployments: dict[str, str], screenshots, ui
) -> None:
    """A run form submitted as it opens must bind: `request` shows the deployment's example
    (not an empty box) and the credentials picker its saved block (not "Select a block...")."""
    deployment_id = deployments[ON_DEMAND_DEPLOYMENT]
    deployment = ui_server.api.get(f"/deployments/{deployment_id}").raise_for_status().json()
    page = _open(browser, ui_server, ui, f"/deployments/deployment/{deployment_id}/run")
    request = deployment["parameters"].get("request")
    assert request, "the deployment has no request: its run form submits runs that cannot bind"
    # The JSON editor fills in after the form: wait for the example rather than for the network.
    page.get_by_text(request["prompt"]).first.wait_for()
    page.wait_for_load_state("networkidle")
    _save(page, screenshots, f"{ui}-run-form-values")
    # The block picker sits next to the block type's logo, before the "Add" button, in both UIs.
    picker = page.evaluate(
        """logo => {
            let node = document.querySelector(`img[src="${logo}"]`);
            while (node && !node.innerText?.includes('Add')) node = node.parentElement;
            return node ? node.innerText : null;
        }""",
        str(OxenCredentials._logo_url),  # an HttpUrl; the page matches its text
    )
    assert picker is not None, "no block picker for the credentials parameter"
    assert CREDENTIALS_BLOCK in picker.split(), (
        f"the credentials picker ignores the deployment's block: it shows {picker!r}"
    )
    page.close()
