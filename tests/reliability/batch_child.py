"""One batch in a child process, so a test can SIGKILL it at a chosen moment.

Usage: python batch_child.py BASE_URL API_KEY ARCHIVE_DIR ITEMS_JSON CONCURRENCY
"""

import asyncio
import json
import sys

from prefect_oxen import OxenCredentials
from prefect_oxen.client import PollPolicy, RetryPolicy
from prefect_oxen.flows import batch_flow


def main() -> None:
    base_url, api_key, archive, items, concurrency = sys.argv[1:6]
    credentials = OxenCredentials(
        api_key=api_key,
        base_url=base_url,
        retry=RetryPolicy.immediate(),
        poll=PollPolicy(initial=0.05, maximum=0.25, safety_interval=1.0),
    )
    asyncio.run(
        batch_flow(
            json.loads(items),
            credentials,
            archive=archive,
            concurrency=int(concurrency),
            mode="queue",
            concurrency_limit=None,
            return_state=True,
        )
    )


if __name__ == "__main__":
    main()
