"""The parent of a scale run: `sharded_batch_flow` against the server in PREFECT_API_URL.

    python bench/_scale_parent.py SPEC.json

SPEC holds the flow's parameters. The last stdout line is JSON: the final state and the report.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any


async def _main(spec: dict[str, Any]) -> dict[str, Any]:
    from prefect_oxen.flows.sharded import sharded_batch_flow

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
