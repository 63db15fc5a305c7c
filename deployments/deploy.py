"""The deployments of prefect.yaml, in Python, for people who prefer code to YAML.

    python deploy.py deploy    # register both deployments on the oxen-process work pool
    python deploy.py serve     # or: no work pool, no worker, this process runs them

`deploy` needs `prefect server start` (or Cloud), the pool (`prefect work-pool create
oxen-process --type process`) and a worker (`prefect worker start --pool oxen-process`). `serve`
needs only the server: it polls for runs itself and fires the schedule, until Ctrl-C.
"""

from __future__ import annotations

import sys
from pathlib import Path

from prefect import serve
from prefect.schedules import Cron

from prefect_oxen.flows import batch_flow, generate_video_flow

HERE = Path(__file__).resolve().parent
POOL = "oxen-process"
# A reference to the saved OxenCredentials block "oxen", resolved when a run starts, so the key
# is never copied into deployment parameters (create it with `prefect-oxen blocks create`).
CREDENTIALS = {"$ref": {"block_document_slug": "oxen-credentials/oxen"}}

# What the on-demand run form opens with: edit the prompt and submit.
EXAMPLE_REQUEST = {
    "model": "kling-video-v2-6-pro-text-to-video",
    "prompt": "a red fox trotting through fresh snow at dawn",
    "duration": 5,
}

NIGHTLY = {
    "name": "nightly-batch",
    # The same words as prefect.yaml's: why a re-run skips everything, why it may be paused.
    "description": (
        "Generate, verify and archive every request of the nightly batch file (`items`), within "
        "`budget`. Each video is archived under its line's `id`, and a run skips every id "
        "already in the archive: a second run of an unchanged file pays for nothing and "
        "archives nothing. Point `items` at tonight's file, or give new lines new ids. If the "
        "deployment is paused, a run stopped at its budget: see the "
        "`oxen-pause-deployment-on-budget-stop` automation, raise `budget`, then resume it."
    ),
    "tags": ["oxen", "nightly"],
    "schedule": Cron("30 2 * * *", timezone="Europe/London"),
    "parameters": {
        "items": str(HERE / "nightly_batch.jsonl"),  # or "s3://my-bucket/prompts/tonight.jsonl"
        "credentials": CREDENTIALS,
        "archive": str(HERE / "oxen-archive"),  # or "s3://bucket/prefix", or archive_block=...
        "concurrency": 8,
        "budget": 25.0,
    },
}
ON_DEMAND = {
    "name": "generate-video",
    "description": "Generate, verify and archive one video on demand.",
    "tags": ["oxen", "on-demand"],
    "parameters": {
        "request": EXAMPLE_REQUEST,
        "credentials": CREDENTIALS,
        "archive": str(HERE / "oxen-archive"),
    },
}


def credentials_by_id(name: str = "oxen") -> dict[str, dict[str, str]]:
    """The saved OxenCredentials block `name` referenced by id, which the run form's block picker
    shows as selected (it shows "Select a block..." for a slug reference, though runs use it).

    Only the id is read here, never the key.
    """
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            document = client.read_block_document_by_name(
                name=name, block_type_slug="oxen-credentials", include_secrets=False
            )
        except ObjectNotFound:
            raise ValueError(
                f"No OxenCredentials block named {name!r} on this server: save it first with "
                f"`prefect-oxen blocks create --name {name}`."
            ) from None
    return {"$ref": {"block_document_id": str(document.id)}}


def credentials_step(name: str = "oxen") -> dict[str, dict[str, dict[str, str]]]:
    """A `prefect deploy` build step (prefect.yaml): ``{"reference": <the block by id>}``.

    In prefect.yaml, `prefect deploy` turns a ``{"$ref": {"block_document_id": ...}}`` or a
    ``{{ prefect.blocks.oxen-credentials.oxen }}`` parameter into a copy of the block's fields
    (the key included) before it saves the deployment; a build step's output is put in place
    after that, so ``credentials: "{{ oxen-block.reference }}"`` stays a reference by id.
    """
    return {"reference": credentials_by_id(name)}


def _with_block_ids(spec: dict) -> dict:
    return {**spec, "parameters": {**spec["parameters"], "credentials": credentials_by_id()}}


def deploy() -> None:
    """Both deployments on the process work pool, loading the flows from this directory."""
    for flow, spec in ((batch_flow, NIGHTLY), (generate_video_flow, ON_DEMAND)):
        source = flow.from_source(source=str(HERE), entrypoint=f"flows.py:{flow.fn.__name__}")
        source.deploy(work_pool_name=POOL, enforce_parameter_schema=True, **_with_block_ids(spec))


def serve_here() -> None:
    """Both deployments served by this process (schedules fire while it runs)."""
    serve(
        batch_flow.to_deployment(enforce_parameter_schema=True, **_with_block_ids(NIGHTLY)),
        generate_video_flow.to_deployment(
            enforce_parameter_schema=True, **_with_block_ids(ON_DEMAND)
        ),
        limit=4,
    )


if __name__ == "__main__":
    {"deploy": deploy, "serve": serve_here}[sys.argv[1] if len(sys.argv) > 1 else "deploy"]()
