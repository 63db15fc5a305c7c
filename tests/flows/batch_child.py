"""Runs one batch in a child process so a test can kill it with SIGKILL mid-way.

Usage: python batch_child.py BASE_URL API_KEY ARCHIVE_DIR ITEMS_JSON
"""

import asyncio
import json
import sys

from prefect_oxen import OxenCredentials
from prefect_oxen.client import PollPolicy, RetryPolicy
from prefect_oxen.flows import batch_flow


def main() -> None:
    base_url, api_key, archive, items = (
        sys.argv[1],
        sys.argv[2],
        sys.argv[3],
        json.loads(sys.argv[4]),
    )
    credentials = OxenCredentials(
        api_key=api_key,
        base_url=base_url,
        retry=RetryPolicy.immediate(),
        poll=PollPolicy(initial=0.05, maximum=0.25, safety_interval=1.0),
    )
    asyncio.run(
        batch_flow(
            items,
            credentials,
            archive=archive,
            concurrency=4,
            concurrency_limit=None,
            return_state=True,
        )
    )


if __name__ == "__main__":
    main()
