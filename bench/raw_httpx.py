"""The lower bound for a client: plain async httpx, no validation, journal, verification or Prefect.

Each job, at most CONCURRENCY at a time: enqueue (``POST /api/ai/queue``), wait for its completion
event on one shared SSE stream (subscribed before the first enqueue; events are not replayed),
stream the result to a file. B5 compares prefect-oxen's per-video time with this one's.

    .venv/bin/python bench/raw_httpx.py BASE_URL JOBS CONCURRENCY OUT_DIR [--tag T]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import API_KEY, items


async def run(base_url: str, jobs: int, concurrency: int, out: Path, tag: str) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    limits = httpx.Limits(
        max_connections=concurrency + 8, max_keepalive_connections=concurrency + 8
    )
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with httpx.AsyncClient(
        base_url=base_url, headers=headers, timeout=120, limits=limits
    ) as http:
        loop = asyncio.get_running_loop()
        waiting: dict[str, asyncio.Future] = {}
        early: dict[str, dict] = {}  # events that beat their enqueue answer
        connected = asyncio.Event()

        async def listen() -> None:
            async with http.stream(
                "GET", "/api/events", timeout=httpx.Timeout(10, read=None)
            ) as stream:
                stream.raise_for_status()
                connected.set()
                event = None
                async for line in stream.aiter_lines():
                    if line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:") and event == "media_generation_completed":
                        payload = json.loads(line[5:])
                        future = waiting.get(payload["generation_id"])
                        if future is None:
                            early[payload["generation_id"]] = payload
                        elif not future.done():
                            future.set_result(payload)
                    elif line == "":
                        event = None

        listener = asyncio.create_task(listen())
        await asyncio.wait_for(connected.wait(), 30)
        gate = asyncio.Semaphore(concurrency)

        async def one(job: dict) -> int:
            async with gate:
                request = {k: v for k, v in job.items() if k != "id"}
                response = await http.post("/api/ai/queue", json=request)
                response.raise_for_status()
                generation_id = response.json()["generations"][0]["generation_id"]
                future = loop.create_future()
                waiting[generation_id] = future
                if generation_id in early:
                    future.set_result(early.pop(generation_id))
                event = await future
                if event["status"] != "succeeded":
                    raise RuntimeError(f"{generation_id} {event['status']}")
                size = 0
                with open(out / f"{job['id']}.mp4", "wb") as sink:
                    async with http.stream("GET", event["url"]) as body:
                        body.raise_for_status()
                        async for chunk in body.aiter_raw(1024 * 1024):
                            sink.write(chunk)
                            size += len(chunk)
                return size

        started = time.perf_counter()
        sizes = await asyncio.gather(*(one(job) for job in items(jobs, tag)))
        seconds = time.perf_counter() - started
        listener.cancel()
    return {"seconds": seconds, "files": len(sizes), "bytes": sum(sizes)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("base_url")
    parser.add_argument("jobs", type=int)
    parser.add_argument("concurrency", type=int)
    parser.add_argument("out", type=Path)
    parser.add_argument("--tag", default="raw")
    args = parser.parse_args()
    print(
        json.dumps(asyncio.run(run(args.base_url, args.jobs, args.concurrency, args.out, args.tag)))
    )


if __name__ == "__main__":
    main()
