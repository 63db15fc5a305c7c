"""What a new user does before opening the UI, run in a subprocess against `prefect server start`.

Saves an OxenCredentials block (the key stays on the server, never in a flow run's parameters),
and runs a small finished batch (one multi-shot item, one invalid line). Prints one JSON line:
the flow run the browser opens.
Environment: PREFECT_API_URL, OXEN_API_KEY, OXEN_BASE_URL; argv[1] is a working directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from pathlib import Path

from prefect_oxen import OxenCredentials
from prefect_oxen.client import PollPolicy
from prefect_oxen.flows import batch_flow
from tests.support import FAST

KLING = "kling-video-v2-6-pro-text-to-video"
KLING_O3 = "kling-video-o3-pro-reference-to-video"

BATCH = [
    {
        "id": "fox-in-snow",
        "model": FAST,
        "prompt": "a red fox trotting through fresh snow",
        "duration": 2,
    },
    {
        "id": "black-sand-beach",
        "model": FAST,
        "prompt": "waves on a black sand beach",
        "duration": 2,
        "aspect_ratio": "9:16",
    },
    {
        "id": "chef-two-shots",
        "model": KLING_O3,
        "multi_prompt": [
            {"prompt": "a chef cracks an egg into a hot pan", "duration": 2},
            {"prompt": "close-up of the egg sizzling", "duration": 2},
        ],
    },
    {
        "id": "lighthouse-7s-invalid",
        "model": KLING,
        "prompt": "a lighthouse for 7 seconds",
        "duration": 7,
    },
]
# The name deployments/prefect.yaml refers to, as `prefect-oxen blocks create` saves it.
CREDENTIALS_BLOCK = "oxen"


async def main(workdir: Path) -> dict[str, object]:
    credentials = OxenCredentials(
        api_key=os.environ["OXEN_API_KEY"],
        base_url=os.environ["OXEN_BASE_URL"],
        poll=PollPolicy(initial=0.05, maximum=0.25, factor=1.5, safety_interval=1.0),
    )
    await credentials.save(CREDENTIALS_BLOCK, overwrite=True)
    batch_file = workdir / "batch.jsonl"
    batch_file.write_text("".join(json.dumps(item) + "\n" for item in BATCH))
    archive = str(workdir / "archive")
    # A rejected line may end the run Failed (the item 4): the screens matter, not that.
    state = await batch_flow(
        items=str(batch_file),
        credentials=credentials,
        archive=archive,
        journal=str(workdir / "journal"),
        work_dir=str(workdir / "work"),
        return_state=True,
    )
    return {
        "flow_run_id": str(state.state_details.flow_run_id),
        "state": state.type.value,
        "cancelled_flow_run_id": await _cancelled_batch(credentials, workdir),
    }


async def _cancelled_batch(credentials: OxenCredentials, workdir: Path) -> str:
    """A batch stopped while its generations are on the API (as Ctrl-C stops one): the screen
    of a cancelled run, with its report."""
    import httpx

    control = httpx.AsyncClient(base_url=os.environ["OXEN_BASE_URL"], timeout=10)
    await control.patch("/_emulator/config", json={"latency": 60})
    items = [
        {"id": f"stopped-{i}", "model": FAST, "prompt": f"a stopped clip {i}", "duration": 2}
        for i in range(3)
    ]
    flow = batch_flow.with_options(flow_run_name="cancelled-batch")
    run = asyncio.create_task(
        flow(items=items, credentials=credentials, archive=str(workdir / "stopped"))
    )
    try:
        for _ in range(600):  # until the API holds all three (at most a minute)
            rows = (await control.get("/_emulator/generations")).json()
            rows = rows["generations"] if isinstance(rows, dict) else rows
            if sum(row["status"] in ("queued", "processing") for row in rows) == len(items):
                break
            await asyncio.sleep(0.1)
        run.cancel()  # what Ctrl-C does to the coroutine of a flow run in a terminal
        with contextlib.suppress(BaseException):
            await run
    finally:
        await control.patch("/_emulator/config", json={"latency": 0})
        await control.aclose()
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        [stopped] = [r for r in await client.read_flow_runs() if r.name == "cancelled-batch"]
    return str(stopped.id)


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(Path(sys.argv[1])))))
