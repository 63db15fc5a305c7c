"""A dead run's slots come back: how long the global limit stays full after a SIGKILL.

`prefect server start` (SQLite, its own home), the global concurrency limit ``oxen-generations``
with 8 slots, and a child process that takes all 8 the way a batch does (`GenerationSlots`, which
leases them from Prefect and renews the leases while alive). The child is SIGKILLed; the driver
polls the limit's ``active_slots`` every half second until the slots are free again. Target:
within 90 s (the lease lapses after `LEASE_SECONDS`, then Prefect's repossessor frees it).

    .venv/bin/python bench/lease_recovery.py
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import write_result
from b1_shared_limit import prefect_server

LIMIT = "oxen-generations"
SLOTS = 8
TARGET_SECONDS = 90.0

CHILD = textwrap.dedent(
    f"""
    import asyncio
    from prefect_oxen.engine import GenerationSlots

    async def main():
        async with GenerationSlots({SLOTS}, {LIMIT!r}) as slots:
            for _ in range({SLOTS}):
                await slots.acquire()
            print("held", flush=True)
            await asyncio.sleep(3600)

    asyncio.run(main())
    """
)


def _active(api: str) -> int:
    response = httpx.get(f"{api}/v2/concurrency_limits/{LIMIT}", timeout=10)
    response.raise_for_status()
    return int(response.json()["active_slots"])


def run() -> dict[str, Any]:
    """Fill the limit from a child, kill it, time the slots' return."""
    from prefect_oxen.engine._admission import LEASE_SECONDS

    home = Path(tempfile.mkdtemp(prefix="bench-lease-"))
    with prefect_server(home) as api:
        httpx.post(
            f"{api}/v2/concurrency_limits/", json={"name": LIMIT, "limit": SLOTS}, timeout=10
        ).raise_for_status()
        env = {**os.environ, "PREFECT_API_URL": api, "PREFECT_HOME": str(home / "child")}
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD], env=env, stdout=subprocess.PIPE, text=True
        )
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        held = _active(api)
        child.send_signal(signal.SIGKILL)
        child.wait()
        killed = time.monotonic()
        while _active(api) > 0 and time.monotonic() - killed < 600:
            time.sleep(0.5)
        back = round(time.monotonic() - killed, 1)
    return {
        "benchmark": "lease_recovery",
        "slots": SLOTS,
        "held_at_kill": held,
        "lease_seconds": LEASE_SECONDS,
        "slots_back_seconds": back,
        "target_seconds": TARGET_SECONDS,
        "met": back <= TARGET_SECONDS,
    }


def main() -> dict[str, Any]:
    """Run, print and record the figure."""
    result = run()
    print(
        f"lease recovery: {result['held_at_kill']} slots held by a SIGKILLed run were free again "
        f"after {result['slots_back_seconds']} s (lease {result['lease_seconds']:.0f} s; target "
        f"<= {TARGET_SECONDS:.0f} s)"
    )
    write_result("lease_recovery", result)
    return result


if __name__ == "__main__":
    main()
