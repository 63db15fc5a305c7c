"""The parent of a scale run: `sharded_batch_flow` against the server in PREFECT_API_URL.

    python bench/_scale_parent.py SPEC.json

SPEC holds the flow's parameters. The last stdout line is JSON: the final state and the report.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any


async def _deployment_exists(name: str, timeout: float = 300.0) -> None:
    """Wait until the deployment the shards run as exists (the driver makes it meanwhile)."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    deadline = time.monotonic() + timeout
    async with get_client() as client:
        while True:
            try:
                await client.read_deployment_by_name(name)
                return
            except ObjectNotFound:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)


async def _main(spec: dict[str, Any]) -> dict[str, Any]:
    from prefect_oxen.flows.sharded import sharded_batch_flow

    await _deployment_exists(spec["deployment"])

    state = await sharded_batch_flow(**spec, return_state=True)
    report = await state.result(raise_on_failure=False)  # type: ignore[misc]
    return {
        "state": state.type.value,
        "message": state.message,
        "report": report.model_dump(mode="json") if hasattr(report, "model_dump") else None,
    }


if __name__ == "__main__":
    outcome = asyncio.run(_main(json.loads(Path(sys.argv[1]).read_text())))
    print(json.dumps(outcome), flush=True)
    sys.exit(0 if outcome["state"] == "COMPLETED" else 1)
