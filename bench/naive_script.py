"""The script a user writes from the API docs, used as B1's baseline.

Two variants, both with `requests`, `response.json()`, a fixed 5 s poll and `response.content`:

- ``sequential`` (the docs' walkthrough in a for-loop): enqueue one job, poll it every 5 s until it
  is done, download it, next job. Its makespan is linear in the number of jobs, so B1 runs a
  subset and extrapolates (said so in the results).
- ``enqueue_all`` (the slightly wiser script): enqueue every job one after another, then poll the
  pending ones one by one in rounds 5 s apart, downloading each as it is found done.

    .venv/bin/python bench/naive_script.py BASE_URL JOBS {sequential,enqueue_all} OUT_DIR
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import requests

POLL_SECONDS = 5


def _jobs(n: int, tag: str) -> list[dict]:
    return [
        {"model": "oxen-emu-fast-video", "prompt": f"{tag} clip {i}", "duration": 2}
        for i in range(n)
    ]


def sequential(base_url: str, api_key: str, n: int, out: Path, tag: str = "naive") -> float:
    headers = {"Authorization": f"Bearer {api_key}"}
    started = time.perf_counter()
    for i, job in enumerate(_jobs(n, tag)):
        response = requests.post(f"{base_url}/api/ai/queue", json=job, headers=headers)
        generation_id = response.json()["generations"][0]["generation_id"]
        while True:
            row = requests.get(f"{base_url}/api/ai/queue/{generation_id}", headers=headers).json()
            if row["status"] == "succeeded":
                break
            if row["status"] in ("failed", "cancelled"):
                raise RuntimeError(f"job {i} {row['status']}")
            time.sleep(POLL_SECONDS)
        video = requests.get(row["result_url"]).content
        (out / f"video-{i}.mp4").write_bytes(video)
    return time.perf_counter() - started


def enqueue_all(base_url: str, api_key: str, n: int, out: Path, tag: str = "naive-all") -> float:
    headers = {"Authorization": f"Bearer {api_key}"}
    started = time.perf_counter()
    pending: dict[int, str] = {}
    for i, job in enumerate(_jobs(n, tag)):
        response = requests.post(f"{base_url}/api/ai/queue", json=job, headers=headers)
        pending[i] = response.json()["generations"][0]["generation_id"]
    while pending:
        for i, generation_id in list(pending.items()):
            row = requests.get(f"{base_url}/api/ai/queue/{generation_id}", headers=headers).json()
            if row["status"] == "succeeded":
                (out / f"video-{i}.mp4").write_bytes(requests.get(row["result_url"]).content)
                del pending[i]
            elif row["status"] in ("failed", "cancelled"):
                raise RuntimeError(f"job {i} {row['status']}")
        if pending:
            time.sleep(POLL_SECONDS)
    return time.perf_counter() - started


def main() -> None:
    base_url, jobs, variant, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], Path(sys.argv[4])
    api_key = sys.argv[5] if len(sys.argv) > 5 else "bench-key"
    out.mkdir(parents=True, exist_ok=True)
    seconds = {"sequential": sequential, "enqueue_all": enqueue_all}[variant](
        base_url, api_key, jobs, out
    )
    print(
        json.dumps(
            {
                "variant": variant,
                "jobs": jobs,
                "seconds": seconds,
                "files": len(list(out.glob("*.mp4"))),
            }
        )
    )


if __name__ == "__main__":
    main()
