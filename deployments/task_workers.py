"""Spread generate calls over machines with Prefect task workers (no work pool, no flow needed).

On each machine that should generate (same Prefect server, same result storage, OXEN_API_KEY set):

    python task_workers.py                      # prefect.task_worker.serve(generate_video, limit=4)
    prefect task serve task_workers.py:generate_video --limit 4   # the same, through the CLI

Then anywhere, `fan_out(requests)` submits every request with `generate_video.delay(...)` and
waits for the results; each free worker slot takes the next request. The API key stays on the
workers: the submitted credentials carry only the base URL, and each worker reads its own
OXEN_API_KEY when the block has none. Task results must be readable by the submitter, so on
several machines point PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK at shared storage (an S3 bucket).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from prefect.task_worker import serve

from prefect_oxen.blocks import OxenCredentials
from prefect_oxen.tasks import GenerationResult, generate_video

__all__ = ["fan_out", "generate_video", "main"]


def submit_credentials(base_url: str | None = None) -> OxenCredentials:
    """Credentials to submit with each call: where the API is, but no key (workers hold it)."""
    return OxenCredentials(
        api_key=None, base_url=base_url or os.environ.get("OXEN_BASE_URL") or "https://hub.oxen.ai"
    )


def fan_out(
    requests: list[dict[str, Any]], *, base_url: str | None = None, timeout: float = 3600
) -> list[GenerationResult]:
    """Submit every request to the task workers and wait for all of them (in request order).

    A request may carry an ``id``: it becomes the generation's key (journal and cache identity).
    """
    credentials = submit_credentials(base_url)
    futures = []
    for request in requests:
        body = dict(request)
        key = body.pop("id", None)
        futures.append(generate_video.delay(body, credentials, key=key))
    for future in futures:
        future.wait(timeout)
    return [future.result() for future in futures]


def main(argv: list[str]) -> None:
    """``python task_workers.py [LIMIT]`` serves generate_video; ``fan-out FILE.jsonl`` submits."""
    if argv[:1] == ["fan-out"]:
        with open(argv[1], encoding="utf-8") as handle:
            requests = [json.loads(line) for line in handle if line.strip()]
        for result in fan_out(requests):
            print(
                json.dumps(
                    {"key": result.key, "generation_id": result.generation_id, "mode": result.mode}
                )
            )
        return
    limit = int(argv[0]) if argv else int(os.environ.get("OXEN_TASK_WORKER_LIMIT", "4"))
    serve(generate_video, limit=limit)


if __name__ == "__main__":
    main(sys.argv[1:])
